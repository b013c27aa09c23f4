import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, loadConfig } from '../../lib/config/load.js';
import { CONFIG_ENV } from '../support/config-env.js';

const env = CONFIG_ENV;

test('the operator API listens on loopback:8686 with a generated token unless told otherwise', () => {
  const { api } = loadConfig({ env });
  assert.deepEqual({ enable: api.enable, host: api.host, port: api.port, auth: api.auth, tokens: api.tokens }, { enable: true, host: '127.0.0.1', port: 8686, auth: true, tokens: [] });
});

test('CAFKIT_API_HOST, CAFKIT_API_PORT and CAFKIT_API_TOKEN set the host, the port and one token named env with both scopes', () => {
  const { api } = loadConfig({ env: { ...env, CAFKIT_API_HOST: '::1', CAFKIT_API_PORT: '0', CAFKIT_API_TOKEN: ' env-token-0123456789abcdef ' } });
  assert.equal(api.host, '::1');
  assert.equal(api.port, 0);
  assert.deepEqual(api.tokens, [{ name: 'env', token: 'env-token-0123456789abcdef', scopes: ['read', 'read:sensitive'] }]);
});

test('a bad CAFKIT_API_PORT or a short CAFKIT_API_TOKEN is a config error naming it', () => {
  assert.throws(() => loadConfig({ env: { ...env, CAFKIT_API_PORT: 'http' } }), (e: Error) => e instanceof ConfigError && /CAFKIT_API_PORT/.test(e.message));
  assert.throws(() => loadConfig({ env: { ...env, CAFKIT_API_PORT: '70000' } }), (e: Error) => e instanceof ConfigError && /api\.port/.test(e.message));
  assert.throws(() => loadConfig({ env: { ...env, CAFKIT_API_TOKEN: 'short' } }), (e: Error) => e instanceof ConfigError && /api\.tokens\.0\.token: must be at least 16/.test(e.message));
});

test('CAFKIT_API_ENABLE turns the API off, and must be true or false', () => {
  assert.equal(loadConfig({ env: { ...env, CAFKIT_API_ENABLE: 'false' } }).api.enable, false);
  assert.equal(loadConfig({ env: { ...env, CAFKIT_API_ENABLE: 'yes' } }).api.enable, true);
  assert.throws(() => loadConfig({ env: { ...env, CAFKIT_API_ENABLE: 'maybe' } }), /CAFKIT_API_ENABLE: "maybe" is not true or false/);
});
