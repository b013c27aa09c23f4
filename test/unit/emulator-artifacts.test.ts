import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import type { Destination, SendOptions, StateListener, Subscription, Transport, TransportState } from '../../lib/broker/transport.js';
import { parseDestination } from '../../lib/broker/transport.js';
import { ARTIFACT_TYPE_IDS, ARTIFACT_TYPES, EmulatorStore, PlatformError, SEED_IDS, SEED_SAMPLE_BYTES, seed } from '../../lib/emulator/index.js';
import { AutomaticActions } from '../../lib/emulator/automatic.js';
import { InvocationLog } from '../../lib/emulator/invocations.js';
import { TriggerSide } from '../../lib/emulator/trigger.js';
import { ActionDataSchema, selectLabel } from '../../lib/wire/action-data.js';

function assertPlatformError(fn: () => unknown, status: number, message: RegExp): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof PlatformError, `expected a PlatformError, got ${String(error)}`);
    assert.equal(error.status, status);
    assert.match(error.message, message);
    return true;
  });
}

/** Records what the trigger side sends; always connected. */
class SentMessages implements Transport {
  state: TransportState = 'connected';
  readonly sent: Array<{ destination: Destination; body: string; options: SendOptions }> = [];
  async connect(): Promise<void> {}
  subscribe(destination: Destination): Subscription {
    return { destination, ready: Promise.resolve(), unsubscribe: async () => {} };
  }
  async send(destination: string | Destination, body: string, options: SendOptions = {}): Promise<void> {
    this.sent.push({ destination: parseDestination(destination), body, options });
  }
  async close(): Promise<void> {}
  onState(_listener: StateListener): () => void {
    return () => {};
  }
  body(index: number) {
    return ActionDataSchema.parse(JSON.parse(this.sent[index]!.body));
  }
  token(index: number): string {
    return this.sent[index]!.options.headers!['Co3ContextToken']!;
  }
}

async function setup(options: { loopGuard?: boolean; loopLimit?: number } = {}) {
  const store = new EmulatorStore(seed(201));
  const invocations = new InvocationLog();
  const transport = new SentMessages();
  const trigger = new TriggerSide({ store, invocations, transport });
  await trigger.start();
  const automatic = new AutomaticActions({ store, trigger, invocations, ...options });
  return { store, invocations, transport, trigger, automatic };
}

