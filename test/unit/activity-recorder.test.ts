import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ActivityRecorder, type RecorderOptions } from '../../lib/activity/recorder.js';
import { openKeyring } from '../../lib/activity/keyring.js';
import { ChainSigner } from '../../lib/activity/signer.js';
import { verifyRecords } from '../../lib/activity/verify.js';
import type { ActivityEvent } from '../../lib/activity/record.js';
import type { Reporter } from '../../lib/activity/reporter.js';
import { build } from '../../lib/testing/index.js';
import { ActionDataSchema } from '../../lib/wire/action-data.js';

const dir = mkdtempSync(path.join(tmpdir(), 'cafkit-recorder-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const keyring = openKeyring(path.join(dir, 'keys'));

function recorder(options: Partial<RecorderOptions> = {}, sinks = ['file', 'sqlite', 'syslog']) {
  const sent: Array<{ event: ActivityEvent; channels: 'all' | readonly string[] }> = [];
  const reporter = { reportTo: (event: ActivityEvent, channels: 'all' | readonly string[]) => sent.push({ event, channels }), sinkNames: () => sinks } as unknown as Reporter;
  const r = new ActivityRecorder({
    orgId: 201,
    identity: { host: 'test-host', version: '0.0.0' },
    signer: new ChainSigner(keyring, { chainId: 'test-chain' }),
    reporter,
    channels: 'all',
    routes: {},
    reportMemory: false,
    encodeB64Memory: false,
    ...options,
  });
  return { r, sent };
}

function runOne(r: ActivityRecorder, memory?: Record<string, unknown>) {
  const execution = r.open('incident_ops', 'invid:7', new Date().toISOString());
  execution.parsed(ActionDataSchema.parse(build.message({ incident: build.incident({ id: 2095 }), properties: { note_text: 'hi' } })));
  execution.started('Add Note', 'incident-ops', ['validate', 'write']);
  const step = execution.stepStarted('validate');
  execution.stepEnded(step, { output: { ok: true } });
  execution.replied({ message_type: 0, message: 'done', complete: true });
  r.close(execution, 'succeeded', null, memory);
}

test('one record per execution: events in order, declared steps, replies, signature that verifies', async () => {
  const { r, sent } = recorder();
  runOne(r);
  assert.deepEqual(sent.map((s) => s.event.kind), ['received', 'started', 'step_started', 'step_ended', 'reply', 'completed']);
  const record = sent.at(-1)!.event.record!;
  assert.equal(record.status, 'succeeded');
  assert.equal(record.action_name, 'Add Note');
  assert.deepEqual(record.object_ids, { incident: 2095 });
  assert.deepEqual(record.steps.map((s) => [s.name, s.status]), [['validate', 'succeeded'], ['write', 'pending']]);
  assert.deepEqual(record.steps[0]!.output, { ok: true });
  assert.equal(record.memory, null, 'no memory unless report_memory');
  const report = await verifyRecords([record], keyring);
  assert.deepEqual(report.problems, []);
});

test('report_memory adds the context variables; encode_b64_memory base64s them', () => {
  const plain = recorder({ reportMemory: true });
  runOne(plain.r, { properties: { note_text: 'hi' } });
  assert.deepEqual(plain.sent.at(-1)!.event.record!.memory, { properties: { note_text: 'hi' } });
  const encoded = recorder({ reportMemory: true, encodeB64Memory: true });
  runOne(encoded.r, { properties: { note_text: 'hi' } });
  const memory = encoded.sent.at(-1)!.event.record!.memory as string;
  assert.deepEqual(JSON.parse(Buffer.from(memory, 'base64').toString('utf8')), { properties: { note_text: 'hi' } });
});

test('channels: the default for early events, the processor route once it is known, an action route above it', () => {
  const { r, sent } = recorder({ channels: ['sqlite'], routes: { 'incident-ops': ['file', 'syslog'], 'incident-ops/Echo': 'all' } });
  runOne(r);
  assert.deepEqual(sent[0]!.channels, ['sqlite'], 'received: the processor is not known yet');
  assert.deepEqual(sent.at(-1)!.channels, ['file', 'syslog']);
});

test('a record that cannot be signed is logged, and never throws into the action', () => {
  const errors: string[] = [];
  const { r, sent } = recorder({ log: { debug() {}, info() {}, warn() {}, error: (m) => errors.push(m) } });
  const execution = r.open('incident_ops', 'invid:8', new Date().toISOString());
  execution.started('Echo', 'incident-ops');
  const step = execution.stepStarted('bad output');
  execution.stepEnded(step, { output: { n: Number.NaN } });
  assert.doesNotThrow(() => r.close(execution, 'succeeded', null));
  assert.equal(sent.at(-1)!.event.kind, 'step_ended');
  assert.match(errors[0] ?? '', /could not be signed/);
});

test('seal reports each record as it is signed, so sinks get the chain in order; the reply store gets it with the reply instead', () => {
  const { r, sent } = recorder({ replyStore: 'sqlite' });
  const open = (n: number) => {
    const execution = r.open('incident_ops', `invid:${n}`, new Date().toISOString());
    execution.started('Echo', 'incident-ops');
    execution.replied({ message_type: 0, message: 'done', complete: true });
    return execution;
  };
  // Two runs finishing in one order; whatever order their replies are stored and sent in, the sinks saw seq 1 then 2.
  const first = r.seal(open(1), 'succeeded', null);
  const second = r.seal(open(2), 'succeeded', null);
  const finals = sent.filter((s) => s.event.record);
  assert.deepEqual(finals.map((s) => s.event.record!.seq), [1, 2]);
  assert.deepEqual(finals.map((s) => s.channels), [['file', 'syslog'], ['file', 'syslog']]);
  assert.deepEqual([first?.seq, second?.seq], [1, 2], 'returned for the reply store');

  // A route that leaves the reply store out: nothing to store with the reply.
  const routed = recorder({ replyStore: 'sqlite', routes: { 'incident-ops': ['file'] } });
  const execution = routed.r.open('incident_ops', 'invid:3', new Date().toISOString());
  execution.started('Echo', 'incident-ops');
  assert.equal(routed.r.seal(execution, 'succeeded', null), undefined);
  assert.deepEqual(routed.sent.at(-1)!.channels, ['file']);
});
