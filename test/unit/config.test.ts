import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ConfigError, loadConfig } from '../../lib/config/load.js';
import { CONFIG_ENV } from '../support/config-env.js';
import { unknownRuleTargets } from '../../lib/activity/alert-selection.js';

const env = CONFIG_ENV;

function file(text: string): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'cafkit-config-'));
  const name = path.join(dir, 'cafkit.yaml');
  writeFileSync(name, text);
  return name;
}

test('environment variables alone make a complete config with defaults', () => {
  const config = loadConfig({ env });
  assert.equal(config.org_id, 201);
  assert.equal(config.broker.url, 'stomp+ssl://localhost:61612');
  assert.equal(config.runtime.concurrency, 25);
  assert.equal(config.broker.reconnect_max_ms, 60_000);
  assert.equal(config.rest.api_key_secret, 'key-secret');
});

test('CAFKIT_CONCURRENCY overrides the file and must be a number', () => {
  assert.equal(loadConfig({ env: { ...env, CAFKIT_CONCURRENCY: '300' } }).runtime.concurrency, 300);
  assert.throws(() => loadConfig({ env: { ...env, CAFKIT_CONCURRENCY: 'many' } }), /CAFKIT_CONCURRENCY: "many" is not a whole number/);
});

test('a bad value is reported with its key', () => {
  const f = file('org_id: 201\nbroker: { url: "http://nope", user: u, password: p }\nrest: { url: https://x, api_key_id: a, api_key_secret: b }\n');
  assert.throws(() => loadConfig({ file: f, env: {} }), (error: unknown) => {
    assert.ok(error instanceof ConfigError);
    assert.match(error.message, /broker\.url: must look like stomp\+ssl:\/\/host:port/);
    return true;
  });
});

test('an unknown key and a missing key are both named', () => {
  const f = file('org_id: 201\nbroker: { url: "stomp+ssl://h:1", user: u, password: p, pasword: x }\nrest: { url: https://x, email: a@b.c }\n');
  assert.throws(() => loadConfig({ file: f, env: {} }), (error: unknown) => {
    assert.ok(error instanceof ConfigError);
    assert.match(error.message, /broker\.pasword: unknown key/);
    assert.match(error.message, /rest\.password: a session login needs both email and password/);
    return true;
  });
});

test('${VAR} in the file is taken from the environment, and a missing one is named', () => {
  const text = 'org_id: 201\nbroker: { url: "stomp+ssl://h:1", user: u, password: "${BROKER_PW}" }\nrest: { url: https://x, api_key_id: a, api_key_secret: b }\n';
  assert.equal(loadConfig({ file: file(text), env: { BROKER_PW: 'from-env' } }).broker.password, 'from-env');
  assert.throws(() => loadConfig({ file: file(text), env: {} }), /broker\.password: environment variable BROKER_PW is not set/);
});

test('a CA file that does not exist is named', () => {
  assert.throws(() => loadConfig({ env: { ...env, CAFKIT_BROKER_CA: '/nonexistent/ca.pem' } }), /broker\.ca: file \/nonexistent\/ca\.pem does not exist/);
});

test('alerting: channels are off by default; a bad channel option names its key', () => {
  assert.equal(loadConfig({ env }).alerting.alert_all, false);
  assert.equal(loadConfig({ env }).alerting.syslog, undefined);
  const noRecipient = file('alerting:\n  email: { enable: true, host: smtp.example.com, from: a@example.com }\n');
  assert.throws(() => loadConfig({ file: noRecipient, env }), /alerting\.email\.to: give at least one recipient/);
  const nowhere = file('alerting:\n  http: { enable: true, url: "https://hooks.example.com/x" }\n');
  assert.throws(() => loadConfig({ file: nowhere, env }), /alerting\.http\.use_body: the activity would be sent nowhere/);
  const clear = file('alerting:\n  email: { enable: true, host: smtp.example.com, security: none, user: u, password: p, from: a@example.com, to: [b@example.com] }\n');
  assert.throws(() => loadConfig({ file: clear, env }), /alerting\.email\.security: credentials would cross the network in clear/);
  const badRule = file('alerting:\n  rules: { incident-ops: { pager: true } }\n');
  assert.throws(() => loadConfig({ file: badRule, env }), /alerting\.rules\.incident-ops\.pager: unknown key/);
  const scram = file('alerting:\n  kafka: { enable: true, brokers: ["k:9092"], auth_mechanism: SCRAM }\n');
  assert.throws(() => loadConfig({ file: scram, env }), /alerting\.kafka\.user: auth_mechanism SCRAM needs a user and password/);
});

test('alerting: TLS files of a channel are resolved against the config file and must exist', () => {
  const missing = file('alerting:\n  syslog: { enable: true, remote: true, protocol: tls, tls: { ca: no-such-ca.pem } }\n');
  assert.throws(() => loadConfig({ file: missing, env }), /alerting\.syslog\.tls\.ca: file .*no-such-ca\.pem does not exist/);
  const dir = path.dirname(file('x: 1\n'));
  writeFileSync(path.join(dir, 'ca.pem'), 'PEM');
  writeFileSync(path.join(dir, 'cafkit.yaml'), 'alerting:\n  thehive: { enable: true, url: "https://hive.example.com", api_key: k, tls: { ca: ca.pem } }\n');
  assert.equal(loadConfig({ file: path.join(dir, 'cafkit.yaml'), env }).alerting.thehive?.tls.ca, path.join(dir, 'ca.pem'));
});

test('alerting rules naming a processor or action that is not loaded are reported', () => {
  const processors = [{ name: 'incident-ops', destination: 'incident_ops', actions: { Echo: () => undefined, 'Add Note': () => undefined } }];
  assert.deepEqual(unknownRuleTargets({ 'incident-ops': {}, 'incident-ops/Echo': {} }, processors), []);
  assert.deepEqual(unknownRuleTargets({ 'incident_ops': {}, 'incident-ops/Ecco': {} }, processors), [
    'alerting.rules.incident_ops: no processor named incident_ops is loaded (incident-ops)',
    'alerting.rules.incident-ops/Ecco: processor incident-ops has no action Ecco (Echo, Add Note)',
  ]);
});