describe('emulator artifacts', () => {
  test('the seed: IP, DNS name and a malware sample with its bytes on incident 2095; the artifact type lists the platform ids', () => {
    const store = new EmulatorStore(seed());
    assert.deepEqual(store.artifacts(2095).map((a) => [a.id, a.type, a.value]), [
      [SEED_IDS.artifacts.ip, ARTIFACT_TYPE_IDS.ipAddress, '10.1.2.3'],
      [SEED_IDS.artifacts.dns, ARTIFACT_TYPE_IDS.dnsName, 'evil.example.com'],
      [SEED_IDS.artifacts.sample, ARTIFACT_TYPE_IDS.malwareSample, 'sample.exe'],
    ]);
    const sample = store.artifact(2095, SEED_IDS.artifacts.sample);
    assert.deepEqual(sample.attachment, {
      name: 'sample.exe',
      content_type: 'application/octet-stream',
      size: SEED_SAMPLE_BYTES.length,
      sha256: createHash('sha256').update(SEED_SAMPLE_BYTES).digest('hex'),
    });
    assert.deepEqual(store.artifactContent(2095, sample.id), SEED_SAMPLE_BYTES);
    const typeField = store.field('artifact', 'type');
    assert.deepEqual(typeField.values.map((v) => [v.value, v.label]), ARTIFACT_TYPES.map((t) => [t.id, t.name]));
    assert.deepEqual(store.artifacts(2096), []);
  });

  test('create takes the type by id, name or {name}; file types must go through files', () => {
    const store = new EmulatorStore(seed());
    assert.equal(store.createArtifact(2096, { type: 1, value: '10.0.0.1' }, 1).type, 1);
    assert.equal(store.createArtifact(2096, { type: 'DNS Name', value: 'a.example' }, 1).type, 2);
    const url = store.createArtifact(2096, { type: { name: 'URL' }, value: 'https://x.example/', description: { format: 'html', content: '<b>phish</b>' }, extra: 'kept' }, 1);
    assert.deepEqual([url.type, url.description, url.inc_id, url.attachment, url['extra']], [3, '<b>phish</b>', 2096, null, 'kept']);
    assertPlatformError(() => store.createArtifact(2096, { type: 'Carrier Pigeon', value: 'x' }, 1), 400, /^field "type": "Carrier Pigeon" is not an artifact type/);
    assertPlatformError(() => store.createArtifact(2096, { type: 'Malware Sample', value: 'x.exe' }, 1), 400, /hold a file; create them with POST \/incidents\/2096\/artifacts\/files/);
    assertPlatformError(() => store.createArtifact(4242, { type: 1, value: 'x' }, 1), 404, /incident 4242/);

    const file = store.createFileArtifact(2096, { type: 'Email Attachment', value: 'invoice.pdf', content_base64: Buffer.from('%PDF-1.4').toString('base64'), content_type: 'application/pdf' }, 1);
    assert.equal(file.attachment?.size, 8);
    assert.equal(store.artifactContent(2096, file.id).toString(), '%PDF-1.4');
    assertPlatformError(() => store.createFileArtifact(2096, { type: 'IP Address', value: 'x', content_base64: 'AA==' }, 1), 400, /hold no file/);
    assertPlatformError(() => store.artifactContent(2096, url.id), 404, /holds no file/);
  });

  test('update keeps what is left out, takes rich text, and refuses switching between file and non-file types', () => {
    const store = new EmulatorStore(seed());
    const ip = store.artifact(2095, SEED_IDS.artifacts.ip);
    const updated = store.updateArtifact(2095, ip.id, { ...ip, description: { format: 'text', content: 'Host: db-01' }, properties: { checked: true } }, 5);
    assert.deepEqual([updated.id, updated.value, updated.type, updated.description, updated.properties, updated.last_modified_time, updated.created], [ip.id, '10.1.2.3', 1, 'Host: db-01', { checked: true }, 5, ip.created]);
    assert.equal(store.updateArtifact(2095, ip.id, { type: 'DNS Name' }).type, 2);
    assertPlatformError(() => store.updateArtifact(2095, ip.id, { type: 'Malware Sample' }), 400, /cannot become a Malware Sample/);
    assertPlatformError(() => store.updateArtifact(2095, SEED_IDS.artifacts.sample, { value: 'renamed.exe' }), 400, /file name .* cannot be changed/);
    assertPlatformError(() => store.updateArtifact(2096, ip.id, { value: 'x' }), 404, /artifact 1 of incident 2096/);
  });

  test('tasks: the seeded one, and new ones are open', () => {
    const store = new EmulatorStore(seed());
    assert.equal(store.task(SEED_IDS.tasks.disableAccounts).name, 'Disable compromised user accounts');
    const task = store.createTask(2096, { name: 'Reset the user\'s password', instructions: { format: 'html', content: '<p>now</p>' } });
    assert.deepEqual([task.inc_id, task.status, task.active, task.instructions], [2096, 'O', true, '<p>now</p>']);
    assert.deepEqual(store.tasks(2096).map((t) => t.id), [task.id]);
    assertPlatformError(() => store.task(task.id, 2095), 404, /task 2 of incident 2095/);
  });
});

