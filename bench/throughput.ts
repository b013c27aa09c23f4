/**
 * `npm run bench`: M action messages through the real broker, answered by
 * (a) the floor consumer, (b) `cafkit run` with the Echo handler and
 * activities off, and (c) the same with signed activities in a JSON Lines
 * file and SQLite, in the same run. Prints replies/s, latency p50/p99,
 * peak RSS, CPU per message, and the ratios b/a and c/b.
 * Env: BENCH_MESSAGES (default 10000), BENCH_CONCURRENCY (default 25), BENCH_ROUNDS (default 3, after an uncounted warm-up).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { once } from 'node:events';
import path from 'node:path';
import os from 'node:os';
import { startPlatform, type Platform } from '../test/support/stack.js';
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

async function main(): Promise<void> {
  const platform = await startPlatform();
  const home = mkdtempSync(path.join(os.tmpdir(), 'cafkit-bench-'));
  try {
    const queue = `actions.${platform.broker.orgId}.incident_ops`;
    const echoId = platform.emulator.store.action('Echo').id;
    const b = platform.broker;
    const results: Result[] = [];
    // Round 0 warms the broker's JIT and is not counted: the first run after a start is always slower.
    for (let round = 0; round <= ROUNDS; round++) {
      const floor = spawn(process.execPath, ['--import', 'tsx', path.join(PACKAGE_ROOT, 'bench', 'floor-consumer.ts')], {
        env: { ...process.env, BENCH_URL: b.url, BENCH_USER: b.processor.user, BENCH_PASSWORD: b.processor.password, BENCH_CA: b.ca, BENCH_QUEUE: queue, BENCH_PREFETCH: String(CONCURRENCY) },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      results.push(await measure(platform, `floor-r${round}`, floor, echoId, queue));
      const profile = [...(process.env['BENCH_PROFILE'] ? ['--cpu-prof', `--cpu-prof-dir=${path.join(PACKAGE_ROOT, 'bench', 'results', 'profiles')}`] : []), ...(process.env['BENCH_NODE_FLAGS'] ? process.env['BENCH_NODE_FLAGS'].split(' ') : [])];
      const runCafkit = (activityStores: string) =>
        spawn(process.execPath, [...profile, path.join(PACKAGE_ROOT, 'bin', 'cafkit.js'), 'run'], {
          env: {
            ...process.env,
            ...platform.env,
            CAFKIT_HOME: home,
            CAFKIT_ACTIVITY_STORES: activityStores,
            CAFKIT_CONCURRENCY: String(CONCURRENCY),
            CAFKIT_LOG_LEVEL: process.env['BENCH_LOG_LEVEL'] ?? 'info',
          },
          stdio: ['ignore', 'pipe', 'pipe'],
        });
      // (b) as in the issue: the Echo handler, activities off.
      results.push(await measure(platform, `cafkit-r${round}`, runCafkit('none'), echoId, queue));
      // (c) the same with signed activities stored in a JSON Lines file and SQLite.
      results.push(await measure(platform, `activity-r${round}`, runCafkit(`file:${path.join(home, `r${round}.jsonl`)},sqlite:${path.join(home, `r${round}.db`)}`), echoId, queue));
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
    const lines = [
      `cafkit bench: ${M} messages, concurrency ${CONCURRENCY}, ${ROUNDS} rounds, ${os.cpus().length} cores, node ${process.version}`,
      ...counted.map((r) => `${r.name.padEnd(10)} ${r.perSecond.toFixed(0).padStart(6)} replies/s  p50 ${r.p50ms.toFixed(1)} ms  p99 ${r.p99ms.toFixed(1)} ms  peak RSS ${r.peakRssMb} MB  CPU ${r.cpuUsPerMessage.toFixed(0)} us/msg (broker ${r.brokerCpuUsPerMessage.toFixed(0)}, bench ${r.benchCpuUsPerMessage.toFixed(0)})  (${r.seconds.toFixed(2)} s)`),
      `ratio cafkit/floor: best of rounds ${ratio.toFixed(3)}, median of paired rounds ${medianPaired.toFixed(3)} (${paired.map((r) => r.toFixed(2)).join(', ')})  (target >= 0.9)`,
      `ratio with activities (signed, file + SQLite) / without: median of paired rounds ${activityMedian.toFixed(3)} (${activityPaired.map((r) => r.toFixed(2)).join(', ')})  (target >= 0.85)`,
    ];
    process.stdout.write(lines.join('\n') + '\n');
    mkdirSync(path.join(PACKAGE_ROOT, 'bench', 'results'), { recursive: true });
    writeFileSync(path.join(PACKAGE_ROOT, 'bench', 'results', 'latest.json'), JSON.stringify({ at: new Date().toISOString(), messages: M, concurrency: CONCURRENCY, results: counted, ratio, medianPaired, paired, activityMedian, activityPaired }, null, 2));
  } finally {
    await platform.stop();
    rmSync(home, { recursive: true, force: true });
  }
}

await main();
