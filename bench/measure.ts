/**
 * What the bench programs share: one measured run of action messages
 * through a broker to a consumer process, and the /proc readings it uses.
 */
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import type { Platform } from '../test/support/stack.js';
import { transportFor } from '../lib/broker/transport-for.js';

/** One measured run. */
export interface Result {
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

export function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

/** User + system CPU time of a process so far, in ms (from /proc, in clock ticks of 10 ms). */
export function median(values: number[]): number {
  const sorted = [...values].sort((x, y) => x - y);
  return sorted[Math.floor(sorted.length / 2)]!;
}

export function cpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

export function peakRss(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0);
  return Math.round(kb / 1024);
}

export async function waitForLine(child: ChildProcess, pattern: RegExp): Promise<void> {
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

/** Where the bench's producer sends and the broker process it watches. */
export interface MeasureTarget {
  url: string;
  login: string;
  passcode: string;
  vhost?: string;
  /** Path of the CA that signed the broker's certificate. */
  ca: string;
  orgId: number;
  /** The broker's process, for its CPU per message. */
  brokerPid(): number | undefined;
}

/** The ActiveMQ of a test platform as a {@link MeasureTarget}. */
export function platformTarget(platform: Platform): MeasureTarget {
  const b = platform.broker;
  return { url: b.url, login: b.platform.user, passcode: b.platform.password, ca: b.ca, orgId: b.orgId, brokerPid: () => b.pid() };
}

/**
 * Sends `messages` action messages to `queue` through `target` (over the
 * transport its URL names), once `consumer` logs that it is processing, and
 * measures the replies: rate, latency, and CPU of the consumer, the broker
 * and this process. Stops the consumer at the end.
 */
export async function measure(target: MeasureTarget, name: string, consumer: ChildProcess, actionId: number, queue: string, M: number): Promise<Result> {
  await waitForLine(consumer, /processing/);
  const link = transportFor({ url: target.url, login: target.login, passcode: target.passcode, vhost: target.vhost, tls: { ca: readFileSync(target.ca, 'utf8') } });
  await link.connect();
  const replyQueue = `acks.${target.orgId}.bench`;
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
  const brokerPid = target.brokerPid()!;
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
