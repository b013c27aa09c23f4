/**
 * `node --import tsx bench/stream-clients.ts`: what 200 live-feed clients
 * cost the actions. A private broker and emulator, one `cafkit run` (Echo,
 * activity stores off, the operator API on a free loopback port), and
 * BENCH_MESSAGES Echo messages through the real broker per phase: once with
 * no stream client and once with BENCH_STREAM_CLIENTS clients connected to
 * `WS /executions/stream`, each counting the events it gets. The clients run
 * in their own process (this file with `--clients`) so the producer's event
 * loop stays its own. Phases alternate over BENCH_ROUNDS rounds after an
 * uncounted warm-up, the same processor throughout.
 *
 * Prints replies/s of both, their ratio (median of paired rounds), the
 * processor's CPU per message, and the events each client got, and fails
 * unless every client got every event (consecutive cursors from its `ready`,
 * one `completed` per message). Writes bench/results/stream-latest.json.
 * Everything runs on loopback, is bounded in count and in time
 * (BENCH_DEADLINE_MS), and is stopped by its own pid or handle.
 *
 * Env: BENCH_MESSAGES (default 5000), BENCH_STREAM_CLIENTS (200),
 * BENCH_ROUNDS (3), BENCH_CONCURRENCY (25), BENCH_DEADLINE_MS (600000),
 * BENCH_NODE_FLAGS (extra node flags for the processor, e.g. `--cpu-prof`).
 *
 * On a 2-core machine the processor, the broker, the producer and the
 * clients' process share the CPU, so the throughput ratio is the machine's;
 * the processor's CPU per message is the feed's own cost.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';

const M = Number(process.env['BENCH_MESSAGES'] ?? 5000);
const CLIENTS = Number(process.env['BENCH_STREAM_CLIENTS'] ?? 200);
const ROUNDS = Number(process.env['BENCH_ROUNDS'] ?? 3);
const CONCURRENCY = Number(process.env['BENCH_CONCURRENCY'] ?? 25);
const DEADLINE_MS = Number(process.env['BENCH_DEADLINE_MS'] ?? 600_000);
const SELF = fileURLToPath(import.meta.url);
const ROOT = path.resolve(path.dirname(SELF), '..');

// ------------------------------------------------------------------ the clients' process

/** What one client saw between connecting and closing. */
interface ClientStats {
  /** The sequence number of its `ready` cursor. */
  ready: number;
  events: number;
  /** Bytes of the event frames' payloads. */
  bytes: number;
  completed: number;
  first: number;
  last: number;
  /** Every event's sequence was the previous one plus one. */
  consecutive: boolean;
  /** A close code, if the server closed it before the end. */
  closedEarly?: number;
}

const EVENT_PREFIX = Buffer.from('{"type":"event","cursor":"');
const COMPLETED = Buffer.from('"kind":"completed"');

/** The sequence of a frame's cursor, read without parsing the JSON (200 clients parse a lot). */
function eventSequence(frame: Buffer): number | undefined {
  if (frame.compare(EVENT_PREFIX, 0, EVENT_PREFIX.length, 0, EVENT_PREFIX.length) !== 0) return undefined;
  const colon = frame.indexOf(0x3a, EVENT_PREFIX.length);
  const quote = frame.indexOf(0x22, colon);
  return Number(frame.toString('latin1', colon + 1, quote));
}

/**
 * `--clients`: opens the clients on `connect <n> <prefix>`, answers
 * `{"connected"}` when every one has its `ready`; on `await <n>` answers
 * `{"stats"}` once each has n `completed` events of executions whose
 * correlation id starts with the prefix (those of the phase: the last events
 * of the phase before may still be on their way), then closes them.
 */
