import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Log } from '../../lib/log/log.js';
import type { ActivityEvent } from '../../lib/activity/record.js';
import type { ActivitySink } from '../../lib/activity/sink.js';
import { Reporter } from '../../lib/activity/reporter.js';

function event(n: number): ActivityEvent {
  return { kind: 'received', at: new Date(1_700_000_000_000 + n).toISOString(), execution_id: `e${n}`, correlation_id: `invid:${n}` };
}

const ids = (events: readonly ActivityEvent[]) => events.map((e) => e.execution_id);
const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => `e${from + i}`);

function gate() {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => (open = resolve));
  return { promise, open };
}

/** A sink that keeps what it gets; `before` runs first and may wait or throw. */
function sink(name: string, before: (e: ActivityEvent, attempt: number) => Promise<void> | void = () => {}) {
  const received: ActivityEvent[] = [];
  const attempts = new Map<string, number>();
  const s: ActivitySink & { received: ActivityEvent[]; calls: number } = {
    name,
    received,
    calls: 0,
    async deliver(e) {
      s.calls++;
      const attempt = (attempts.get(e.execution_id) ?? 0) + 1;
      attempts.set(e.execution_id, attempt);
      await before(e, attempt);
      received.push(e);
    },
  };
  return s;
}

/** A log that keeps its lines. */
function recordingLog() {
  const lines: { level: string; message: string; meta?: Record<string, unknown> }[] = [];
  const log: Log = {
    debug: (message, meta) => lines.push({ level: 'debug', message, meta }),
    info: (message, meta) => lines.push({ level: 'info', message, meta }),
    warn: (message, meta) => lines.push({ level: 'warn', message, meta }),
    error: (message, meta) => lines.push({ level: 'error', message, meta }),
  };
  return { log, lines };
}

