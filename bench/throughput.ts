/**
 * `npm run bench`: M action messages through the real broker, answered by
 * (a) the floor consumer, (b) `cafkit run` with the Echo handler and
 * activities off, and (c) the same with signed activities in a JSON Lines
 * file and SQLite, and (d) the same with every alert channel on (syslog over
 * TCP to a real rsyslog, email, webhook, Slack, Kafka, TheHive, `alert_all`),
 * in the same run. Prints replies/s, latency p50/p99, peak RSS, CPU per
 * message, and the ratios b/a, c/b and d/b. The channels' servers run in
 * their own process (bench/alert-servers.ts) so the producer's CPU stays its own.
 * Env: BENCH_MESSAGES (default 10000), BENCH_CONCURRENCY (default 25), BENCH_ROUNDS (default 3, after an uncounted warm-up).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { once } from 'node:events';
import path from 'node:path';
import os from 'node:os';
import { startPlatform, type Platform } from '../test/support/stack.js';
import { startRsyslog } from '../test/support/rsyslog.js';
import { cert } from '../test/support/certs.js';
import { BENCH_SECRETS } from './alert-secrets.js';
import { stringify as toYaml } from 'yaml';
import { createInterface } from 'node:readline';
import { StompTransport } from '../lib/broker/stomp-tls.js';
import { PACKAGE_ROOT } from '../lib/cli/dev-state.js';

const M = Number(process.env['BENCH_MESSAGES'] ?? 10000);
const CONCURRENCY = Number(process.env['BENCH_CONCURRENCY'] ?? 25);
const ROUNDS = Number(process.env['BENCH_ROUNDS'] ?? 3);

interface Result {
  name: string;
  messages: number;
  seconds: number;
  perSecond: number;
  p50ms: number;
  p99ms: number;
  peakRssMb: number;
  /** CPU time (user + system) the consumer process spent per message, in microseconds. */
  cpuUsPerMessage: number;
  /** The same for the broker's JVM and for this (producing) process: with 2 cores, together they show whether the machine was saturated. */
  brokerCpuUsPerMessage: number;
  benchCpuUsPerMessage: number;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

/** User + system CPU time of a process so far, in ms (from /proc, in clock ticks of 10 ms). */
function median(values: number[]): number {
  const sorted = [...values].sort((x, y) => x - y);
  return sorted[Math.floor(sorted.length / 2)]!;
}

function cpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

function peakRss(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0);
  return Math.round(kb / 1024);
}

async function waitForLine(child: ChildProcess, pattern: RegExp): Promise<void> {
  let seen = '';
  await new Promise<void>((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      seen += chunk.toString();
      if (pattern.test(seen)) resolve();
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code) => reject(new Error(`consumer exited (${code}) before it was ready:\n${seen}`)));
  });
}

async function measure(platform: Platform, name: string, consumer: ChildProcess, actionId: number, queue: string): Promise<Result> {
  await waitForLine(consumer, /processing/);
  const b = platform.broker;
  const link = new StompTransport({ url: b.url, login: b.platform.user, passcode: b.platform.password, tls: { ca: readFileSync(b.ca, 'utf8') } });
  await link.connect();
  const replyQueue = `acks.${b.orgId}.bench`;
  const sentAt = new Map<string, number>();
  const latencies: number[] = [];
  let resolveAll!: () => void;
  const all = new Promise<void>((resolve) => (resolveAll = resolve));
  const sub = link.subscribe({ kind: 'queue', name: replyQueue }, { prefetch: 1000, confirm: true }, (reply) => {
    void reply.ack();
    const id = reply.headers['correlation-id']!;
    const started = sentAt.get(id);
    if (started === undefined) return;
    sentAt.delete(id);
    latencies.push(performance.now() - started);
    if (latencies.length === M) resolveAll();
  });
  await sub.ready;
  const body = JSON.stringify({ action_id: actionId, type_id: 0, incident: { id: 2095, name: 'bench', severity_code: 4, vers: 1 }, properties: { n: 1 }, type_info: {}, user: { id: 1, email: 'a@b.c' } });
  const brokerPid = platform.broker.pid()!;
  const cpu0 = cpuMs(consumer.pid!);
  const broker0 = cpuMs(brokerPid);
  const own0 = process.cpuUsage();
  const t0 = performance.now();
  for (let i = 0; i < M; i++) {
    const id = `${name}-${i}`;
    sentAt.set(id, performance.now());
    // Confirm every 100th send so the producer cannot run away from the broker.
    const send = link.send(`/queue/${queue}`, body, { headers: { 'correlation-id': id, 'reply-to': `/queue/${replyQueue}`, Co3ContextToken: 'bench' }, confirm: i % 100 === 99, text: true });
    if (i % 100 === 99) await send;
  }
  await all;
  const seconds = (performance.now() - t0) / 1000;
  const rss = peakRss(consumer.pid!);
  const cpuUsPerMessage = ((cpuMs(consumer.pid!) - cpu0) * 1000) / M;
  const brokerCpuUsPerMessage = ((cpuMs(brokerPid) - broker0) * 1000) / M;
  const own = process.cpuUsage(own0);
  const benchCpuUsPerMessage = (own.user + own.system) / M;
  consumer.kill('SIGTERM');
  await once(consumer, 'exit');
  await sub.unsubscribe();
  await link.close();
  latencies.sort((x, y) => x - y);
  return { name, messages: M, seconds, perSecond: M / seconds, p50ms: percentile(latencies, 50), p99ms: percentile(latencies, 99), peakRssMb: rss, cpuUsPerMessage, brokerCpuUsPerMessage, benchCpuUsPerMessage };
}

