import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Destination, InboundMessage, SendOptions, StateListener, SubscribeOptions, Subscription, Transport, TransportState } from '../../lib/broker/transport.js';
import { parseDestination } from '../../lib/broker/transport.js';
import { EmulatorStore, PlatformError, seed } from '../../lib/emulator/index.js';
import { InvocationLog } from '../../lib/emulator/invocations.js';
import { TriggerSide } from '../../lib/emulator/trigger.js';
import { AutomaticActions } from '../../lib/emulator/automatic.js';

/** An in-memory transport: records what is sent, delivers what a test hands it. */
class FakeTransport implements Transport {
  state: TransportState = 'connected';
  failSends: Error | undefined;
  readonly sent: Array<{ destination: Destination; body: string; options: SendOptions }> = [];
  readonly subscriptions = new Map<string, (message: InboundMessage) => void>();
  acked = 0;

  async connect(): Promise<void> {}
  subscribe(destination: Destination, _options: SubscribeOptions, onMessage: (message: InboundMessage) => void): Subscription {
    this.subscriptions.set(destination.name, onMessage);
    return { destination, ready: Promise.resolve(), unsubscribe: async () => void this.subscriptions.delete(destination.name) };
  }
  async send(destination: string | Destination, body: string, options: SendOptions = {}): Promise<void> {
    if (this.failSends) throw this.failSends;
    this.sent.push({ destination: parseDestination(destination), body, options });
  }
  async close(): Promise<void> {
    this.state = 'closed';
  }
  onState(_listener: StateListener): () => void {
    return () => {};
  }
  /** Delivers a reply on a queue the trigger side subscribed to. */
  deliver(queue: string, body: string, headers: Record<string, string>): void {
    const handler = this.subscriptions.get(queue);
    assert.ok(handler, `nobody subscribed to ${queue}`);
    const transport = this;
    handler({ destination: { kind: 'queue', name: queue }, headers, body, size: body.length, live: true, async ack() {
      transport.acked++;
      return true;
    }, async nack() {
      throw new Error('the emulator never gives a reply back');
    } });
  }
}

async function setup() {
  const store = new EmulatorStore(seed(201));
  const invocations = new InvocationLog();
  const transport = new FakeTransport();
  const trigger = new TriggerSide({ store, invocations, transport });
  await trigger.start();
  return { store, invocations, transport, trigger };
}

describe('emulator trigger side (in-memory transport)', () => {
  test('listens on every destination\'s reply queue, including ones created later', async () => {
    const { store, transport } = await setup();
    assert.deepEqual([...transport.subscriptions.keys()], ['acks.201.incident_ops']);
    store.createDestination({ programmatic_name: 'tickets' });
    assert.deepEqual([...transport.subscriptions.keys()], ['acks.201.incident_ops', 'acks.201.tickets']);
    store.reset();
    assert.equal(transport.subscriptions.size, 2);
  });

  test('publishes persistent, confirmed, with the platform headers, and files replies', async () => {
    const { transport, trigger, invocations } = await setup();
    const inv = await trigger.trigger({ action: 'Add Note', incident: 2095, properties: { note_text: 'hi' } });
    const [sent] = transport.sent;
    assert.deepEqual(sent?.destination, { kind: 'queue', name: 'actions.201.incident_ops' });
    assert.equal(sent?.options.persistent, true);
    assert.equal(sent?.options.confirm, true);
    const headers = sent!.options.headers!;
    assert.equal(headers['correlation-id'], inv.correlation_id);
    assert.equal(headers['reply-to'], '/queue/acks.201.incident_ops');
    assert.equal(headers['Co3MessagePayload'], 'ActionDataDTO');
    assert.equal(headers['Co3ContentType'], 'application/json');
    assert.equal(invocations.forToken(headers['Co3ContextToken']), inv.id);
    assert.deepEqual(JSON.parse(sent!.body).properties, { note_text: 'hi' });

    transport.deliver('acks.201.incident_ops', 'All done', { 'correlation-id': inv.correlation_id });
    assert.equal(invocations.get(inv.id)?.status, 'completed');
    assert.equal(transport.acked, 1);
  });

  test('a topic destination gets /topic/; one that expects no ack completes at once', async () => {
    const { store, transport, trigger } = await setup();
    store.createDestination({ programmatic_name: 'broadcast', destination_type: 1, expect_ack: false });
    store.createAction({ name: 'Shout', type: 1, object_type: 'incident', message_destinations: ['broadcast', 'incident_ops'] });
    await assert.rejects(trigger.trigger({ action: 'Shout', incident: 2095 }), /sends to broadcast, incident_ops; name the destination/);
    const inv = await trigger.trigger({ action: 'Shout', incident: 2095, destination: 'broadcast' });
    assert.deepEqual(transport.sent[0]?.destination, { kind: 'topic', name: 'actions.201.broadcast' });
    assert.equal(transport.sent[0]?.options.headers?.['reply-to'], '/queue/acks.201.broadcast');
    assert.equal(inv.status, 'completed');
  });

  test('a message that cannot be sent answers 503 and leaves no invocation behind', async () => {
    const { transport, trigger, invocations } = await setup();
    transport.failSends = new Error('receipt timeout');
    await assert.rejects(trigger.trigger({ action: 'Echo', incident: 2095 }), (e: unknown) => e instanceof PlatformError && e.status === 503 && /receipt timeout/.test(e.message));
    assert.deepEqual(invocations.list(), []);
    transport.failSends = undefined;
    transport.state = 'disconnected';
    await assert.rejects(trigger.trigger({ action: 'Echo', incident: 2095 }), /not connected to the broker/);
  });

  test('object types: the action\'s must match, and non-incident objects need an id', async () => {
    const { store, trigger, transport } = await setup();
    await assert.rejects(trigger.trigger({ action: 'Echo', incident: 2095, objectType: 'task', objectId: 1 }), /defined on incident objects, not on task/);
    store.createAction({ name: 'Scan', type: 1, object_type: 'artifact', message_destinations: ['incident_ops'] });
    await assert.rejects(trigger.trigger({ action: 'Scan', incident: 2095 }), /"objectId": is required/);
    await assert.rejects(trigger.trigger({ action: 'Scan', incident: 2095, objectId: 5 }), /"objectId": there is no artifact 5 on incident 2095/);
    const inv = await trigger.trigger({ action: 'Scan', incident: 2095, objectId: 2 });
    assert.deepEqual(inv.object, { type: 'artifact', id: 2 });
    assert.deepEqual(JSON.parse(transport.sent[0]!.body).artifact, store.artifact(2095, 2));
  });

  test('without a broker every trigger answers 503', async () => {
    const store = new EmulatorStore(seed());
    const trigger = new TriggerSide({ store, invocations: new InvocationLog() });
    await trigger.start();
    assert.equal(trigger.enabled, false);
    await assert.rejects(trigger.trigger({ action: 'Echo', incident: 2095 }), (e: unknown) => e instanceof PlatformError && e.status === 503);
  });
});