describe('emulator trigger side: notes, artifacts and tasks as action objects', () => {
  test('a manual action on an artifact sends it in full, with type_info to read its type label; the incident may be left out', async () => {
    const { store, trigger, transport } = await setup();
    store.createAction({ name: 'Scan', type: 1, object_type: 'artifact', message_destinations: ['incident_ops'] });
    const inv = await trigger.trigger({ action: 'Scan', objectType: 'artifact', objectId: SEED_IDS.artifacts.dns });
    assert.equal(inv.incident_id, 2095);
    const body = transport.body(0);
    assert.deepEqual(body.artifact, store.artifact(2095, SEED_IDS.artifacts.dns));
    assert.equal(body.type_id, SEED_IDS.types.artifact);
    assert.equal(selectLabel(body, 'artifact', 'type', body.artifact?.['type']), 'DNS Name');
    assert.equal(body.incident?.id, 2095);
    await assert.rejects(trigger.trigger({ action: 'Scan', incident: 2096, objectId: SEED_IDS.artifacts.dns }), /there is no artifact 2 on incident 2096/);
  });

  test('notes and tasks are sent in full too', async () => {
    const { store, trigger, transport } = await setup();
    const note = store.addNote(2095, { text: 'collect logs from xyz' }, 1);
    store.createAction({ name: 'Ticket', type: 1, object_type: 'note', message_destinations: ['incident_ops'] });
    store.createAction({ name: 'Disable Account', type: 1, object_type: 'task', message_destinations: ['incident_ops'] });
    await trigger.trigger({ destination: 'incident_ops', action: 'Ticket', incident: 2095, objectType: 'note', objectId: note.id });
    await trigger.trigger({ action: 'Disable Account', objectId: SEED_IDS.tasks.disableAccounts });
    assert.deepEqual(transport.body(0).note, note);
    assert.deepEqual(transport.body(1).task, store.task(SEED_IDS.tasks.disableAccounts));
    assert.equal(transport.body(1).type_id, SEED_IDS.types.task);
    await assert.rejects(trigger.trigger({ action: 'Ticket', incident: 2095, objectId: 999 }), /there is no note 999 on incident 2095/);
  });
});

describe('emulator automatic actions on artifacts, and the loop guard', () => {
  test('an artifact action with type conditions by label fires for IP and DNS artifacts only', async () => {
    const { store, automatic, transport } = await setup();
    store.createAction({
      name: 'Look Up',
      type: 0,
      object_type: 'artifact',
      message_destinations: ['incident_ops'],
      conditions: [{ field_name: 'artifact.type', method: 'in', value: ['IP Address', 'DNS Name'] }],
    });
    const fire = async (artifact: ReturnType<EmulatorStore['createArtifact']>) =>
      automatic.changed({ type: 'artifact', id: artifact.id, incidentId: artifact.inc_id }, { before: undefined, after: { ...artifact } }, undefined);
    assert.equal((await fire(store.createArtifact(2096, { type: 'URL', value: 'https://x.example' }, 1))).length, 0);
    const [fired] = await fire(store.createArtifact(2096, { type: 'IP Address', value: '10.9.9.9' }, 1));
    assert.equal(fired?.action_name, 'Look Up');
    assert.equal(transport.body(0).artifact?.['value'], '10.9.9.9');
  });

  test('"changed" and "object_added" tell creation from an update', async () => {
    const { store, automatic } = await setup();
    store.createAction({ name: 'Added', type: 0, object_type: 'artifact', message_destinations: ['incident_ops'], conditions: [{ method: 'object_added' }] });
    store.createAction({ name: 'Described', type: 0, object_type: 'artifact', message_destinations: ['incident_ops'], conditions: [{ field_name: 'description', method: 'changed' }] });
    const before = store.artifact(2095, 1);
    const after = store.updateArtifact(2095, 1, { description: 'new' });
    const fired = await automatic.changed({ type: 'artifact', id: 1, incidentId: 2095 }, { before: { ...before }, after: { ...after } }, undefined);
    assert.deepEqual(fired.map((i) => i.action_name), ['Described']);
  });

  test('with the loop guard off, a request carrying the token fires the action again, up to the loop limit', async () => {
    const { store, automatic, transport, invocations } = await setup({ loopGuard: false, loopLimit: 3 });
    store.createAction({ name: 'On Update', type: 0, object_type: 'incident', message_destinations: ['incident_ops'] });
    const change = { before: { ...store.incident(2096) }, after: { ...store.incident(2096) } };
    const object = { type: 'incident' as const, id: 2096, incidentId: 2096 };
    const first = await automatic.changed(object, change, undefined);
    const second = await automatic.changed(object, change, transport.token(0));
    const third = await automatic.changed(object, change, transport.token(1));
    assert.equal(second[0]?.caused_by, first[0]?.id);
    assert.equal(third[0]?.caused_by, second[0]?.id);
    assert.deepEqual(await automatic.changed(object, change, transport.token(2)), [], 'the chain reached the limit');
    assert.equal(invocations.list().length, 3);

    const guarded = await setup();
    guarded.store.createAction({ name: 'On Update', type: 0, object_type: 'incident', message_destinations: ['incident_ops'] });
    await guarded.automatic.changed(object, change, undefined);
    assert.deepEqual(await guarded.automatic.changed(object, change, guarded.transport.token(0)), []);
  });
});
