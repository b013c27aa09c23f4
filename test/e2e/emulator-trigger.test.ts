import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import fetch from 'node-fetch';
import { startBroker, type BrokerInstance } from '../support/activemq.js';
import { StompTransport } from '../../lib/broker/stomp-tls.js';
import type { InboundMessage } from '../../lib/broker/transport.js';
import { ActionDataSchema } from '../../lib/wire/action-data.js';
import { PlatformError, startEmulator, type EmulatorHandle, type Invocation } from '../../lib/emulator/index.js';

const API_KEY = { id: 'trigger-test-key', secret: 'trigger-test-secret-0123456789' };

/** Messages delivered to the raw consumer, handed out in order as tests ask for them. */
class Inbox {
  private readonly items: InboundMessage[] = [];
  private readonly waiting: Array<(message: InboundMessage) => void> = [];

  push(message: InboundMessage): void {
    const waiter = this.waiting.shift();
    if (waiter) waiter(message);
    else this.items.push(message);
  }

  next(timeoutMs = 20_000): Promise<InboundMessage> {
    const ready = this.items.shift();
    if (ready) return Promise.resolve(ready);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.splice(this.waiting.indexOf(deliver), 1);
        reject(new Error(`no action message within ${timeoutMs} ms`));
      }, timeoutMs);
      const deliver = (message: InboundMessage) => {
        clearTimeout(timer);
        resolve(message);
      };
      this.waiting.push(deliver);
    });
  }
}