async function clientsProcess(): Promise<void> {
  const url = process.env['BENCH_STREAM_URL']!;
  const token = process.env['BENCH_STREAM_TOKEN']!;
  let open: Array<{ ws: WebSocket; stats: ClientStats }> = [];
  const reply = (value: unknown) => process.stdout.write(`${JSON.stringify(value)}\n`);
  for await (const line of createInterface({ input: process.stdin })) {
    const [command, arg, prefix] = line.trim().split(' ');
    if (command === 'connect') {
      const mine = Buffer.from(`"correlation_id":"${prefix}-`);
      open = await Promise.all(
        Array.from({ length: Number(arg) }, () => {
          // The dashboard's way: the token as a subprotocol, answered with cafkit.v1.
          // Counting needs no UTF-8 check: skipping it keeps this process from falling behind on a busy machine.
          const ws = new WebSocket(`${url}/executions/stream?destination=incident_ops`, ['cafkit.v1', `cafkit.bearer.${token}`], { skipUTF8Validation: true });
          const stats: ClientStats = { ready: -1, events: 0, bytes: 0, completed: 0, first: -1, last: -1, consecutive: true };
          return new Promise<{ ws: WebSocket; stats: ClientStats }>((resolve, reject) => {
            ws.on('error', reject);
            ws.on('close', (code) => {
              if (code !== 1000 && code !== 1005) stats.closedEarly = code;
            });
            ws.on('message', (data: Buffer) => {
              const n = eventSequence(data);
              if (n === undefined) {
                const msg = JSON.parse(String(data)) as { type: string; cursor: string };
                if (msg.type === 'ready') {
                  stats.ready = stats.last = Number(msg.cursor.split(':')[1]);
                  resolve({ ws, stats });
                }
                return;
              }
              if (n !== stats.last + 1) stats.consecutive = false;
              if (stats.first === -1) stats.first = n;
              stats.last = n;
              stats.events++;
              stats.bytes += data.length;
              if (data.indexOf(COMPLETED) !== -1 && data.indexOf(mine) !== -1) stats.completed++;
            });
          });
        }),
      );
      progress(`clients: ${open.length} connected`);
      reply({ connected: open.length });
    } else if (command === 'await') {
      const want = Number(arg);
      const deadline = Date.now() + 60_000;
      while (Date.now() < deadline && open.some((c) => c.stats.completed < want && c.stats.closedEarly === undefined)) await new Promise((resolve) => setTimeout(resolve, 20));
      const stats = open.map((c) => ({ ...c.stats }));
      progress(`clients: completed ${Math.min(...stats.map((x) => x.completed))}..${Math.max(...stats.map((x) => x.completed))} of ${want}`);
      await Promise.all(
        open.map(async (c) => {
          if (c.ws.readyState === WebSocket.CLOSED) return;
          const closed = once(c.ws, 'close');
          c.ws.close(1000);
          await closed;
        }),
      );
      open = [];
      reply({ stats });
    } else if (command === 'exit') {
      break;
    }
  }
  for (const c of open) c.ws.terminate();
  process.exit(0);
}

// ------------------------------------------------------------------ the measuring process

/** User + system CPU time of a process so far, in ms (from /proc, in clock ticks of 10 ms). */
function cpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

function median(values: number[]): number {
  const sorted = [...values].sort((x, y) => x - y);
  return sorted[Math.floor(sorted.length / 2)]!;
}