interface AlertServers {
  pid: number;
  ready: { webhook: string; slack: string; thehive: string; smtpPort: number; kafka: string };
  counts(): Promise<Record<string, number>>;
  stop(): Promise<void>;
}

async function startAlertServers(): Promise<AlertServers> {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(PACKAGE_ROOT, 'bench', 'alert-servers.ts')], { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout! });
  const waiting: Array<(value: Record<string, unknown>) => void> = [];
  lines.on('line', (line) => {
    try {
      waiting.shift()?.(JSON.parse(line) as Record<string, unknown>);
    } catch {
      // not one of ours
    }
  });
  const next = () => new Promise<Record<string, unknown>>((resolve) => waiting.push(resolve));
  const ready = (await Promise.race([next(), once(child, 'exit').then(() => { throw new Error('bench/alert-servers.ts exited before it was ready'); })]))['ready'] as AlertServers['ready'];
  return {
    pid: child.pid!,
    ready,
    async counts() {
      const answer = next();
      child.stdin!.write('counts\n');
      return (await answer)['counts'] as Record<string, number>;
    },
    async stop() {
      child.kill('SIGTERM');
      await once(child, 'exit');
    },
  };
}

/** The config file of the all-channels mode: every channel on (or only `only`), `alert_all`. */
function alertingConfig(servers: AlertServers, syslogPort: number, only?: string): string {
  const { ready } = servers;
  const ca = cert('ca.pem');
  const channels: Record<string, unknown> = {
    syslog: { enable: true, remote: true, protocol: 'tcp', host: '127.0.0.1', port: syslogPort },
    email: { enable: true, host: '127.0.0.1', port: ready.smtpPort, user: BENCH_SECRETS.smtpUser, password: BENCH_SECRETS.smtpPassword, from: 'cafkit@example.com', to: ['soc@example.com'], batch_window_ms: 1000, batch_max: 200, tls: { ca } },
    http: { enable: true, url: ready.webhook, use_body: true, tls: { ca } },
    slack: { enable: true, oauth_token: BENCH_SECRETS.slackToken, url: ready.slack, channel_id: 'C0BENCH', tls: { ca } },
    kafka: { enable: true, brokers: [ready.kafka], topic: 'cafkit-bench', create_topic: true, partitions: 3 },
    thehive: { enable: true, url: ready.thehive, api_key: BENCH_SECRETS.hiveKey, tls: { ca } },
  };
  if (only) for (const name of Object.keys(channels)) if (name !== only) delete channels[name];
  return toYaml({ alerting: { alert_all: true, ...channels } });
}

/** CPU (ms) of the channels' servers: their process and rsyslog. */
function serversCpuMs(servers: AlertServers, rsyslogPid: number | undefined): number {
  return cpuMs(servers.pid) + (rsyslogPid ? cpuMs(rsyslogPid) : 0);
}

