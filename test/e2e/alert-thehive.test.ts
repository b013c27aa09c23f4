import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ActivityRecorder } from '../../lib/activity/recorder.js';
import { openKeyring } from '../../lib/activity/keyring.js';
import { ChainSigner } from '../../lib/activity/signer.js';
import { Reporter } from '../../lib/activity/reporter.js';
import type { Execution } from '../../lib/activity/execution.js';
import type { ActivityEvent } from '../../lib/activity/record.js';
import { TheHiveChannelSchema, type TheHiveChannel } from '../../lib/config/alerting.js';
import { silentLog, type Log } from '../../lib/log/log.js';
import { activityTitle } from '../../lib/sinks/render.js';
import { canonicalRecordText } from '../../lib/activity/signer.js';
import { createTheHiveSink, OUTCOME_TASK, REPLIES_TASK, type TheHiveSink } from '../../lib/sinks/thehive.js';
import { build } from '../../lib/testing/index.js';
import { ActionDataSchema } from '../../lib/wire/action-data.js';
import { certsDir, startTheHiveDouble, type HiveCall, type TheHiveDouble } from '../support/thehive-double.js';
import { eventually } from '../support/stack.js';

const API_KEY = 'hive-key-0123456789abcdef';
const ORG = 'cafkit-soc';
const dir = mkdtempSync(path.join(tmpdir(), 'cafkit-thehive-'));
const keyring = openKeyring(path.join(dir, 'keys'));
const signer = new ChainSigner(keyring, { chainId: 'thehive-test' });
let hive: TheHiveDouble;
let homes = 0;

before(async () => {
  hive = await startTheHiveDouble({ apiKey: API_KEY, organisation: ORG });
});
after(async () => {
  await hive?.stop();
  rmSync(dir, { recursive: true, force: true });
});

function newHome(): string {
  return path.join(dir, `home-${++homes}`);
}

function channel(overrides: Record<string, unknown> = {}, url = hive.url): TheHiveChannel {
  return TheHiveChannelSchema.parse({
    enable: true,
    url,
    api_key: API_KEY,
    organisation: ORG,
    severity: 3,
    tlp: 1,
    pap: 2,
    tags: ['soc'],
    timeout_ms: 5_000,
    tls: { ca: path.join(certsDir, 'ca.pem') },
    ...overrides,
  });
}

/** A recorder whose events go to `emit` (a real Reporter, or a list). */
function recorder(emit: (event: ActivityEvent) => void): ActivityRecorder {
  const reporter = { reportTo: (event: ActivityEvent) => emit(event), report: emit, sinkNames: () => ['thehive'] } as unknown as Reporter;
  return new ActivityRecorder({ orgId: 201, identity: { host: 'test-host', version: '0.0.0' }, signer, reporter, always: ['thehive'], reportMemory: false, encodeB64Memory: false });
}

function open(r: ActivityRecorder, incident: number, correlation: string | null): Execution {
  const execution = r.open('incident_ops', correlation, new Date().toISOString());
  execution.parsed(ActionDataSchema.parse(build.message({ incident: build.incident({ id: incident }) })));
  return execution;
}

/** The steps of one execution, one transition each, to be interleaved with other executions'. */
function script(r: ActivityRecorder, incident: number, steps: string[], failAt?: string): Array<() => void> {
  let execution!: Execution;
  const moves: Array<() => void> = [
    () => {
      execution = open(r, incident, `invid:${incident}`);
      execution.started('Add Note', 'incident-ops', steps);
    },
  ];
  for (const [i, name] of steps.entries()) {
    let step: ReturnType<Execution['stepStarted']>;
    moves.push(() => (step = execution.stepStarted(name)));
    moves.push(() => execution.stepEnded(step, name === failAt ? { error: `${name} broke` } : { output: { n: i, name } }));
    if (i === 1) moves.push(() => execution.replied({ message_type: 0, message: `half way on ${incident}`, complete: false }));
  }
  moves.push(() => r.close(execution, failAt ? 'failed' : 'succeeded', failAt ? `${failAt} broke` : null));
  return moves;
}