/** Resolves with the first match of `pattern` in the child's output; rejects if it exits first. */
function waitForOutput(child: ChildProcess, pattern: RegExp, timeoutMs = 60_000): Promise<RegExpExecArray> {
  let seen = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ${pattern} within ${timeoutMs} ms:\n${seen.slice(-3000)}`)), timeoutMs);
    const onData = (chunk: Buffer) => {
      seen += chunk.toString();
      const match = pattern.exec(seen);
      if (match) {
        clearTimeout(timer);
        child.stdout!.off('data', onData);
        child.stderr!.off('data', onData);
        resolve(match);
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code) => reject(new Error(`process exited (${code}) before ${pattern}:\n${seen.slice(-3000)}`)));
  });
}

/** Stops a child by its pid and waits for it (SIGKILL after 10 s). */
async function stopChild(child: ChildProcess | undefined): Promise<void> {
  if (!child?.pid || child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  process.kill(child.pid, 'SIGTERM');
  const timer = setTimeout(() => child.exitCode === null && child.pid && process.kill(child.pid, 'SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}

function progress(text: string): void {
  process.stderr.write(`[stream bench] ${text}\n`);
}

interface Phase {
  round: number;
  clients: number;
  seconds: number;
  perSecond: number;
  /** Processor (cafkit run) CPU per message, µs. */
  cpuUsPerMessage: number;
  /** The stream clients' process CPU per message, µs (0 without clients). */
  clientsCpuUsPerMessage: number;
  /** Events each client got: min and max over the clients. */
  eventsPerClient?: { min: number; max: number };
  /** Mean payload of an event frame, bytes. */
  frameBytes?: number;
}

async function main(): Promise<void> {
  // Imported here so that the clients' process loads only ws.
  const { startPlatform } = await import('../test/support/stack.js');
  const { StompTransport } = await import('../lib/broker/stomp-tls.js');
  const started: { platform?: Awaited<ReturnType<typeof startPlatform>>; processor?: ChildProcess; clients?: ChildProcess } = {};
  const home = mkdtempSync(path.join(os.tmpdir(), 'cafkit-bench-stream-'));
  const deadline = setTimeout(() => {
    process.stderr.write(`bench/stream-clients.ts: over ${DEADLINE_MS} ms, stopping\n`);
    void cleanup().finally(() => process.exit(2));
  }, DEADLINE_MS);
  async function cleanup(): Promise<void> {
    await stopChild(started.clients);
    await stopChild(started.processor);
    await started.platform?.stop().catch(() => undefined);
    rmSync(home, { recursive: true, force: true });
  }
  try {
    const platform = (started.platform = await startPlatform());
    const b = platform.broker;
    const token = randomBytes(24).toString('base64url');
    // BENCH_NODE_FLAGS: extra node flags for the processor, e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof`.
    const flags = process.env['BENCH_NODE_FLAGS'] ? process.env['BENCH_NODE_FLAGS'].split(' ') : [];
    const processor = (started.processor = spawn(process.execPath, [...flags, path.join(ROOT, 'bin', 'cafkit.js'), 'run'], {
      env: {
        ...process.env,
        ...platform.env,
        CAFKIT_CONFIG: '',
        CAFKIT_HOME: home,
        CAFKIT_ACTIVITY_STORES: 'none',
        CAFKIT_CONCURRENCY: String(CONCURRENCY),
        CAFKIT_LOG_LEVEL: 'info',
        CAFKIT_API_HOST: '127.0.0.1',
        CAFKIT_API_PORT: '0',
        CAFKIT_API_TOKEN: token,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    }));
    progress('platform started; starting cafkit run');
    const apiUrl = (await waitForOutput(processor, /operator API listening \{"url":"(http:\/\/127\.0\.0\.1:\d+)"/))[1]!;
    // Keep draining its output so a full pipe never stalls it.
    processor.stdout!.resume();
    processor.stderr!.resume();

    const clients = (started.clients = spawn(process.execPath, ['--import', 'tsx', SELF, '--clients'], {
      env: { ...process.env, BENCH_STREAM_URL: apiUrl.replace(/^http/, 'ws'), BENCH_STREAM_TOKEN: token },
      stdio: ['pipe', 'pipe', 'inherit'],
    }));
    const answers = createInterface({ input: clients.stdout! });
    const waiting: Array<(value: Record<string, unknown>) => void> = [];
    answers.on('line', (line) => waiting.shift()?.(JSON.parse(line) as Record<string, unknown>));
    const ask = (command: string) => {
      const answer = new Promise<Record<string, unknown>>((resolve, reject) => {
        waiting.push(resolve);
        clients.once('exit', (code) => reject(new Error(`the clients' process exited (${code})`)));
      });
      clients.stdin!.write(`${command}\n`);
      return answer;
    };

    const link = new StompTransport({ url: b.url, login: b.platform.user, passcode: b.platform.password, tls: { ca: readFileSync(b.ca, 'utf8') } });
    await link.connect();
    const queue = `actions.${b.orgId}.incident_ops`;
    const replyQueue = `acks.${b.orgId}.bench-stream`;
    const echoId = platform.emulator.store.action('Echo').id;
    const body = JSON.stringify({ action_id: echoId, type_id: 0, incident: { id: 2095, name: 'bench', severity_code: 4, vers: 1 }, properties: { n: 1 }, type_info: {}, user: { id: 1, email: 'a@b.c' } });
    let expected = new Set<string>();
    let done: () => void = () => {};
    const sub = link.subscribe({ kind: 'queue', name: replyQueue }, { prefetch: 1000, confirm: true }, (reply) => {
      void reply.ack();
      if (expected.delete(reply.headers['correlation-id']!) && expected.size === 0) done();
    });
    await sub.ready;

    /** Sends `count` Echo messages and waits for every reply; replies/s and CPU of the processor and the clients. */
    const run = async (name: string, count: number) => {
      expected = new Set(Array.from({ length: count }, (_, i) => `${name}-${i}`));
      const all = new Promise<void>((resolve) => (done = resolve));
      const cpu0 = cpuMs(processor.pid!);
      const clients0 = cpuMs(clients.pid!);
      const t0 = performance.now();
      for (let i = 0; i < count; i++) {
        // Confirm every 100th send so the producer cannot run away from the broker.
        const send = link.send(`/queue/${queue}`, body, { headers: { 'correlation-id': `${name}-${i}`, 'reply-to': `/queue/${replyQueue}`, Co3ContextToken: 'bench' }, confirm: i % 100 === 99, text: true });
        if (i % 100 === 99) await send;
      }
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([all, new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`${name}: ${expected.size} of ${count} replies missing after 120 s`)), 120_000)))]);
      clearTimeout(timer);
      const seconds = (performance.now() - t0) / 1000;
      return { seconds, perSecond: count / seconds, cpuUsPerMessage: ((cpuMs(processor.pid!) - cpu0) * 1000) / count, clientsCpuUsPerMessage: ((cpuMs(clients.pid!) - clients0) * 1000) / count };
    };

    progress(`processor up, API at ${apiUrl}; warming up`);
    await run('warmup', M);
    const phases: Phase[] = [];
    const problems: string[] = [];
    for (let round = 1; round <= ROUNDS; round++) {
      // Alternate which goes first, so a trend over time does not favour one.
      const order = round % 2 === 1 ? [0, CLIENTS] : [CLIENTS, 0];
      for (const n of order) {
        progress(`round ${round}: ${n} clients`);
        if (n === 0) {
          phases.push({ round, clients: 0, ...(await run(`r${round}-none`, M)) });
          continue;
        }
        await ask(`connect ${n} r${round}-clients`);
        const measured = await run(`r${round}-clients`, M);
        const { stats } = (await ask(`await ${M}`)) as unknown as { stats: ClientStats[] };
        const events = stats.map((s) => s.events);
        const bytes = stats.reduce((sum, s) => sum + s.bytes, 0);
        phases.push({ round, clients: n, ...measured, eventsPerClient: { min: Math.min(...events), max: Math.max(...events) }, frameBytes: Math.round(bytes / Math.max(1, events.reduce((a, e) => a + e, 0))) });
        const last = Math.max(...stats.map((s) => s.last));
        stats.forEach((s, i) => {
          if (s.closedEarly !== undefined) problems.push(`round ${round}: client ${i} was closed with ${s.closedEarly}`);
          if (!s.consecutive || s.first !== s.ready + 1) problems.push(`round ${round}: client ${i} missed events (cursors not consecutive from its ready)`);
          if (s.completed !== M) problems.push(`round ${round}: client ${i} got ${s.completed} completed events of ${M}`);
          if (s.last !== last) problems.push(`round ${round}: client ${i} stopped at ${s.last}, others at ${last}`);
        });
      }
    }
    await sub.unsubscribe();
    await link.close();
    await stopChild(clients);

    const none = phases.filter((p) => p.clients === 0);
    const withClients = phases.filter((p) => p.clients > 0);
    const paired = withClients.map((p) => p.perSecond / none.find((q) => q.round === p.round)!.perSecond);
    const ratio = median(paired);
    const lines = [
      `cafkit stream bench: ${M} Echo messages a phase, ${CLIENTS} stream clients, ${ROUNDS} rounds, concurrency ${CONCURRENCY}, ${os.cpus().length} cores, node ${process.version}`,
      ...phases.map(
        (p) =>
          `round ${p.round} ${String(p.clients).padStart(3)} clients  ${p.perSecond.toFixed(0).padStart(6)} replies/s  processor CPU ${p.cpuUsPerMessage.toFixed(0)} us/msg` +
          (p.clients ? `  clients' process CPU ${p.clientsCpuUsPerMessage.toFixed(0)} us/msg  events per client ${p.eventsPerClient!.min}..${p.eventsPerClient!.max} (${(p.eventsPerClient!.min / M).toFixed(1)}/msg, ${p.frameBytes} B each)` : '') +
          `  (${p.seconds.toFixed(2)} s)`,
      ),
      `median replies/s: ${median(none.map((p) => p.perSecond)).toFixed(0)} with no client, ${median(withClients.map((p) => p.perSecond)).toFixed(0)} with ${CLIENTS}`,
      `ratio with ${CLIENTS} clients / without: median of paired rounds ${ratio.toFixed(3)} (${paired.map((r) => r.toFixed(2)).join(', ')})`,
      `processor CPU: median ${median(none.map((p) => p.cpuUsPerMessage)).toFixed(0)} us/msg with no client, ${median(withClients.map((p) => p.cpuUsPerMessage)).toFixed(0)} us/msg with ${CLIENTS}`,
      problems.length ? `DELIVERY PROBLEMS:\n  ${problems.slice(0, 20).join('\n  ')}` : `every client got every event: consecutive cursors from its ready, ${M} completed each round`,
    ];
    process.stdout.write(lines.join('\n') + '\n');
    mkdirSync(path.join(ROOT, 'bench', 'results'), { recursive: true });
    writeFileSync(path.join(ROOT, 'bench', 'results', 'stream-latest.json'), JSON.stringify({ at: new Date().toISOString(), messages: M, clients: CLIENTS, concurrency: CONCURRENCY, phases, paired, ratio, problems }, null, 2));
    if (problems.length) process.exitCode = 1;
  } finally {
    clearTimeout(deadline);
    await cleanup();
  }
}

if (process.argv.includes('--clients')) await clientsProcess();
else await main();
