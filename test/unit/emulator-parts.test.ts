import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ActionDataSchema, selectLabel } from '../../lib/wire/action-data.js';
import { buildActionData, EmulatorStore, newContextToken, seed } from '../../lib/emulator/index.js';
import { Faults } from '../../lib/emulator/faults.js';
import { InvocationLog, InvocationTimeoutError } from '../../lib/emulator/invocations.js';
import { RequestLog, redact } from '../../lib/emulator/requests.js';
import { Router } from '../../lib/emulator/router.js';
import { conditionMet, conditionsMet, type ObjectChange } from '../../lib/emulator/conditions.js';

describe('emulator faults', () => {
  test('down wins, then errors are used up one by one, latency rides along', () => {
    const faults = new Faults({ errors: { count: 2, status: 502 }, latencyMs: 10 });
    assert.deepEqual(faults.decide(), { kind: 'error', status: 502, latencyMs: 10 });
    assert.deepEqual(faults.decide(), { kind: 'error', status: 502, latencyMs: 10 });
    assert.deepEqual(faults.decide(), { kind: 'pass', latencyMs: 10 });
    assert.deepEqual(faults.get(), { errors: { count: 0, status: 502 }, latencyMs: 10 });
    faults.set({ down: true, errors: { count: 1 } });
    assert.deepEqual(faults.decide(), { kind: 'down' });
    assert.deepEqual(faults.get().errors, { count: 1 });
  });

  test('conflicts count down; invalid configurations are refused', () => {
    const faults = new Faults({ conflicts: 1 });
    assert.equal(faults.takeConflict(), true);
    assert.equal(faults.takeConflict(), false);
    assert.throws(() => faults.set({ errors: { count: 1, status: 404 } }));
    assert.throws(() => faults.set({ latency: 5 } as never));
  });
});

describe('emulator request log', () => {
  test('redacts secrets at any depth', () => {
    assert.deepEqual(redact({ email: 'a', password: 'p', nested: [{ api_key_secret: 's', passcode: 'c', keep: 1 }] }), {
      email: 'a',
      password: '[redacted]',
      nested: [{ api_key_secret: '[redacted]', passcode: '[redacted]', keep: 1 }],
    });
  });

  test('indexes keep counting across clears, `since` filters, and the log is bounded', () => {
    const log = new RequestLog(3);
    const entry = { at: 0, method: 'GET', path: '/rest/x', status: 200, contextToken: undefined, auth: 'none' as const };
    for (let i = 0; i < 5; i++) log.record({ ...entry, rawBody: i === 0 ? '{"password":"pw"}' : 'not json' });
    assert.deepEqual(log.list().map((r) => r.index), [2, 3, 4]);
    assert.deepEqual(log.list(4).map((r) => r.index), [4]);
    assert.equal(log.list()[0]?.body, 'not json');
    log.clear();
    assert.deepEqual(log.list(), []);
    assert.equal(log.record(entry).index, 5);
  });
});