async function runThroughReporter(sink: TheHiveSink, drive: (r: ActivityRecorder) => void, home: string): Promise<Reporter> {
  const reporter = new Reporter([sink], { spillDir: path.join(home, 'spill'), retry: { initialMs: 5, maxMs: 40 }, log: silentLog });
  drive(recorder((event) => reporter.report(event)));
  const { drained } = await reporter.drain(30_000);
  assert.ok(drained, `every event reached TheHive: ${JSON.stringify(reporter.stats())}`);
  return reporter;
}

function caseWithTag(tag: string) {
  const found = [...hive.cases.values()].filter((c) => c.tags.includes(tag));
  assert.equal(found.length, 1, `one case tagged ${tag}`);
  return found[0]!;
}

/** A readable name for each successful call of a case: `case`, `task validate`, `log validate`, `status validate Completed`, `close Other`. */
function callsOfCase(caseId: string): string[] {
  const title = (call: HiveCall) => hive.tasks.get(call.taskId!)?.title;
  return hive.calls
    .filter((c) => c.caseId === caseId && c.status < 300 && !c.path.startsWith('/api/v1/query'))
    .map((c) => {
      const body = c.body as { status?: string };
      if (c.path === '/api/v1/case') return 'case';
      if (c.method === 'PATCH' && c.path.startsWith('/api/v1/case/')) return `close ${body.status}`;
      if (c.path.endsWith('/task')) return `task ${title(c)}`;
      if (c.path.endsWith('/log')) return `log ${title(c)}`;
      return `status ${title(c)} ${body.status}`;
    });
}

test('an execution becomes one tagged case: a task per step with its log and status, the replies, the outcome, closed with the summary', async () => {
  const home = newHome();
  const sink = createTheHiveSink(channel(), { log: silentLog, home });
  let executionId = '';
  try {
    await runThroughReporter(sink, (r) => {
      const execution = open(r, 2095, 'invid:7');
      executionId = execution.executionId;
      execution.started('Add Note', 'incident-ops', ['validate', 'write', 'notify']);
      const validate = execution.stepStarted('validate');
      execution.stepEnded(validate, { output: { ok: true, note: 'x`y' } });
      execution.replied({ message_type: 0, message: 'validated', complete: false });
      const write = execution.stepStarted('write');
      execution.stepEnded(write, { error: 'REST 409: conflict' });
      execution.replied({ message_type: 2, message: 'write failed', complete: true });
      r.close(execution, 'failed', 'REST 409: conflict');
    }, home);
  } finally {
    await sink.close();
  }
  const hiveCase = caseWithTag(`execution:${executionId}`);
  assert.equal(hiveCase.title, 'cafkit: Add Note on incident 2095');
  assert.deepEqual(hiveCase.tags, ['cafkit', `execution:${executionId}`, 'correlation:invid:7', 'soc']);
  assert.deepEqual([hiveCase.severity, hiveCase.tlp, hiveCase.pap], [3, 1, 2]);
  assert.match(hiveCase.description, /\*\*Objects:\*\* `incident 2095`/);
  assert.match(hiveCase.description, /\*\*User:\*\* `analyst@example.com`/);
  assert.match(hiveCase.description, /\*\*Processor:\*\* `incident-ops`/);

  const tasks = hive.tasksOf(hiveCase._id);
  assert.deepEqual(tasks.map((t) => [t.title, t.status, t.flag]), [
    ['validate', 'Completed', false],
    [REPLIES_TASK, 'Completed', false],
    ['write', 'Cancel', true],
    [OUTCOME_TASK, 'Completed', true],
  ], 'notify never ran: no task');
  const logOf = (title: string) => hive.logsOf(tasks.find((t) => t.title === title)!._id).map((l) => l.message);
  const [validateLog] = logOf('validate');
  assert.match(validateLog!, /succeeded/);
  assert.deepEqual(JSON.parse(validateLog!.match(/```json\n([\s\S]*?)\n```/)![1]!), { ok: true, note: 'x`y' });
  assert.match(logOf('write')[0]!, /failed[\s\S]*REST 409: conflict/);
  assert.deepEqual(logOf(REPLIES_TASK), ['**info**: validated', '**error** (final): write failed']);

  const record = finalRecord(hiveCase._id);
  const [outcome] = logOf(OUTCOME_TASK);
  assert.ok(outcome!.includes(activityTitle(record)), 'the summary is logged');
  assert.ok(outcome!.includes(canonicalRecordText(record)), 'the signed record is logged as signed');
  assert.equal(hiveCase.status, 'Indeterminate');
  assert.equal(hiveCase.impactStatus, 'NotApplicable');
  assert.equal(hiveCase.summary, activityTitle(record));
  assert.equal(hiveCase.flag, true, 'a failed run is flagged');
  assert.deepEqual(callsOfCase(hiveCase._id).slice(-1), ['close Indeterminate'], 'closed last');
});

