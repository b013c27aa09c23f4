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
import { cpuMs, measure as measureOn, median, platformTarget, type Result } from './measure.js';
import { PACKAGE_ROOT } from '../lib/cli/dev-state.js';

const M = Number(process.env['BENCH_MESSAGES'] ?? 10000);
const CONCURRENCY = Number(process.env['BENCH_CONCURRENCY'] ?? 25);
const ROUNDS = Number(process.env['BENCH_ROUNDS'] ?? 3);

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
      results.push(await measureOn(platformTarget(platform), `floor-r${round}`, floor, echoId, queue, M));
      // (b) as in the issue: the Echo handler, activities off.
      results.push(await measureOn(platformTarget(platform), `cafkit-r${round}`, spawnCafkit('none'), echoId, queue, M));
      // (c) the same with signed activities stored in a JSON Lines file and SQLite.
      results.push(await measureOn(platformTarget(platform), `activity-r${round}`, spawnCafkit(`file:${path.join(home, `r${round}.jsonl`)},sqlite:${path.join(home, `r${round}.db`)}`), echoId, queue, M));
      // (d) the same with every alert channel on; its own home, so what one round leaves queued or spilled is not the next one's load.
      const alertHome = path.join(home, `alerts-r${round}`);
      mkdirSync(alertHome, { recursive: true });
      const serversBefore = serversCpuMs(servers, rsyslog.pid());
      results.push(await measureOn(platformTarget(platform), `alerts-r${round}`, spawnCafkit(`file:${path.join(alertHome, 'activities.jsonl')},sqlite:${path.join(alertHome, 'activities.db')}`, { CAFKIT_HOME: alertHome, CAFKIT_CONFIG: alertConfig }), echoId, queue, M));
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
        const r = await measureOn(platformTarget(platform), `only-${channel}`, spawnCafkit(`file:${path.join(channelHome, 'activities.jsonl')},sqlite:${path.join(channelHome, 'activities.db')}`, { CAFKIT_HOME: channelHome, CAFKIT_CONFIG: file }), echoId, queue, M);
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