describe('emulator invocation log', () => {
  const init = { action_id: 11, action_name: 'Echo', destination: 'incident_ops', object: { type: 'incident' as const, id: 2095 }, incident_id: 2095, properties: {} };

  test('progress, completion, late replies and unknown correlation ids', async () => {
    const log = new InvocationLog();
    const inv = log.create(init, 'tokenABCDEF');
    assert.equal(inv.correlation_id, 'invid:1');
    assert.equal(inv.context_token_hint, 'tokenA');
    assert.equal(log.forToken('tokenABCDEF'), 1);

    const done = log.waitFor(inv.id, { status: 'completed', timeoutMs: 5000 });
    assert.equal(log.reply('invid:1', { message_type: 0, message: 'working', complete: false }, 'incident_ops'), true);
    assert.equal(log.get(1)?.status, 'pending');
    log.reply('invid:1', { message_type: 0, message: 'done', complete: true, results: { a: 1 } }, 'incident_ops');
    const completed = await done;
    assert.equal(completed.status, 'completed');
    assert.deepEqual(completed.messages.map((m) => m.text), ['working', 'done']);
    assert.deepEqual(completed.messages[1]?.results, { a: 1 });

    log.reply('invid:1', { message_type: 1, message: 'again', complete: true }, 'incident_ops');
    assert.equal(log.get(1)?.status, 'completed');
    assert.equal(log.get(1)?.duplicateCompletions, 1);
    assert.equal(log.reply('invid:77', { message_type: 0, message: '?', complete: true }, 'incident_ops'), false);
    assert.equal(log.reply(undefined, { message_type: 0, message: '??', complete: true }, 'incident_ops'), false);
    assert.deepEqual(log.unmatched().map((u) => u.correlation_id), ['invid:77', undefined]);
  });

  test('waitFor rejects at once for the other final status, and after its timeout with the invocation', async () => {
    const log = new InvocationLog();
    const inv = log.create(init, 't1');
    log.reply(inv.correlation_id, { message_type: 1, message: 'boom', complete: true }, 'incident_ops');
    await assert.rejects(log.waitFor(inv.id, { status: 'completed' }), /ended "error"/);
    assert.equal((await log.waitFor(inv.id)).status, 'error');

    const pending = log.create(init, 't2');
    await assert.rejects(log.waitFor(pending.id, { timeoutMs: 10 }), (error: unknown) => {
      assert.ok(error instanceof InvocationTimeoutError);
      assert.equal(error.invocation.id, pending.id);
      assert.match(error.message, /did not reach "done" within 10 ms.*"status":"pending"/);
      return true;
    });
    await assert.rejects(log.waitFor(999), /no invocation 999/);
  });

  test('waitFor can wait for replies after completion, and close rejects waiters', async () => {
    const log = new InvocationLog();
    const inv = log.create(init, 't');
    const two = log.waitFor(inv.id, { minMessages: 2, timeoutMs: 5000 });
    log.reply(inv.correlation_id, { message_type: 0, message: 'done', complete: true }, 'x');
    log.reply(inv.correlation_id, { message_type: 0, message: 'late', complete: false }, 'x');
    assert.equal((await two).messages.length, 2);

    const other = log.create(init, 'u');
    const waiting = log.waitFor(other.id, { timeoutMs: 5000 });
    log.close();
    await assert.rejects(waiting, /closed/);
  });

  test('lists newest first, by incident; completeWithoutReply marks it completed', () => {
    const log = new InvocationLog();
    log.create(init, 'a');
    log.create({ ...init, incident_id: 2096 }, 'b');
    assert.deepEqual(log.list().map((i) => i.id), [2, 1]);
    assert.deepEqual(log.list({ incident: 2096 }).map((i) => i.id), [2]);
    log.completeWithoutReply(1);
    assert.equal(log.get(1)?.status, 'completed');
  });
});

describe('emulator router', () => {
  test('matches templates, decodes parameters, tells 405 from 404', () => {
    const router = new Router().add('GET', '/rest/orgs/:org/types/:type', () => ({})).add('PUT', '/rest/orgs/:org/types/:type', () => ({}));
    const found = router.match('GET', '/rest/orgs/201/types/action%20invocation/');
    assert.equal(found.kind, 'found');
    assert.deepEqual(found.kind === 'found' && found.params, { org: '201', type: 'action invocation' });
    assert.deepEqual(router.match('DELETE', '/rest/orgs/201/types/x'), { kind: 'wrong-method', allowed: ['GET', 'PUT'] });
    assert.deepEqual(router.match('GET', '/rest/orgs/201/types/x/y'), { kind: 'none' });
  });
});