/** The record the sink logged, read back from the outcome log's JSON block. */
function finalRecord(caseId: string) {
  const outcomeTask = hive.tasksOf(caseId).find((t) => t.title === OUTCOME_TASK)!;
  const message = hive.logsOf(outcomeTask._id)[0]!.message;
  return JSON.parse(message.match(/```json\n([\s\S]*?)\n```/)![1]!);
}

test('20 interleaved executions with random latency and injected 500s: each case gets its calls in event order, nothing twice', async () => {
  const home = newHome();
  const sink = createTheHiveSink(channel(), { log: silentLog, home });
  const incidents = Array.from({ length: 20 }, (_, i) => 5000 + i);
  const steps = ['lookup', 'enrich', 'write'];
  hive.latencyMs = () => Math.random() * 5;
  const failedBefore = hive.calls.filter((c) => c.status === 500).length;
  hive.fail = (call) => call.seq % 9 === 0;
  let reporter: Reporter;
  try {
    reporter = await runThroughReporter(sink, (r) => {
      const scripts = incidents.map((n) => script(r, n, steps, n % 5 === 0 ? 'enrich' : undefined));
      // Advance a random execution one transition at a time, as concurrent handlers would.
      while (scripts.some((s) => s.length > 0)) {
        const live = scripts.filter((s) => s.length > 0);
        live[Math.floor(Math.random() * live.length)]!.shift()!();
      }
    }, home);
  } finally {
    hive.latencyMs = undefined;
    hive.fail = undefined;
    await sink.close();
  }
  assert.ok(hive.calls.filter((c) => c.status === 500).length > failedBefore, 'some calls failed and were retried');
  assert.ok(reporter.stats().thehive!.failed_attempts > 0);
  for (const n of incidents) {
    const hiveCase = caseWithTag(`correlation:invid:${n}`);
    const failed = n % 5 === 0;
    const expected = [
      'case',
      'task lookup', 'log lookup', 'status lookup Completed',
      'task enrich', 'log enrich', `status enrich ${failed ? 'Cancel' : 'Completed'}`,
      `task ${REPLIES_TASK}`, `log ${REPLIES_TASK}`,
      'task write', 'log write', 'status write Completed',
      `task ${OUTCOME_TASK}`, `log ${OUTCOME_TASK}`, `status ${OUTCOME_TASK} Completed`,
      `status ${REPLIES_TASK} Completed`,
      `close ${failed ? 'Indeterminate' : 'Other'}`,
    ];
    assert.deepEqual(callsOfCase(hiveCase._id), expected, `calls of incident ${n} in event order`);
    assert.equal(hive.tasksOf(hiveCase._id).length, 5, 'no duplicate task');
  }
});

test('a restarted sink on the same home finishes the same case: no second case, task or log, replays skipped', async () => {
  const home = newHome();
  const events: ActivityEvent[] = [];
  const moves = script(recorder((event) => events.push(event)), 7001, ['one', 'two']);
  for (const move of moves) move();
  const first = createTheHiveSink(channel(), { log: silentLog, home });
  let restarted: TheHiveSink | undefined;
  try {
    // received, started, step_started one, step_ended one: its log is written, then its status update fails.
    for (const event of events.slice(0, 3)) await first.deliver(event);
    hive.fail = (call) => call.method === 'PATCH';
    await assert.rejects(first.deliver(events[3]!), /500/);
    hive.fail = undefined;
    await first.close();

    restarted = createTheHiveSink(channel(), { log: silentLog, home });
    // The failed event again, some delivered ones replayed, then the rest.
    for (const event of [events[3]!, ...events.slice(0, 4), ...events.slice(4), events.at(-1)!]) await restarted.deliver(event);
  } finally {
    await first.close();
    await restarted?.close();
  }
  const hiveCase = caseWithTag('correlation:invid:7001');
  const tasks = hive.tasksOf(hiveCase._id);
  assert.deepEqual(tasks.map((t) => t.title).sort(), [OUTCOME_TASK, REPLIES_TASK, 'one', 'two'].sort());
  for (const task of tasks) assert.equal(hive.logsOf(task._id).length, 1, `one log on ${task.title}`);
  assert.equal(hiveCase.status, 'Other');
  assert.equal(callsOfCase(hiveCase._id).filter((c) => c.startsWith('close')).length, 1, 'closed once');
});