/** Resolves once `condition` holds; fails the test with `what` if it never does. */
async function eventually(condition: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > until) assert.fail(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

const spillDir = () => mkdtempSync(join(tmpdir(), 'cafkit-spill-'));
const spillLines = (file: string) => readFileSync(file, 'utf8').split('\n').filter(Boolean).map((line) => (JSON.parse(line) as ActivityEvent).execution_id);

test('a hanging sink holds up neither report() nor the other sinks', async (t) => {
  const hanging = sink('hanging', () => new Promise<void>(() => {}));
  const fast = sink('fast');
  const reporter = new Reporter([hanging, fast], { queueSize: 10_000, overflow: 'drop_oldest' });

  const started = performance.now();
  for (let i = 0; i < 1000; i++) reporter.report(event(i));
  t.diagnostic(`1000 report() calls took ${(performance.now() - started).toFixed(2)} ms`);

  // Every report() returned while the hanging sink was still in its first delivery.
  assert.equal(hanging.calls, 1);
  assert.equal(reporter.stats().hanging?.queued, 1000);
  await eventually(() => fast.received.length === 1000, 'the fast sink to get every event');
  assert.deepEqual(ids(fast.received), range(0, 1000));
  assert.equal(hanging.calls, 1);
  assert.equal(hanging.received.length, 0);

  const result = await reporter.drain(20);
  assert.deepEqual(result, { drained: false, left: { hanging: 1000, fast: 0 } });
});

test('a failing delivery is retried with backoff, the same event, keeping order; warnings are rate-limited', async () => {
  const flaky = sink('flaky', (e, attempt) => {
    if (e.execution_id === 'e1' && attempt <= 3) throw new Error(`refused attempt ${attempt}`);
  });
  const { log, lines } = recordingLog();
  const reporter = new Reporter([flaky], { overflow: 'drop_oldest', retry: { initialMs: 1, maxMs: 4 }, log, warnEveryMs: 60_000 });
  for (let i = 0; i < 5; i++) reporter.report(event(i));

  await eventually(() => flaky.received.length === 5, 'every event delivered');
  assert.deepEqual(ids(flaky.received), range(0, 5));
  const { last_error, last_error_at, ...flakyStats } = reporter.stats().flaky!;
  assert.deepEqual(flakyStats, { queued: 0, in_spill: 0, delivered: 5, failed_attempts: 3, dropped: 0, spilled: 0 });
  assert.equal(last_error, 'refused attempt 3', 'the last error is kept for /health');
  assert.ok(last_error_at && !Number.isNaN(Date.parse(last_error_at)));
  const warnings = lines.filter((l) => l.level === 'warn');
  assert.equal(warnings.length, 1, 'three failures within warnEveryMs give one warning');
  assert.equal(warnings[0]?.meta?.['error'], 'refused attempt 1');
  assert.ok(lines.some((l) => l.level === 'info' && l.message.includes('delivers again')));
  assert.deepEqual(await reporter.drain(1000), { drained: true, left: { flaky: 0 } });
});

test('drop_oldest keeps the newest events and counts the dropped ones', async () => {
  const release = gate();
  const slow = sink('slow', () => release.promise);
  const reporter = new Reporter([slow], { queueSize: 3, overflow: 'drop_oldest' });
  for (let i = 0; i < 10; i++) reporter.report(event(i));

  // e0 is being delivered; the queue keeps the three newest.
  assert.deepEqual(reporter.stats().slow, { queued: 4, in_spill: 0, delivered: 0, failed_attempts: 0, dropped: 6, spilled: 0 });
  release.open();
  await eventually(() => slow.received.length === 4, 'the kept events delivered');
  assert.deepEqual(ids(slow.received), ['e0', 'e7', 'e8', 'e9']);
  assert.deepEqual(await reporter.drain(1000), { drained: true, left: { slow: 0 } });
});

test('spill: overflow goes to <sink>.spill.jsonl and is replayed in order once the queue has room', async () => {
  const dir = spillDir();
  const file = join(dir, 'slow.spill.jsonl');
  const release = gate();
  const slow = sink('slow', () => release.promise);
  const reporter = new Reporter([slow], { queueSize: 2, overflow: 'spill', spillDir: dir });
  for (let i = 0; i < 10; i++) reporter.report(event(i));

  assert.deepEqual(reporter.stats().slow, { queued: 3, in_spill: 7, delivered: 0, failed_attempts: 0, dropped: 0, spilled: 7 });
  await eventually(() => existsSync(file) && spillLines(file).length === 7, 'the spill file written');
  assert.deepEqual(spillLines(file), range(3, 10), 'one JSON event a line, in order');

  release.open();
  // Reported while the spill file is still being replayed: must come after it.
  reporter.report(event(10));
  reporter.report(event(11));
  await eventually(() => slow.received.length === 12, 'every event delivered');
  assert.deepEqual(ids(slow.received), range(0, 12));
  await eventually(() => !existsSync(file), 'the spill file removed once replayed');
  assert.deepEqual(await reporter.drain(1000), { drained: true, left: { slow: 0 } });
  assert.equal(reporter.stats().slow?.dropped, 0);
});

test('drain with a deadline returns what is left, keeps it in the spill file, and the next reporter replays it before new events', async () => {
  const dir = spillDir();
  const file = join(dir, 'store.spill.jsonl');
  const dead = sink('store', () => new Promise<void>(() => {}));
  const first = new Reporter([dead], { queueSize: 2, overflow: 'spill', spillDir: dir });
  for (let i = 0; i < 6; i++) first.report(event(i));

  const result = await first.drain(20);
  assert.deepEqual(result, { drained: false, left: { store: 6 } });
  // The event in delivery and the queued ones go before the spilled ones.
  assert.deepEqual(spillLines(file), range(0, 6));
  first.report(event(99));
  assert.equal(first.stats().store?.dropped, 1, 'a report after drain is dropped and counted');

  const alive = sink('store');
  const second = new Reporter([alive], { queueSize: 2, overflow: 'spill', spillDir: dir });
  assert.equal(second.stats().store?.in_spill, 6);
  second.report(event(6));
  second.report(event(7));
  await eventually(() => alive.received.length === 8, 'old and new events delivered');
  assert.deepEqual(ids(alive.received), range(0, 8));
  assert.deepEqual(await second.drain(1000), { drained: true, left: { store: 0 } });
  assert.equal(existsSync(file), false);
});

test('order holds through many spill and replay rounds while events keep arriving and deliveries fail', async () => {
  const dir = spillDir();
  const churn = sink('churn', async (_e, attempt) => {
    await new Promise((resolve) => setImmediate(resolve));
    if (Math.random() < 0.05 && attempt === 1) throw new Error('transient');
  });
  const reporter = new Reporter([churn], { queueSize: 16, overflow: 'spill', spillDir: dir, retry: { initialMs: 0, maxMs: 1 } });
  for (let i = 0; i < 3000; i++) {
    reporter.report(event(i));
    if (i % 97 === 0) await new Promise((resolve) => setTimeout(resolve, 1));
  }
  await eventually(() => churn.received.length === 3000, 'every event delivered', 30_000);
  assert.deepEqual(ids(churn.received), range(0, 3000));
  const stats = reporter.stats().churn;
  assert.ok((stats?.spilled ?? 0) > 1000, `most events went through the spill file (${stats?.spilled})`);
  assert.equal(stats?.dropped, 0);
  assert.deepEqual(await reporter.drain(1000), { drained: true, left: { churn: 0 } });
});

test('a spill file with a torn or foreign line: the good events are replayed, the bad lines counted as dropped', async () => {
  const dir = spillDir();
  writeFileSync(join(dir, 'store.spill.jsonl'), `${JSON.stringify(event(0))}\nnot json\n{"kind":"rece`);
  const store = sink('store');
  const reporter = new Reporter([store], { overflow: 'spill', spillDir: dir });
  reporter.report(event(1));
  await eventually(() => store.received.length === 2, 'the good events delivered');
  assert.deepEqual(ids(store.received), ['e0', 'e1']);
  assert.equal(reporter.stats().store?.dropped, 2);
  assert.deepEqual(await reporter.drain(1000), { drained: true, left: { store: 0 } });
});

test('reportTo delivers to the named sinks only; sinks see only what they accept; nothing throws', async () => {
  const email = sink('email');
  const syslog = sink('syslog');
  const picky: ActivitySink & { received: ActivityEvent[] } = { ...sink('store'), accepts: (e) => e.kind === 'completed' };
  const broken: ActivitySink = { name: 'broken', accepts: () => { throw new Error('boom'); }, deliver: async () => {} };
  const reporter = new Reporter([email, syslog, picky, broken], { overflow: 'drop_oldest' });

  reporter.reportTo(event(0), ['syslog']);
  reporter.reportTo(event(1), ['nope', 'email']);
  reporter.report({ ...event(2), kind: 'completed' });
  await eventually(() => email.received.length === 2 && syslog.received.length === 2 && picky.received.length === 1, 'deliveries');
  assert.deepEqual(ids(email.received), ['e1', 'e2']);
  assert.deepEqual(ids(syslog.received), ['e0', 'e2']);
  assert.deepEqual(ids(picky.received), ['e2']);
  assert.equal(reporter.stats().broken?.dropped, 1);
  assert.deepEqual((await reporter.drain(1000)).drained, true);
});

test('an event with no JSON form is dropped and counted when it has to spill', async () => {
  const dir = spillDir();
  const release = gate();
  const slow = sink('slow', () => release.promise);
  const reporter = new Reporter([slow], { queueSize: 1, overflow: 'spill', spillDir: dir });
  reporter.report(event(0));
  reporter.report(event(1));
  reporter.report({ ...event(2), step: { name: 'n', status: 'running', output: { big: 1n } } } as unknown as ActivityEvent);
  reporter.report(event(3));
  release.open();
  await eventually(() => slow.received.length === 3, 'the others delivered');
  assert.deepEqual(ids(slow.received), ['e0', 'e1', 'e3']);
  assert.equal(reporter.stats().slow?.dropped, 1);
  await reporter.drain(1000);
});

test('constructor refuses a spill without a folder and duplicate sink names', () => {
  assert.throws(() => new Reporter([sink('a')]), /spillDir/);
  assert.throws(() => new Reporter([sink('a'), sink('a')], { overflow: 'drop_oldest' }), /two sinks are named a/);
  assert.throws(() => new Reporter([sink('../x')], { overflow: 'drop_oldest' }), /sink name/);
});

test('a sink with a batch window gets the events reported within the window as one batch, at most maxBatch at a time', async () => {
  const batches: string[][] = [];
  const digest: ActivitySink = {
    name: 'digest',
    batchWindowMs: 200,
    maxBatch: 3,
    async deliver(e) {
      batches.push([e.execution_id]);
    },
    async deliverBatch(events) {
      batches.push(ids(events));
    },
  };
  const reporter = new Reporter([digest], { overflow: 'drop_oldest' });
  // Reported one by one across turns of the event loop, all well inside the window.
  for (let n = 0; n < 5; n++) {
    reporter.report(event(n));
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
  const result = await reporter.drain(5_000);
  assert.equal(result.drained, true);
  assert.deepEqual(batches, [range(0, 3), range(3, 5)], 'first batch capped at maxBatch, the rest in the next');
});