async function main(): Promise<void> {
  const platform = await startPlatform();
  const home = mkdtempSync(path.join(os.tmpdir(), 'cafkit-bench-'));
  const rsyslog = await startRsyslog();
  const servers = await startAlertServers();
  const alertConfig = path.join(home, 'alerting.yaml');
  writeFileSync(alertConfig, alertingConfig(servers, rsyslog.tcpPort));
  try {
    const queue = `actions.${platform.broker.orgId}.incident_ops`;
    const echoId = platform.emulator.store.action('Echo').id;
    const b = platform.broker;
    const profile = [...(process.env['BENCH_PROFILE'] ? ['--cpu-prof', `--cpu-prof-dir=${path.join(PACKAGE_ROOT, 'bench', 'results', 'profiles')}`] : []), ...(process.env['BENCH_NODE_FLAGS'] ? process.env['BENCH_NODE_FLAGS'].split(' ') : [])];
    const spawnCafkit = (activityStores: string, extra: Record<string, string> = {}) =>
      spawn(process.execPath, [...profile, path.join(PACKAGE_ROOT, 'bin', 'cafkit.js'), 'run'], {
        env: {
          ...process.env,
          ...platform.env,
          CAFKIT_HOME: home,
          // Off, so "activities off" stays off (the API's execution cache needs signed records); bench/stream-clients.ts measures the API.
          CAFKIT_API_ENABLE: 'false',
          ...extra,
          CAFKIT_ACTIVITY_STORES: activityStores,
          CAFKIT_CONCURRENCY: String(CONCURRENCY),
          CAFKIT_LOG_LEVEL: process.env['BENCH_LOG_LEVEL'] ?? 'info',
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
    const results: Result[] = [];
    /** What the channels' servers had received after each round's alert run (cumulative). */
    const delivered: Array<Record<string, number>> = [];
    // Round 0 warms the broker's JIT and is not counted: the first run after a start is always slower.
    for (let round = 0; round <= ROUNDS; round++) {
      const floor = spawn(process.execPath, ['--import', 'tsx', path.join(PACKAGE_ROOT, 'bench', 'floor-consumer.ts')], {
        env: { ...process.env, BENCH_URL: b.url, BENCH_USER: b.processor.user, BENCH_PASSWORD: b.processor.password, BENCH_CA: b.ca, BENCH_QUEUE: queue, BENCH_PREFETCH: String(CONCURRENCY) },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      results.push(await measure(platform, `floor-r${round}`, floor, echoId, queue));
      // (b) as in the issue: the Echo handler, activities off.
      results.push(await measure(platform, `cafkit-r${round}`, spawnCafkit('none'), echoId, queue));
      // (c) the same with signed activities stored in a JSON Lines file and SQLite.
      results.push(await measure(platform, `activity-r${round}`, spawnCafkit(`file:${path.join(home, `r${round}.jsonl`)},sqlite:${path.join(home, `r${round}.db`)}`), echoId, queue));
      // (d) the same with every alert channel on; its own home, so what one round leaves queued or spilled is not the next one's load.
      const alertHome = path.join(home, `alerts-r${round}`);
      mkdirSync(alertHome, { recursive: true });
      const serversBefore = serversCpuMs(servers, rsyslog.pid());
      results.push(await measure(platform, `alerts-r${round}`, spawnCafkit(`file:${path.join(alertHome, 'activities.jsonl')},sqlite:${path.join(alertHome, 'activities.db')}`, { CAFKIT_HOME: alertHome, CAFKIT_CONFIG: alertConfig }), echoId, queue));
      delivered.push({ round, ...(await servers.counts()), syslog: rsyslog.messages().length, servers_cpu_us_per_msg: Math.round(((serversCpuMs(servers, rsyslog.pid()) - serversBefore) * 1000) / M) });
    }
    // BENCH_CHANNELS=each: one more run per channel alone, to see what each costs.
    const perChannel: Array<{ channel: string; perSecond: number; cpuUsPerMessage: number }> = [];
    if (process.env['BENCH_CHANNELS'] === 'each') {
      for (const channel of ['syslog', 'email', 'http', 'slack', 'kafka', 'thehive']) {
        const channelHome = path.join(home, `only-${channel}`);
        mkdirSync(channelHome, { recursive: true });
        const file = path.join(channelHome, 'alerting.yaml');
        writeFileSync(file, alertingConfig(servers, rsyslog.tcpPort, channel));
        const r = await measure(platform, `only-${channel}`, spawnCafkit(`file:${path.join(channelHome, 'activities.jsonl')},sqlite:${path.join(channelHome, 'activities.db')}`, { CAFKIT_HOME: channelHome, CAFKIT_CONFIG: file }), echoId, queue);
        perChannel.push({ channel, perSecond: r.perSecond, cpuUsPerMessage: r.cpuUsPerMessage });
      }
    }
    const counted = results.filter((r) => !r.name.endsWith('-r0'));
    const floors = counted.filter((r) => r.name.startsWith('floor'));
    const cafkits = counted.filter((r) => r.name.startsWith('cafkit'));
    const best = (rs: Result[]) => rs.reduce((a, r) => (r.perSecond > a.perSecond ? r : a));
    const ratio = best(cafkits).perSecond / best(floors).perSecond;
    // Each round runs the two back to back, so their ratio shares that moment's machine noise.
    const paired = cafkits.map((c, i) => c.perSecond / floors[i]!.perSecond).sort((x, y) => x - y);
    const medianPaired = paired[Math.floor(paired.length / 2)]!;
    const activities = counted.filter((r) => r.name.startsWith('activity'));
    const activityPaired = activities.map((a, i) => a.perSecond / cafkits[i]!.perSecond).sort((x, y) => x - y);
    const activityMedian = activityPaired[Math.floor(activityPaired.length / 2)]!;
    const alerts = counted.filter((r) => r.name.startsWith('alerts'));
    const alertPaired = alerts.map((a, i) => a.perSecond / cafkits[i]!.perSecond).sort((x, y) => x - y);
    const alertMedian = alertPaired[Math.floor(alertPaired.length / 2)]!;
    const lines = [
      `cafkit bench: ${M} messages, concurrency ${CONCURRENCY}, ${ROUNDS} rounds, ${os.cpus().length} cores, node ${process.version}`,
      ...counted.map((r) => `${r.name.padEnd(10)} ${r.perSecond.toFixed(0).padStart(6)} replies/s  p50 ${r.p50ms.toFixed(1)} ms  p99 ${r.p99ms.toFixed(1)} ms  peak RSS ${r.peakRssMb} MB  CPU ${r.cpuUsPerMessage.toFixed(0)} us/msg (broker ${r.brokerCpuUsPerMessage.toFixed(0)}, bench ${r.benchCpuUsPerMessage.toFixed(0)})  (${r.seconds.toFixed(2)} s)`),
      `ratio cafkit/floor: best of rounds ${ratio.toFixed(3)}, median of paired rounds ${medianPaired.toFixed(3)} (${paired.map((r) => r.toFixed(2)).join(', ')})  (target >= 0.9)`,
      `ratio with activities (signed, file + SQLite) / without: median of paired rounds ${activityMedian.toFixed(3)} (${activityPaired.map((r) => r.toFixed(2)).join(', ')})  (target >= 0.85)`,
      `ratio with every alert channel on (and file + SQLite) / reporting off: median of paired rounds ${alertMedian.toFixed(3)} (${alertPaired.map((r) => r.toFixed(2)).join(', ')})`,
      ...perChannel.map((c) => `only ${c.channel.padEnd(8)} ${c.perSecond.toFixed(0).padStart(6)} replies/s, ratio to reporting off ${(c.perSecond / median(cafkits.map((r) => r.perSecond))).toFixed(2)}, processor CPU ${c.cpuUsPerMessage.toFixed(0)} us/msg`),
      `received by the channels' servers after each alert round (cumulative; the rest was still queued or spilled when the processor stopped): ${delivered.map((d) => JSON.stringify(d)).join(' ')}`,
    ];
    process.stdout.write(lines.join('\n') + '\n');
    mkdirSync(path.join(PACKAGE_ROOT, 'bench', 'results'), { recursive: true });
    writeFileSync(path.join(PACKAGE_ROOT, 'bench', 'results', 'latest.json'), JSON.stringify({ at: new Date().toISOString(), messages: M, concurrency: CONCURRENCY, results: counted, ratio, medianPaired, paired, activityMedian, activityPaired, alertMedian, alertPaired, delivered, perChannel }, null, 2));
  } finally {
    await servers.stop();
    await rsyslog.dispose();
    await platform.stop();
    rmSync(home, { recursive: true, force: true });
  }
}

await main();
