import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { startEmulator, type EmulatorHandle } from '../../lib/emulator/index.js';
import { RestClient } from '../../lib/rest/client.js';
import { ConflictError, RestError } from '../../lib/rest/errors.js';
import { PACKAGE_ROOT } from '../../lib/cli/dev-state.js';

const certs = path.join(PACKAGE_ROOT, '.cafkit', 'certs');

describe('REST client against the emulator over verified HTTPS', () => {
  let emulator: EmulatorHandle;
  const login = { email: 'svc@example.com', password: 'session-password-1' };
  let ca: string;

  before(async () => {
    ca = readFileSync(path.join(certs, 'ca.pem'), 'utf8');
    emulator = await startEmulator({
      port: 0,
      tls: { cert: readFileSync(path.join(certs, 'broker.pem'), 'utf8'), key: readFileSync(path.join(certs, 'broker-key.pem'), 'utf8') },
      users: [login],
      apiKeys: [{ id: 'k1', secret: 'api-secret-123' }],
    });
  });
  after(async () => {
    await emulator?.close();
  });

  const client = (extra: Partial<ConstructorParameters<typeof RestClient>[0]> = {}) =>
    new RestClient({ url: emulator.url, orgId: 201, login, tls: { ca }, retryBaseMs: 10, ...extra });

  test('logs in with email and password, then sends X-sess-id and the cookie', async () => {
    const rest = client().withContextToken('ctx-1');
    const incident = await rest.get<{ id: number }>('/incidents/2095');
    assert.equal(incident.id, 2095);
    const calls = emulator.requests();
    assert.equal(calls.at(-2)!.path, '/rest/session');
    assert.equal(calls.at(-1)!.auth, 'session');
    assert.equal(calls.at(-1)!.contextToken, 'ctx-1');
    rest.close();
  });

  test('a GET is retried through 503s; a POST is not (it could be applied twice)', async () => {
    const rest = client({ apiKey: { id: 'k1', secret: 'api-secret-123' }, login: undefined, retries: 3 });
    emulator.setFaults({ errors: { count: 2, status: 503 } });
    assert.equal((await rest.get<{ id: number }>('/incidents/2095')).id, 2095);
    emulator.setFaults({ errors: { count: 1, status: 503 } });
    await assert.rejects(rest.post('/incidents/2095/comments', { text: 'once' }), (error: unknown) => error instanceof RestError && error.status === 503);
    emulator.setFaults({ errors: { count: 0 } });
    rest.close();
  });

  test('an expired session is renewed once, transparently', async () => {
    const rest = client();
    await rest.get('/incidents/2095');
    const mark = emulator.requests().length;
    emulator.expireSessions();
    assert.equal((await rest.get<{ id: number }>('/incidents/2095')).id, 2095);
    const after = emulator.requests().slice(mark).map((r) => `${r.method} ${r.path} ${r.status}`);
    assert.deepEqual(after, ['GET /rest/orgs/201/incidents/2095 401', 'POST /rest/session 200', 'GET /rest/orgs/201/incidents/2095 200']);
    rest.close();
  });

  test('getPut gives up with a clear error after the configured number of conflicts', async () => {
    const rest = client({ conflictTries: 3 });
    emulator.setFaults({ conflicts: 10 });
    await assert.rejects(rest.getPut<{ severity_code: number }>('/incidents/2095', (i) => ({ ...i, severity_code: 6 })), (error: unknown) => {
      assert.ok(error instanceof ConflictError);
      assert.match(error.message, /gave up after 3 tries on HTTP 409 Conflict/);
      return true;
    });
    emulator.setFaults({ conflicts: 0 });
    rest.close();
  });

  test('wrong credentials are a clear 401 that never shows the password', async () => {
    const rest = client({ login: { email: login.email, password: 'not-the-password' }, retries: 0 });
    await assert.rejects(rest.get('/incidents/2095'), (error: unknown) => {
      assert.ok(error instanceof RestError);
      assert.equal(error.status, 401);
      assert.doesNotMatch(error.message, /not-the-password/);
      return true;
    });
    rest.close();
  });
});