describe('emulator action message', () => {
  test('is a valid ActionDataDTO with type_info for labels', () => {
    const store = new EmulatorStore(seed());
    const body = buildActionData(store, {
      action: store.action('Set Severity'),
      incident: store.incident(2095),
      objectType: 'incident',
      objectId: 2095,
      properties: { severity: 6 },
      user: store.invoker(),
    });
    const data = ActionDataSchema.parse(body);
    assert.equal(data.action_id, 13);
    assert.equal(data.type_id, 0);
    assert.equal(selectLabel(data, 'incident', 'severity_code', data.incident?.['severity_code']), 'Low');
    assert.equal(selectLabel(data, 'actioninvocation', 'severity', data.properties['severity']), 'High');
    for (const key of ['task', 'artifact', 'note', 'milestone', 'attachment'] as const) assert.equal(data[key], null);
  });

  test('carries the invoked note or artifact in full, or an id-only stand-in for objects the emulator does not store', () => {
    const store = new EmulatorStore(seed());
    const note = store.addNote(2095, { text: 'escalate me' }, 1);
    const onNote = store.createAction({ name: 'Escalate', type: 1, object_type: 'note', message_destinations: ['incident_ops'] });
    const body = buildActionData(store, { action: onNote, incident: store.incident(2095), objectType: 'note', objectId: note.id, properties: {}, user: store.invoker() });
    assert.equal(body.note?.['text'], 'escalate me');
    assert.equal(body.type_id, 2);
    const onArtifact = store.createAction({ name: 'Scan', type: 1, object_type: 'artifact', message_destinations: ['incident_ops'] });
    const artifact = buildActionData(store, { action: onArtifact, incident: store.incident(2095), objectType: 'artifact', objectId: 1, properties: {}, user: store.invoker() });
    assert.deepEqual(artifact.artifact, store.artifact(2095, 1));
    assert.equal(selectLabel(ActionDataSchema.parse(artifact), 'artifact', 'type', artifact.artifact?.['type']), 'IP Address');
    assert.throws(() => buildActionData(store, { action: onArtifact, incident: store.incident(2095), objectType: 'artifact', objectId: 77, properties: {}, user: store.invoker() }), /artifact 77/);
    const onMilestone = store.createAction({ name: 'Milestone', type: 1, object_type: 'milestone', message_destinations: ['incident_ops'] });
    const milestone = buildActionData(store, { action: onMilestone, incident: store.incident(2095), objectType: 'milestone', objectId: 77, properties: {}, user: store.invoker() });
    assert.deepEqual(milestone.milestone, { id: 77, inc_id: 2095 });
  });
});

describe('emulator context token', () => {
  test('is three base64url segments, different every time', () => {
    const a = newContextToken();
    assert.match(a, /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/);
    assert.notEqual(a.slice(0, 6), newContextToken().slice(0, 6));
  });
});

describe('emulator action conditions', () => {
  const type = seed().types['incident']!;
  const incident = seed().incidents[0]! as unknown as Record<string, unknown>;
  const changedTo = (after: Record<string, unknown>) => ({ before: incident, after: { ...incident, ...after } });
  const met = (field_name: string, method: string, value: unknown, change: ObjectChange = changedTo({})) =>
    conditionMet({ field_name, method, value }, type, change);

  test('compare values, select labels and changes', () => {
    assert.equal(met('severity_code', 'equals', 4), true);
    assert.equal(met('incident.severity_code', 'equals', 'Low'), true);
    assert.equal(met('severity_code', 'not_equals', 'Low'), false);
    assert.equal(met('severity_code', 'changed', undefined), false);
    assert.equal(met('severity_code', 'changed', undefined, changedTo({ severity_code: 5 })), true);
    assert.equal(met('severity_code', 'changed_to', 'High', changedTo({ severity_code: 5 })), false);
    assert.equal(met('severity_code', 'in', ['Medium', 'High'], changedTo({ severity_code: 5 })), true);
    assert.equal(met('severity_code', 'gt', 4, changedTo({ severity_code: 5 })), true);
    assert.equal(met('name', 'contains', 'login'), true);
    assert.equal(met('description', 'not_has_a_value', undefined, changedTo({ description: null })), true);
    assert.equal(met('properties.region', 'equals', 'EU', changedTo({ properties: { region: 'EU' } })), true);
    assert.equal(met('name', 'object_added', undefined, { before: undefined, after: incident }), true);
    assert.equal(met('name', 'due_within', 1), false);
  });

  test('no conditions always hold; all and any combine', () => {
    const yes = { field_name: 'severity_code', method: 'equals', value: 4 };
    const no = { field_name: 'severity_code', method: 'equals', value: 6 };
    assert.equal(conditionsMet({ conditions: [], logic_type: 'all' }, type, changedTo({})), true);
    assert.equal(conditionsMet({ conditions: [yes, no], logic_type: 'all' }, type, changedTo({})), false);
    assert.equal(conditionsMet({ conditions: [yes, no], logic_type: 'any' }, type, changedTo({})), true);
  });
});