test('a case created by a run that died before recording it is found by its execution tag, its task by title and start', async () => {
  const home = newHome();
  const events: ActivityEvent[] = [];
  for (const move of script(recorder((event) => events.push(event)), 7002, ['only'])) move();
  const byKind = (kind: string) => events.filter((e) => e.kind === kind);
  // The dead run got as far as the case and the step's task, and recorded neither.
  const executionId = events[0]!.execution_id;
  const dead = hive.seedCase({ title: 'cafkit: Add Note on incident 7002', description: 'created before the crash', tags: ['cafkit', `execution:${executionId}`] });
  const startedStep = byKind('step_started')[0]!.step!;
  const deadTask = await fetchCreateTask(dead._id, startedStep.name, Date.parse(startedStep.started_at!));
  await eventually(() => Date.now() > Date.parse(events.at(-1)!.at) || undefined, 'the clock to pass the last event', 1_000);

  const sink = createTheHiveSink(channel(), { log: silentLog, home });
  try {
    for (const event of events) await sink.deliver(event);
  } finally {
    await sink.close();
  }
  const hiveCase = caseWithTag(`execution:${executionId}`);
  assert.equal(hiveCase._id, dead._id, 'the found case was used');
  const steps = hive.tasksOf(dead._id).filter((t) => t.title === 'only');
  assert.deepEqual(steps.map((t) => t._id), [deadTask], 'the found task was used');
  assert.equal(hive.logsOf(deadTask).length, 1);
  assert.equal(hiveCase.status, 'Other');
});

/** Creates a task as the dead run did, through the double's API. */
async function fetchCreateTask(caseId: string, title: string, startDate: number): Promise<string> {
  const { request } = await import('node:https');
  const { readFileSync } = await import('node:fs');
  return new Promise((resolve, reject) => {
    const req = request(`${hive.url}/api/v1/case/${encodeURIComponent(caseId)}/task`, {
      method: 'POST',
      ca: readFileSync(path.join(certsDir, 'ca.pem')),
      headers: { authorization: `Bearer ${API_KEY}`, 'x-organisation': ORG, 'content-type': 'application/json' },
    }, (res) => {
      let text = '';
      res.on('data', (c) => (text += c));
      res.on('end', () => (res.statusCode === 201 ? resolve((JSON.parse(text) as { _id: string })._id) : reject(new Error(`${res.statusCode} ${text}`))));
    });
    req.on('error', reject);
    req.end(JSON.stringify({ title, status: 'InProgress', startDate }));
  });
}

test('a creation whose answer never came (timeout) is looked for by its tag on the retry, not made twice', async () => {
  const sink = createTheHiveSink(channel({ timeout_ms: 100 }), { log: silentLog, home: newHome() });
  const events: ActivityEvent[] = [];
  for (const move of script(recorder((event) => events.push(event)), 7008, ['slow'])) move();
  const executionId = events[0]!.execution_id;
  const tagged = () => [...hive.cases.values()].filter((c) => c.tags.includes(`execution:${executionId}`));
  // TheHive makes the case, but answers after the sink has given up.
  hive.latencyMs = (call) => (call.method === 'POST' && call.path === '/api/v1/case' ? 400 : 0);
  try {
    await assert.rejects(sink.deliver(events[1]!), /POST \/api\/v1\/case: no answer within 100 ms/);
    await eventually(() => tagged().length === 1 || undefined, 'the late case to exist', 5_000);
    hive.latencyMs = undefined;
    for (const event of events.slice(1)) await sink.deliver(event);
  } finally {
    hive.latencyMs = undefined;
    await sink.close();
  }
  assert.equal(tagged().length, 1, 'one case');
  assert.equal(tagged()[0]!.status, 'Other');
  assert.deepEqual(hive.tasksOf(tagged()[0]!._id).map((t) => t.title), ['slow', OUTCOME_TASK]);
});

