import { after, before, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import https from 'node:https';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import fetch, { type Response } from 'node-fetch';
import { PlatformError, startEmulator, type EmulatorHandle, type Incident, type RecordedRequest } from '../../lib/emulator/index.js';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const USER = { email: 'analyst@example.com', password: 'correct horse battery staple' };
const API_KEY = { id: 'emu-test-key', secret: 'emu-test-secret-0123456789' };
const ORG = 201;

/**
 * The development certificates (scripts/certs makes them); when that script
 * is not there, a throwaway CA and a localhost certificate made with openssl.
 */
function devCerts(): { cert: string; key: string; ca: string; cleanup: () => void } {
  const dir = path.join(process.env['CAFKIT_HOME'] ?? path.join(REPO, '.cafkit'), 'certs');
  const script = path.join(REPO, 'scripts', 'certs');
  if (!existsSync(path.join(dir, 'broker.pem')) && existsSync(script)) execFileSync('bash', [script], { stdio: 'ignore' });
  if (existsSync(path.join(dir, 'broker.pem'))) {
    const read = (f: string) => readFileSync(path.join(dir, f), 'utf8');
    return { cert: read('broker.pem'), key: read('broker-key.pem'), ca: read('ca.pem'), cleanup: () => {} };
  }
  const tmp = mkdtempSync(path.join(tmpdir(), 'cafkit-emu-certs-'));
  const at = (f: string) => path.join(tmp, f);
  const openssl = (...args: string[]) => execFileSync('openssl', args, { stdio: 'ignore' });
  openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=emulator test CA', '-keyout', at('ca-key.pem'), '-out', at('ca.pem'));
  openssl('req', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=localhost', '-keyout', at('key.pem'), '-out', at('csr.pem'));
  execFileSync('bash', ['-c', `printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\\n' > '${at('ext.cnf')}'`]);
  openssl('x509', '-req', '-in', at('csr.pem'), '-CA', at('ca.pem'), '-CAkey', at('ca-key.pem'), '-CAcreateserial', '-days', '2', '-extfile', at('ext.cnf'), '-out', at('cert.pem'));
  const read = (f: string) => readFileSync(at(f), 'utf8');
  return { cert: read('cert.pem'), key: read('key.pem'), ca: read('ca.pem'), cleanup: () => rmSync(tmp, { recursive: true, force: true }) };
}

const basic = (id: string, secret: string) => `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`;

describe('platform emulator: REST over HTTPS', () => {
  let emu: EmulatorHandle;
  let agent: https.Agent;
  let certs: ReturnType<typeof devCerts>;

  /** A call to the emulator; `auth` defaults to the API key. */
  async function call(method: string, urlPath: string, options: { body?: unknown; headers?: Record<string, string>; auth?: 'apikey' | 'none' } = {}): Promise<Response> {
    const headers: Record<string, string> = { ...options.headers };
    if ((options.auth ?? 'apikey') === 'apikey') headers['Authorization'] = basic(API_KEY.id, API_KEY.secret);
    if (options.body !== undefined) headers['Content-Type'] = 'application/json';
    return fetch(`${emu.url}${urlPath}`, { method, agent, headers, body: options.body === undefined ? undefined : JSON.stringify(options.body) });
  }
  async function json<T = Record<string, unknown>>(response: Response): Promise<T> {
    return (await response.json()) as T;
  }
  const incidentPath = (id: number) => `/rest/orgs/${ORG}/incidents/${id}`;

  before(async () => {
    certs = devCerts();
    agent = new https.Agent({ ca: certs.ca, keepAlive: true });
    emu = await startEmulator({ tls: { cert: certs.cert, key: certs.key }, users: [USER], apiKeys: [API_KEY] });
  });
  after(async () => {
    await emu?.close();
    agent?.destroy();
    certs?.cleanup();
  });
  beforeEach(() => emu.reset());

  test('serves HTTPS that verifies against the CA, on an ephemeral loopback port', async () => {
    assert.match(emu.url, /^https:\/\/127\.0\.0\.1:\d+$/);
    assert.ok(emu.port > 0);
    const response = await call('GET', incidentPath(2095));
    assert.equal(response.status, 200);
  });

  describe('authentication', () => {
    test('a session login sets an HttpOnly, Secure JSESSIONID cookie and answers the csrf_token', async () => {
      const response = await call('POST', '/rest/session', { auth: 'none', body: USER });
      assert.equal(response.status, 200);
      const body = await json(response);
      assert.equal(typeof body['csrf_token'], 'string');
      assert.equal(body['user_email'], USER.email);
      assert.deepEqual(body['orgs'], [{ id: ORG, name: 'Emulated Org' }]);
      const cookie = response.headers.get('set-cookie') ?? '';
      assert.match(cookie, /^JSESSIONID=[^;]+; Path=\/; HttpOnly; Secure$/);
    });

    test('a session needs both the cookie and X-sess-id; logging out ends it', async () => {
      const login = await call('POST', '/rest/session', { auth: 'none', body: USER });
      const { csrf_token } = await json<{ csrf_token: string }>(login);
      const cookie = (login.headers.get('set-cookie') ?? '').split(';')[0]!;

      const both = await call('GET', incidentPath(2095), { auth: 'none', headers: { Cookie: cookie, 'X-sess-id': csrf_token } });
      assert.equal(both.status, 200);
      const cookieOnly = await call('GET', incidentPath(2095), { auth: 'none', headers: { Cookie: cookie } });
      assert.equal(cookieOnly.status, 401);
      assert.match((await json(cookieOnly))['message'] as string, /X-sess-id/);
      const headerOnly = await call('GET', incidentPath(2095), { auth: 'none', headers: { 'X-sess-id': csrf_token } });
      assert.equal(headerOnly.status, 401);
      const wrongToken = await call('GET', incidentPath(2095), { auth: 'none', headers: { Cookie: cookie, 'X-sess-id': 'nope' } });
      assert.equal(wrongToken.status, 401);

      const logout = await call('DELETE', '/rest/session', { auth: 'none', headers: { Cookie: cookie, 'X-sess-id': csrf_token } });
      assert.equal(logout.status, 204);
      const afterLogout = await call('GET', incidentPath(2095), { auth: 'none', headers: { Cookie: cookie, 'X-sess-id': csrf_token } });
      assert.equal(afterLogout.status, 401);
    });

    test('a wrong password answers 401 in the platform shape and never echoes it', async () => {
      const response = await call('POST', '/rest/session', { auth: 'none', body: { email: USER.email, password: 'guess-me-123' } });
      assert.equal(response.status, 401);
      const text = await response.text();
      assert.doesNotMatch(text, /guess-me-123/);
      const body = JSON.parse(text) as Record<string, unknown>;
      assert.deepEqual(Object.keys(body).sort(), ['error_code', 'hints', 'message', 'success', 'title']);
      assert.equal(body['success'], false);
      assert.equal(body['title'], null);
      assert.equal(body['error_code'], 'unauthenticated');
    });

    test('an API key works as HTTP Basic; a bad secret answers 401 without echoing it', async () => {
      assert.equal((await call('GET', incidentPath(2095))).status, 200);
      const bad = await call('GET', incidentPath(2095), { auth: 'none', headers: { Authorization: basic(API_KEY.id, 'wrong-secret-xyz') } });
      assert.equal(bad.status, 401);
      assert.doesNotMatch(await bad.text(), /wrong-secret-xyz/);
      const none = await call('GET', incidentPath(2095), { auth: 'none' });
      assert.equal(none.status, 401);
    });

    test('another organisation answers 403', async () => {
      const response = await call('GET', '/rest/orgs/999/incidents/2095');
      assert.equal(response.status, 403);
      assert.equal((await json(response))['error_code'], 'forbidden');
    });
  });

  describe('incidents', () => {
    test('GET answers the seeded incident', async () => {
      const incident = await json<Incident>(await call('GET', incidentPath(2095)));
      assert.equal(incident.name, 'Suspicious login');
      assert.equal(incident.severity_code, 4);
      assert.equal(incident.vers, 1);
      assert.equal(incident.plan_status, 'A');
      assert.equal(incident.inc_training, false);
      assert.deepEqual(incident.properties, {});
      assert.equal((await call('GET', incidentPath(1))).status, 404);
    });

    test('PUT with the current vers stores the change and increments vers; a stale vers answers 409', async () => {
      const incident = await json<Incident>(await call('GET', incidentPath(2095)));
      const put = await call('PUT', incidentPath(2095), { body: { ...incident, severity_code: 6, my_extra: 'kept' } });
      assert.equal(put.status, 200);
      const updated = await json<Incident>(put);
      assert.equal(updated.vers, 2);
      assert.equal(updated.severity_code, 6);
      assert.equal(updated['my_extra'], 'kept');
      assert.equal(emu.store.incident(2095).vers, 2);

      const stale = await call('PUT', incidentPath(2095), { body: { ...incident, description: 'lost update' } });
      assert.equal(stale.status, 409);
      const error = await json(stale);
      assert.equal(error['error_code'], 'conflict');
      assert.match(error['message'] as string, /incident 2095.*sent vers 1.*stored vers is 2/);
      assert.notEqual(emu.store.incident(2095).description, 'lost update');
    });

    test('POST creates an incident; name is required', async () => {
      const created = await json<Incident>(await call('POST', `/rest/orgs/${ORG}/incidents`, { body: { name: 'New one', severity_code: 5 } }));
      assert.equal(created.vers, 1);
      assert.equal(created.severity_code, 5);
      assert.equal(emu.store.incident(created.id).name, 'New one');
      const missing = await call('POST', `/rest/orgs/${ORG}/incidents`, { body: { description: 'no name' } });
      assert.equal(missing.status, 400);
      assert.match((await json(missing))['message'] as string, /"name"/);
    });

    test('a severity_code that is not a select value answers 400 naming the field', async () => {
      const incident = emu.store.incident(2095);
      const response = await call('PUT', incidentPath(2095), { body: { ...incident, severity_code: 9 } });
      assert.equal(response.status, 400);
      const body = await json(response);
      assert.equal(body['error_code'], 'validation_error');
      assert.match(body['message'] as string, /severity_code/);
      assert.equal(emu.store.incident(2095).vers, 1);
    });

    test('a PUT without vers answers 400 naming vers', async () => {
      const response = await call('PUT', incidentPath(2095), { body: { name: 'x' } });
      assert.equal(response.status, 400);
      assert.match((await json(response))['message'] as string, /"vers"/);
    });
  });

  describe('comments', () => {
    test('POST adds a note (plain or rich text) and GET lists them', async () => {
      const plain = await call('POST', `${incidentPath(2095)}/comments`, { body: { text: 'collected the logs' } });
      assert.equal(plain.status, 200);
      const note = await json(plain);
      assert.equal(note['text'], 'collected the logs');
      assert.equal(note['inc_id'], 2095);
      assert.equal(typeof note['id'], 'number');
      assert.equal(typeof note['create_date'], 'number');
      assert.ok('user_id' in note);

      const rich = await call('POST', `${incidentPath(2095)}/comments`, { body: { text: { format: 'html', content: '<b>bold</b>' } } });
      assert.equal((await json(rich))['text'], '<b>bold</b>');

      const list = await json<Array<{ text: string }>>(await call('GET', `${incidentPath(2095)}/comments`));
      assert.deepEqual(list.map((n) => n.text), ['collected the logs', '<b>bold</b>']);
    });

    test('text is required, and the incident must exist', async () => {
      const empty = await call('POST', `${incidentPath(2095)}/comments`, { body: {} });
      assert.equal(empty.status, 400);
      assert.match((await json(empty))['message'] as string, /"text"/);
      assert.equal((await call('POST', `${incidentPath(4242)}/comments`, { body: { text: 'x' } })).status, 404);
    });
  });

  describe('types, fields, destinations and actions', () => {
    test('types are keyed by name with select values', async () => {
      const types = await json<Record<string, { type_id: number; fields: Record<string, { input_type: string; values: Array<{ value: number; label: string }> }> }>>(
        await call('GET', `/rest/orgs/${ORG}/types`),
      );
      for (const name of ['incident', 'actioninvocation', 'artifact', 'note', 'task']) assert.ok(types[name], `type ${name}`);
      assert.deepEqual(types['incident']!.fields['severity_code']!.values.map((v) => [v.value, v.label]), [[4, 'Low'], [5, 'Medium'], [6, 'High']]);
      assert.equal(types['actioninvocation']!.fields['note_text']!.input_type, 'textarea');
      assert.equal((await call('GET', `/rest/orgs/${ORG}/types/nosuchtype`)).status, 404);
    });

    test('fields: create, update, and 400s naming input_type, name and values', async () => {
      const created = await call('POST', `/rest/orgs/${ORG}/types/actioninvocation/fields`, {
        body: { name: 'ticket_priority', text: 'Ticket Priority', input_type: 'select', required: 'always', values: [{ label: 'Low' }, { label: 'High' }] },
      });
      assert.equal(created.status, 200);
      const field = await json<{ id: number; required: boolean; values: Array<{ value: number; label: string }> }>(created);
      assert.equal(field.required, true);
      assert.equal(field.values.length, 2);

      const updated = await call('PUT', `/rest/orgs/${ORG}/types/actioninvocation/fields/${field.id}`, { body: { text: 'Priority' } });
      assert.equal(updated.status, 200);
      assert.equal((await json(updated))['text'], 'Priority');
      assert.deepEqual(emu.store.field('actioninvocation', field.id).values, field.values);

      const badType = await call('POST', `/rest/orgs/${ORG}/types/actioninvocation/fields`, { body: { name: 'x', input_type: 'radio' } });
      assert.equal(badType.status, 400);
      assert.match((await json(badType))['message'] as string, /input_type/);
      const badName = await call('POST', `/rest/orgs/${ORG}/types/actioninvocation/fields`, { body: { name: 'bad-name', input_type: 'text' } });
      assert.match((await json(badName))['message'] as string, /"name"/);
      const noValues = await call('POST', `/rest/orgs/${ORG}/types/actioninvocation/fields`, { body: { name: 'pick', input_type: 'select' } });
      assert.equal(noValues.status, 400);
      assert.match((await json(noValues))['message'] as string, /values/);
      const taken = await call('POST', `/rest/orgs/${ORG}/types/actioninvocation/fields`, { body: { name: 'note_text', input_type: 'text' } });
      assert.equal(taken.status, 409);
    });

    test('message destinations: seeded incident_ops, defaults for new ones, programmatic names checked', async () => {
      const list = await json<{ entities: Array<Record<string, unknown>> }>(await call('GET', `/rest/orgs/${ORG}/message_destinations`));
      const ops = list.entities.find((d) => d['programmatic_name'] === 'incident_ops');
      assert.ok(ops);
      assert.equal(ops['destination_type'], 0);
      assert.equal(ops['expect_ack'], true);
      for (const key of ['id', 'name', 'users', 'api_keys']) assert.ok(key in ops, key);

      const created = await json(await call('POST', `/rest/orgs/${ORG}/message_destinations`, { body: { name: 'Ticketing', programmatic_name: 'ticket' } }));
      assert.equal(created['destination_type'], 0);
      assert.equal(created['expect_ack'], true);
      assert.equal((await call('GET', `/rest/orgs/${ORG}/message_destinations/${created['id']}`)).status, 200);

      const bad = await call('POST', `/rest/orgs/${ORG}/message_destinations`, { body: { name: 'Bad', programmatic_name: 'bad-name!' } });
      assert.equal(bad.status, 400);
      assert.match((await json(bad))['message'] as string, /programmatic_name/);
      const duplicate = await call('POST', `/rest/orgs/${ORG}/message_destinations`, { body: { name: 'Other', programmatic_name: 'ticket' } });
      assert.equal(duplicate.status, 409);
    });

    test('actions: seeded ones with stable ids, create checks destinations, names and layout fields', async () => {
      const list = await json<{ entities: Array<{ id: number; name: string; message_destinations: string[]; view_items: Array<{ content: string }> }> }>(
        await call('GET', `/rest/orgs/${ORG}/actions`),
      );
      assert.deepEqual(list.entities.map((a) => [a.id, a.name]), [[11, 'Echo'], [12, 'Add Note'], [13, 'Set Severity']]);
      assert.deepEqual(list.entities[1]!.view_items.map((v) => v.content), ['note_text']);
      assert.deepEqual(list.entities[0]!.message_destinations, ['incident_ops']);
      assert.equal((await json(await call('GET', `/rest/orgs/${ORG}/actions/13`)))['name'], 'Set Severity');

      const body = { name: 'Open Ticket', type: 1, object_type: 'incident', message_destinations: ['incident_ops'], fields: ['severity'], conditions: [] };
      const created = await call('POST', `/rest/orgs/${ORG}/actions`, { body });
      assert.equal(created.status, 200);
      assert.equal((await call('POST', `/rest/orgs/${ORG}/actions`, { body })).status, 409);
      const unknownDestination = await call('POST', `/rest/orgs/${ORG}/actions`, { body: { ...body, name: 'Other', message_destinations: ['nowhere'] } });
      assert.equal(unknownDestination.status, 400);
      assert.match((await json(unknownDestination))['message'] as string, /message_destinations.*nowhere/);
      const badObject = await call('POST', `/rest/orgs/${ORG}/actions`, { body: { ...body, name: 'Other', object_type: 'widget' } });
      assert.match((await json(badObject))['message'] as string, /object_type/);
      const badCondition = await call('POST', `/rest/orgs/${ORG}/actions`, { body: { ...body, name: 'Other', conditions: [{ field_name: 'severity_code', method: 'resembles' }] } });
      assert.match((await json(badCondition))['message'] as string, /conditions\.0\.method/);
    });
  });

  describe('request log', () => {
    test('records method, path, status, auth, X-Co3ContextToken and the body, with passwords redacted', async () => {
      await call('POST', '/rest/session', { auth: 'none', body: USER });
      await call('POST', `${incidentPath(2095)}/comments`, { body: { text: 'hi' }, headers: { 'X-Co3ContextToken': 'token-abc' } });
      await call('GET', incidentPath(2095));
      const [login, comment, get] = emu.requests();
      assert.equal(login?.auth, 'none');
      assert.deepEqual(login?.body, { email: USER.email, password: '[redacted]' });
      assert.equal(comment?.method, 'POST');
      assert.equal(comment?.path, `${incidentPath(2095)}/comments`);
      assert.equal(comment?.status, 200);
      assert.equal(comment?.auth, 'apikey');
      assert.equal(comment?.contextToken, 'token-abc');
      assert.deepEqual(comment?.body, { text: 'hi' });
      assert.equal(get?.contextToken, undefined);
      assert.equal(JSON.stringify(emu.requests()).includes(USER.password), false);
    });

    test('GET /emulator/requests?since= follows the log and DELETE clears it', async () => {
      await call('GET', incidentPath(2095));
      const first = await json<RecordedRequest[]>(await call('GET', '/emulator/requests', { auth: 'none' }));
      assert.equal(first.length, 1);
      await call('GET', incidentPath(2096));
      const since = await json<RecordedRequest[]>(await call('GET', `/emulator/requests?since=${first[0]!.index + 1}`, { auth: 'none' }));
      assert.deepEqual(since.map((r) => r.path), [incidentPath(2096)]);
      assert.equal((await call('DELETE', '/emulator/requests', { auth: 'none' })).status, 204);
      assert.deepEqual(emu.requests(), []);
    });
  });

  describe('faults', () => {
    test('forced conflicts answer 409 to incident PUTs with a good vers, then let them through', async () => {
      emu.setFaults({ conflicts: 2 });
      const incident = emu.store.incident(2095);
      for (let i = 0; i < 2; i++) {
        const response = await call('PUT', incidentPath(2095), { body: { ...incident, severity_code: 6 } });
        assert.equal(response.status, 409);
        assert.equal((await json(response))['error_code'], 'conflict');
      }
      assert.equal((await call('PUT', incidentPath(2095), { body: { ...incident, severity_code: 6 } })).status, 200);
      assert.equal(emu.store.incident(2095).vers, 2);
      assert.deepEqual(await json(await call('GET', '/emulator/faults', { auth: 'none' })), { conflicts: 0 });
      assert.deepEqual(emu.requests().map((r) => r.fault), ['conflict', 'conflict', undefined]);
    });

    test('an errors fault answers the next N /rest requests with that 5xx; /emulator is never affected', async () => {
      const set = await call('PUT', '/emulator/faults', { auth: 'none', body: { errors: { count: 2, status: 502 } } });
      assert.equal(set.status, 200);
      for (let i = 0; i < 2; i++) {
        const response = await call('GET', incidentPath(2095));
        assert.equal(response.status, 502);
        assert.equal((await json(response))['success'], false);
        assert.equal((await call('GET', '/emulator/faults', { auth: 'none' })).status, 200);
      }
      assert.equal((await call('GET', incidentPath(2095))).status, 200);
      emu.setFaults({ errors: { count: 1 } });
      assert.equal((await call('GET', incidentPath(2095))).status, 503);
    });

    test('an invalid fault configuration answers 400 naming the field', async () => {
      const response = await call('PUT', '/emulator/faults', { auth: 'none', body: { errors: { count: 1, status: 404 } } });
      assert.equal(response.status, 400);
      assert.match((await json(response))['message'] as string, /errors\.status/);
      const typo = await call('PUT', '/emulator/faults', { auth: 'none', body: { latency: 100 } });
      assert.equal(typo.status, 400);
    });

    test('latency delays /rest answers but not /emulator ones', async () => {
      const latencyMs = 300;
      emu.setFaults({ latencyMs });
      const order: string[] = [];
      const started = performance.now();
      const slow = call('GET', incidentPath(2095)).then((r) => {
        order.push('rest');
        return { status: r.status, elapsed: performance.now() - started };
      });
      const control = call('GET', '/emulator/faults', { auth: 'none' }).then(() => order.push('control'));
      const [{ status, elapsed }] = await Promise.all([slow, control]);
      assert.equal(status, 200);
      assert.ok(elapsed >= latencyMs, `answered after ${elapsed} ms, expected at least ${latencyMs}`);
      assert.deepEqual(order, ['control', 'rest']);
    });

    test('down destroys /rest sockets without an answer until it is switched off', async () => {
      await call('PUT', '/emulator/faults', { auth: 'none', body: { down: true } });
      await assert.rejects(call('GET', incidentPath(2095)), (error: Error & { code?: string }) => {
        assert.match(`${error.message} ${error.code ?? ''}`, /socket hang up|ECONNRESET|closed/i);
        return true;
      });
      assert.equal(emu.requests().at(-1)?.status, 0);
      assert.equal(emu.requests().at(-1)?.fault, 'down');
      const off = await call('PUT', '/emulator/faults', { auth: 'none', body: {} });
      assert.deepEqual(await json(off), {});
      assert.equal((await call('GET', incidentPath(2095))).status, 200);
    });
  });

  test('without a broker, triggers answer 503 with a clear message', async () => {
    const response = await call('POST', '/emulator/trigger', { auth: 'none', body: { destination: 'incident_ops', action: 'Echo', incident: 2095 } });
    assert.equal(response.status, 503);
    assert.match((await json(response))['message'] as string, /no broker configured/);
    await assert.rejects(emu.trigger({ action: 'Echo', incident: 2095 }), (error: unknown) => error instanceof PlatformError && error.status === 503);
  });

  test('unknown paths and methods answer 404 and 405 in the platform shape', async () => {
    const unknown = await call('GET', `/rest/orgs/${ORG}/widgets`);
    assert.equal(unknown.status, 404);
    assert.equal((await json(unknown))['error_code'], 'not_found');
    const method = await call('DELETE', incidentPath(2095));
    assert.equal(method.status, 405);
    const badJson = await fetch(`${emu.url}${incidentPath(2095)}`, {
      method: 'PUT',
      agent,
      headers: { Authorization: basic(API_KEY.id, API_KEY.secret), 'Content-Type': 'application/json' },
      body: '{not json',
    });
    assert.equal(badJson.status, 400);
  });
});
