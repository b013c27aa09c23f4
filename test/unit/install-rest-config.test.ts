import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ConfigError } from '../../lib/config/load.js';
import { loadRestConfig } from '../../lib/install/index.js';

const REST_ENV = { CAFKIT_ORG_ID: '201', CAFKIT_REST_URL: 'https://co3.example.com', CAFKIT_API_KEY_ID: 'key', CAFKIT_API_KEY_SECRET: 'key-secret' };

test('install needs only org_id and rest: no broker settings', () => {
  const config = loadRestConfig({ env: REST_ENV });
  assert.equal(config.org_id, 201);
  assert.equal(config.rest.url, 'https://co3.example.com');
  assert.equal(config.rest.retries, 4);
});

test('a full config file works, and its broker section is not read (an unset broker variable does not matter)', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'cafkit-restcfg-'));
  try {
    writeFileSync(path.join(dir, 'ca.pem'), 'not really a CA');
    const file = path.join(dir, 'cafkit.yaml');
    writeFileSync(
      file,
      ['org_id: 202', 'broker: { url: stomp+ssl://b:65001, user: svc, password: "${UNSET_BROKER_PASSWORD}" }', 'rest: { url: https://co3.example.com, ca: ca.pem, api_key_id: k, api_key_secret: "${API_SECRET}" }'].join('\n'),
    );
    const config = loadRestConfig({ file, env: { API_SECRET: 'from-env-secret' } });
    assert.equal(config.org_id, 202);
    assert.equal(config.rest.api_key_secret, 'from-env-secret');
    assert.equal(config.rest.ca, path.join(dir, 'ca.pem'));
    assert.equal(loadRestConfig({ file, env: { API_SECRET: 'x-secret', CAFKIT_ORG_ID: '7' } }).org_id, 7);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('problems name the key', () => {
  assert.throws(() => loadRestConfig({ env: { CAFKIT_ORG_ID: '201' } }), (error: unknown) => error instanceof ConfigError && /rest: required/.test(error.message));
  assert.throws(() => loadRestConfig({ env: { ...REST_ENV, CAFKIT_API_KEY_SECRET: '', CAFKIT_REST_URL: 'not a url' } }), /rest\.url/);
  assert.throws(() => loadRestConfig({ env: { ...REST_ENV, CAFKIT_ORG_ID: 'two' } }), /CAFKIT_ORG_ID: "two" is not a whole number/);
  assert.throws(() => loadRestConfig({ file: '/nonexistent/cafkit.yaml', env: REST_ENV }), /does not exist/);
});
