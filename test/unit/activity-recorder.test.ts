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
import { alertSelector } from '../../lib/activity/alert-selection.js';
import { AlertRuleSchema, type AlertRule } from '../../lib/config/alerting.js';

const rule = (flags: Partial<AlertRule>): AlertRule => AlertRuleSchema.parse(flags);

const dir = mkdtempSync(path.join(tmpdir(), 'cafkit-recorder-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const keyring = openKeyring(path.join(dir, 'keys'));

function recorder(options: Partial<RecorderOptions> = {}, sinks = ['file', 'sqlite', 'syslog', 'email']) {
  const sent: Array<{ event: ActivityEvent; channels: 'all' | readonly string[] }> = [];
  const reporter = { reportTo: (event: ActivityEvent, channels: 'all' | readonly string[]) => sent.push({ event, channels }), sinkNames: () => sinks } as unknown as Reporter;
  const r = new ActivityRecorder({
    orgId: 201,
    identity: { host: 'test-host', version: '0.0.0' },
    signer: new ChainSigner(keyring, { chainId: 'test-chain' }),
    reporter,
    always: ['file', 'sqlite'],
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

test('alert channels: none before the processor is known, then the rule for the processor or the action', () => {
  const alerts = alertSelector({ alert_all: false, rules: { 'incident-ops': rule({ syslog: true }), 'incident-ops/Echo': rule({ all: true }) } }, ['syslog', 'email']);
  const { r, sent } = recorder({ alerts });
  runOne(r);
  assert.deepEqual(sent[0]!.channels, ['file', 'sqlite'], 'received: the processor is not known yet');
  assert.deepEqual(sent.at(-1)!.channels, ['file', 'sqlite', 'syslog'], 'Add Note: the processor rule');
  assert.deepEqual(alerts('incident-ops', 'Echo'), ['syslog', 'email'], 'the action rule, whose all flag overrides');
  assert.deepEqual(alerts('helpdesk', 'Create Ticket'), [], 'no rule: no alert channel');
});

test("alert_all sends to every running channel, whatever the rules; a rule never selects a channel that is not running", () => {
  const all = alertSelector({ alert_all: true, rules: { 'incident-ops': rule({ syslog: true }) } }, ['email', 'kafka']);
  assert.deepEqual(all(null, null), ['email', 'kafka']);
  assert.deepEqual(all('incident-ops', 'Add Note'), ['email', 'kafka']);
  const some = alertSelector({ alert_all: false, rules: { 'incident-ops': rule({ slack: true, email: true }) } }, ['email']);
  assert.deepEqual(some('incident-ops', 'Add Note'), ['email']);
  const allFlag = alertSelector({ alert_all: false, rules: { 'incident-ops': rule({ all: true, email: false }) } }, ['email', 'slack']);
  assert.deepEqual(allFlag('incident-ops', 'Add Note'), ['email', 'slack'], "a rule's all flag overrides its per-channel choice");
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
  assert.deepEqual(finals.map((s) => s.channels), [['file'], ['file']]);
  assert.deepEqual([first?.seq, second?.seq], [1, 2], 'returned for the reply store');

  // Without a durable reply store, the record goes to every sink now.
  const plain = recorder({ replyStore: undefined });
  const execution = plain.r.open('incident_ops', 'invid:3', new Date().toISOString());
  execution.started('Echo', 'incident-ops');
  assert.equal(plain.r.seal(execution, 'succeeded', null), undefined);
  assert.deepEqual(plain.sent.at(-1)!.channels, ['file', 'sqlite']);
});