describe('platform emulator: trigger side on a real ActiveMQ', () => {
  let broker: BrokerInstance;
  let emu: EmulatorHandle;
  let processor: StompTransport;
  let agent: https.Agent;
  const inbox = new Inbox();

  /** Sends a reply as a processor would: to reply-to, echoing correlation-id. */
  async function reply(message: InboundMessage, body: string, headers: Record<string, string> = {}): Promise<void> {
    await processor.send(message.headers['reply-to']!, body, { headers: { 'correlation-id': message.headers['correlation-id']!, ...headers } });
  }

  async function post(urlPath: string, body: unknown, auth = false) {
    const headers: Record<string, string> = { 'Content-Type': 'application/json' };
    if (auth) headers['Authorization'] = `Basic ${Buffer.from(`${API_KEY.id}:${API_KEY.secret}`).toString('base64')}`;
    const response = await fetch(`${emu.url}${urlPath}`, { method: 'POST', agent, headers, body: JSON.stringify(body) });
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  }

  before(async () => {
    broker = await startBroker();
    const ca = readFileSync(broker.ca, 'utf8');
    agent = new https.Agent({ ca });
    emu = await startEmulator({
      orgId: broker.orgId,
      tls: { cert: readFileSync(path.join(broker.certsDir, 'broker.pem'), 'utf8'), key: readFileSync(path.join(broker.certsDir, 'broker-key.pem'), 'utf8') },
      apiKeys: [API_KEY],
      broker: { url: broker.url, login: broker.platform.user, passcode: broker.platform.password, tls: { ca } },
    });
    processor = new StompTransport({ url: broker.url, login: broker.processor.user, passcode: broker.processor.password, tls: { ca } });
    processor.subscribe({ kind: 'queue', name: `actions.${broker.orgId}.incident_ops` }, { prefetch: 10 }, (m) => inbox.push(m));
    await processor.connect(AbortSignal.timeout(30_000));
  });
  after(async () => {
    await processor?.close().catch(() => undefined);
    await emu?.close().catch(() => undefined);
    agent?.destroy();
    await broker?.stop();
  });

  test('"Echo" on incident 2095 sends the platform headers and an ActionDataDTO, and files progress and completion replies', async () => {
    const invocation = await emu.trigger({ destination: 'incident_ops', action: 'Echo', incident: 2095 });
    assert.equal(invocation.status, 'pending');
    assert.equal(invocation.correlation_id, `invid:${invocation.id}`);

    const message = await inbox.next();
    const h = message.headers;
    assert.equal(h['destination'], `/queue/actions.${broker.orgId}.incident_ops`);
    assert.equal(h['correlation-id'], invocation.correlation_id);
    assert.equal(h['reply-to'], `/queue/acks.${broker.orgId}.incident_ops`);
    assert.equal(h['Co3MessagePayload'], 'ActionDataDTO');
    assert.equal(h['Co3ContentType'], 'application/json');
    assert.match(h['Co3ContextToken'] ?? '', /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/);
    assert.equal(invocation.context_token_hint, h['Co3ContextToken']!.slice(0, 6));
    assert.equal(h['persistent'], 'true');

    const data = ActionDataSchema.parse(JSON.parse(message.body));
    assert.equal(data.action_id, 11);
    assert.equal(data.type_id, 0);
    assert.equal(data.incident?.id, 2095);
    assert.equal(data.incident?.['name'], 'Suspicious login');
    assert.equal(data.incident?.['vers'], 1);
    assert.equal(data.task, null);
    assert.equal(data.type_info['incident']?.fields['severity_code']?.values?.['4']?.label, 'Low');
    assert.equal(data.type_info['actioninvocation']?.fields['severity']?.values?.['6']?.label, 'High');
    assert.deepEqual(data.properties, {});
    assert.equal(data.user?.email, 'admin@example.com');

    // A REST call carrying the token is matched to this invocation.
    await fetch(`${emu.url}/rest/orgs/${broker.orgId}/incidents/2095`, {
      agent,
      headers: { Authorization: `Basic ${Buffer.from(`${API_KEY.id}:${API_KEY.secret}`).toString('base64')}`, 'X-Co3ContextToken': h['Co3ContextToken']! },
    });
    assert.equal(emu.requests().at(-1)?.invocationId, invocation.id);

    await reply(message, '{"message_type":0,"message":"working","complete":false}');
    await reply(message, '{"message_type":0,"message":"done","complete":true,"results":{"a":1}}');
    await message.ack();

    const done = await emu.waitFor(invocation.id, { timeoutMs: 20_000 });
    assert.equal(done.status, 'completed');
    assert.deepEqual(
      done.messages.map((m) => [m.message_type, m.text, m.complete, m.results]),
      [
        [0, 'working', false, undefined],
        [0, 'done', true, { a: 1 }],
      ],
    );
    assert.ok(done.completed_at !== undefined && done.completed_at >= done.created_at);
    assert.equal(emu.invocations()[0]?.id, invocation.id);
  });

  test('an error reply marks the invocation error; select properties may be labels', async () => {
    const invocation = await emu.trigger({ destination: 'incident_ops', action: 'Set Severity', incident: 2096, properties: { severity: 'High' } });
    const message = await inbox.next();
    const data = ActionDataSchema.parse(JSON.parse(message.body));
    assert.equal(data.action_id, 13);
    assert.deepEqual(data.properties, { severity: 6 });
    assert.equal(data.incident?.id, 2096);

    await reply(message, JSON.stringify({ message_type: 1, message: 'the ticketing system is down', complete: true }));
    await message.ack();
    const done = await emu.waitFor(invocation.id, { timeoutMs: 20_000 });
    assert.equal(done.status, 'error');
    assert.equal(done.messages[0]?.text, 'the ticketing system is down');
    await assert.rejects(emu.waitFor(invocation.id, { status: 'completed', timeoutMs: 20_000 }), /ended "error"/);
  });

  test('plain-text replies, long-polls, late replies and unknown correlation ids', async () => {
    const { status, body } = await post(`/rest/orgs/${broker.orgId}/incidents/2095/action_invocations`, { action_id: 12, properties: { note_text: 'collect the logs' } }, true);
    assert.equal(status, 200);
    const invocation = body as unknown as Invocation;
    const message = await inbox.next();
    assert.deepEqual(ActionDataSchema.parse(JSON.parse(message.body)).properties, { note_text: 'collect the logs' });

    const poll = fetch(`${emu.url}/emulator/invocations/${invocation.id}?wait=20000&status=done`, { agent }).then((r) => r.json() as Promise<Invocation>);
    // Sent first on the same queue, so it is filed before the completion below.
    await processor.send(message.headers['reply-to']!, 'who am I?', { headers: { 'correlation-id': 'invid:999999' } });
    await reply(message, 'Processing complete');
    const done = await poll;
    assert.equal(done.status, 'completed');
    assert.deepEqual(done.messages.map((m) => [m.text, m.complete]), [['Processing complete', true]]);
    assert.deepEqual(emu.unmatched().map((u) => [u.correlation_id, u.text]), [['invid:999999', 'who am I?']]);

    // A second completion is still shown, and counted as a duplicate.
    await reply(message, 'Processing complete, again');
    await reply(message, 'informational after the end', { Co3InvocationComplete: 'false' });
    await message.ack();
    const settled = await emu.waitFor(invocation.id, { minMessages: 3, timeoutMs: 20_000 });
    assert.equal(settled.duplicateCompletions, 1);
    assert.equal(settled.status, 'completed');
    assert.deepEqual(settled.messages.map((m) => m.complete), [true, true, false]);
  });

  test('bad trigger requests answer 400 naming what is wrong', async () => {
    const unknownAction = await post('/emulator/trigger', { destination: 'incident_ops', action: 'No Such Action', incident: 2095 });
    assert.equal(unknownAction.status, 400);
    assert.match(unknownAction.body['message'] as string, /unknown action "No Such Action"/);
    await assert.rejects(emu.trigger({ destination: 'incident_ops', action: 'No Such Action', incident: 2095 }), (e: unknown) => e instanceof PlatformError && e.status === 400);

    const cases: Array<[Record<string, unknown>, RegExp]> = [
      [{ destination: 'nowhere', action: 'Echo', incident: 2095 }, /destination.*nowhere/],
      [{ destination: 'incident_ops', action: 'Echo', incident: 4242 }, /incident 4242/],
      [{ destination: 'incident_ops', action: 'Echo' }, /"incident"/],
      [{ destination: 'incident_ops', action: 'Set Severity', incident: 2095, properties: { severity: 'Extreme' } }, /severity.*Extreme/],
      [{ destination: 'incident_ops', action: 'Echo', incident: 2095, properties: { no_such_field: 1 } }, /no_such_field/],
    ];
    for (const [request, message] of cases) {
      const { status, body } = await post('/emulator/trigger', request);
      assert.equal(status, 400, JSON.stringify(request));
      assert.match(body['message'] as string, message);
    }

    // An action that does not list the destination, and a required layout field left out.
    emu.store.createDestination({ programmatic_name: 'other_ops' });
    emu.store.createField('actioninvocation', { name: 'ticket_id', input_type: 'text', required: true });
    emu.store.createAction({ name: 'Close Ticket', type: 1, object_type: 'incident', message_destinations: ['incident_ops'], fields: ['ticket_id'] });
    const wrongDestination = await post('/emulator/trigger', { destination: 'other_ops', action: 'Close Ticket', incident: 2095 });
    assert.equal(wrongDestination.status, 400);
    assert.match(wrongDestination.body['message'] as string, /does not send to "other_ops"/);
    const missing = await post('/emulator/trigger', { destination: 'incident_ops', action: 'Close Ticket', incident: 2095 });
    assert.equal(missing.status, 400);
    assert.match(missing.body['message'] as string, /"ticket_id" is required/);
    assert.ok(emu.invocations().every((i) => i.action_name !== 'Close Ticket'));
  });

  test('automatic actions fire on REST changes, except for a request carrying their own context token', async () => {
    const created = await post(
      `/rest/orgs/${broker.orgId}/actions`,
      { name: 'Escalate High', type: 0, object_type: 'incident', message_destinations: ['incident_ops'], conditions: [{ field_name: 'incident.severity_code', method: 'changed_to', value: 6 }] },
      true,
    );
    assert.equal(created.status, 200);
    const put = async (changes: Record<string, unknown>, token?: string) => {
      const headers: Record<string, string> = { 'Content-Type': 'application/json', Authorization: `Basic ${Buffer.from(`${API_KEY.id}:${API_KEY.secret}`).toString('base64')}` };
      if (token) headers['X-Co3ContextToken'] = token;
      const incident = emu.store.incident(2096);
      const response = await fetch(`${emu.url}/rest/orgs/${broker.orgId}/incidents/2096`, { method: 'PUT', agent, headers, body: JSON.stringify({ ...incident, ...changes }) });
      assert.equal(response.status, 200);
    };
    const count = () => emu.invocations().filter((i) => i.action_name === 'Escalate High').length;

    await put({ severity_code: 6 });
    assert.equal(count(), 1);
    const message = await inbox.next();
    const data = ActionDataSchema.parse(JSON.parse(message.body));
    assert.equal(data.action_id, created.body['id']);
    assert.equal(data.incident?.['severity_code'], 6);
    const token = message.headers['Co3ContextToken']!;

    // What a well-behaved processor does: its own saves carry the token, so the action does not fire again.
    await put({ severity_code: 4 }, token);
    await put({ severity_code: 6 }, token);
    assert.equal(count(), 1);
    assert.ok(emu.requests().slice(-2).every((r) => r.invocationId === emu.invocations()[0]?.id));
    await reply(message, 'escalated');
    await message.ack();

    // Without the token, the same save fires it again: the infinite loop the guide warns about.
    await put({ severity_code: 4 });
    await put({ severity_code: 6 });
    assert.equal(count(), 2);
    const loop = await inbox.next();
    await reply(loop, 'escalated again');
    await loop.ack();
    const ids = emu.invocations().filter((i) => i.action_name === 'Escalate High').map((i) => i.id);
    for (const id of ids) assert.equal((await emu.waitFor(id, { timeoutMs: 20_000 })).status, 'completed');
  });
});