describe('emulator automatic actions (in-memory transport)', () => {
  test('fire when their conditions hold, and not for a request carrying their own context token', async () => {
    const { store, transport, trigger, invocations } = await setup();
    const automatic = new AutomaticActions({ store, trigger, invocations });
    store.createAction({
      name: 'Escalate High',
      type: 0,
      object_type: 'incident',
      message_destinations: ['incident_ops'],
      conditions: [{ field_name: 'incident.severity_code', method: 'changed_to', value: 'High' }],
    });
    const before = store.incident(2095);
    const unchanged = store.updateIncident(2095, { vers: 1, description: 'x' });
    assert.deepEqual(await automatic.changed({ type: 'incident', id: 2095, incidentId: 2095 }, { before, after: unchanged }, undefined), []);

    const raised = store.updateIncident(2095, { vers: 2, severity_code: 6 });
    const [fired] = await automatic.changed({ type: 'incident', id: 2095, incidentId: 2095 }, { before: unchanged, after: raised }, undefined);
    assert.equal(fired?.action_name, 'Escalate High');
    assert.equal(JSON.parse(transport.sent[0]!.body).incident.severity_code, 6);

    // The processor saves the incident with the token of the message it is handling: no second message.
    const token = transport.sent[0]!.options.headers!['Co3ContextToken'];
    const lowered = store.updateIncident(2095, { vers: 3, severity_code: 4 });
    const again = store.updateIncident(2095, { vers: 4, severity_code: 6 });
    assert.deepEqual(await automatic.changed({ type: 'incident', id: 2095, incidentId: 2095 }, { before: lowered, after: again }, token), []);
    // Without the token it loops.
    assert.equal((await automatic.changed({ type: 'incident', id: 2095, incidentId: 2095 }, { before: lowered, after: again }, undefined)).length, 1);
    assert.equal(invocations.list().length, 2);
  });

  test('notes: object_added on a note sends the note', async () => {
    const { store, transport, trigger, invocations } = await setup();
    const automatic = new AutomaticActions({ store, trigger, invocations });
    store.createAction({ name: 'Note Added', type: 0, object_type: 'note', message_destinations: ['incident_ops'], conditions: [{ field_name: 'text', method: 'contains', value: 'urgent' }] });
    const calm = store.addNote(2095, { text: 'all quiet' }, 1);
    assert.deepEqual(await automatic.changed({ type: 'note', id: calm.id, incidentId: 2095 }, { before: undefined, after: { ...calm } }, undefined), []);
    const urgent = store.addNote(2095, { text: 'urgent: call me' }, 1);
    const [fired] = await automatic.changed({ type: 'note', id: urgent.id, incidentId: 2095 }, { before: undefined, after: { ...urgent } }, undefined);
    assert.deepEqual(fired?.object, { type: 'note', id: urgent.id });
    assert.equal(JSON.parse(transport.sent[0]!.body).note.text, 'urgent: call me');
  });
});