test('with statuses, only final events of those statuses are taken: the case is opened and closed from the record', async () => {
  const home = newHome();
  const sink = createTheHiveSink(channel({ statuses: ['failed', 'dead_lettered'] }), { log: silentLog, home });
  let deadId = '';
  try {
    await runThroughReporter(sink, (r) => {
      for (const move of script(r, 7003, ['a'])) move();
      for (const move of script(r, 7004, ['a'], 'a')) move();
      // Dead-lettered before it started: only the final event exists.
      const dead = open(r, 7005, null);
      deadId = dead.executionId;
      r.close(dead, 'dead_lettered', 'unparseable message');
    }, home);
  } finally {
    await sink.close();
  }
  assert.equal([...hive.cases.values()].filter((c) => c.tags.includes('correlation:invid:7003')).length, 0, 'a success is not taken');
  const failed = caseWithTag('correlation:invid:7004');
  assert.equal(failed.title, 'cafkit: Add Note on incident 7004');
  assert.deepEqual(hive.tasksOf(failed._id).map((t) => t.title), [OUTCOME_TASK], 'no live steps: the record tells them');
  assert.equal(failed.status, 'Indeterminate');
  const dead = caseWithTag(`execution:${deadId}`);
  assert.deepEqual(dead.tags, ['cafkit', `execution:${deadId}`, 'soc'], 'no correlation id: no correlation tag');
  assert.equal(dead.status, 'Indeterminate');
  assert.match(dead.summary ?? '', /dead lettered/);
});

test('a wrong API key fails the delivery with 401, naming the call and not the key', async () => {
  const wrongKey = 'wrong-key-abcdef-123456';
  const sink = createTheHiveSink(channel({ api_key: wrongKey }), { log: silentLog, home: newHome() });
  const events: ActivityEvent[] = [];
  for (const move of script(recorder((event) => events.push(event)), 7006, [])) move();
  try {
    const error = await sink.deliver(events[1]!).then(() => undefined, (e: Error) => e);
    assert.ok(error, 'delivery threw');
    assert.match(error.message, /thehive https:\/\/127\.0\.0\.1:\d+: POST \/api\/v1\/case: 401 AuthenticationError: Authentication failure/);
    assert.ok(!error.message.includes(wrongKey) && !error.message.includes(API_KEY));
  } finally {
    await sink.close();
  }
  assert.equal([...hive.cases.values()].filter((c) => c.tags.includes('correlation:invid:7006')).length, 0);
});

test('a server whose certificate the CA did not sign is refused before any request', async () => {
  const rogue = await startTheHiveDouble({ apiKey: API_KEY, cert: 'rogue.pem', key: 'rogue-key.pem' });
  const logged: string[] = [];
  const log: Log = { ...silentLog, warn: (m) => logged.push(m) };
  const sink = createTheHiveSink(channel({}, rogue.url), { log, home: newHome() });
  const events: ActivityEvent[] = [];
  for (const move of script(recorder((event) => events.push(event)), 7007, [])) move();
  try {
    await assert.rejects(sink.deliver(events[1]!), /thehive https:\/\/127\.0\.0\.1:\d+: POST \/api\/v1\/case: .*(certificate|self.signed|issuer)/i);
    assert.equal(rogue.calls.length, 0, 'no request reached the rogue server');
    assert.deepEqual(logged, [], 'verification was on: nothing insecure logged');
  } finally {
    await sink.close();
    await rogue.stop();
  }
});

test('plain http is refused towards anything but loopback (the key would travel in clear)', () => {
  assert.throws(() => createTheHiveSink(channel({}, 'http://thehive.example.com:9000'), { log: silentLog, home: newHome() }), /use https/);
});
