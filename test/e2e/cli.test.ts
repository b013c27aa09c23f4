import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { startPlatform, processorConfig, startRuntime, type Platform } from '../support/stack.js';
import type { Runtime } from '../../lib/runtime/runtime.js';
import { runCafkit } from '../support/cli.js';
import { testTransport, transportLabel } from '../support/test-broker.js';

const cafkit = (args: string[], env: Record<string, string>) => runCafkit(args, env);

describe(`the cafkit command line [${transportLabel()}]`, () => {
  let platform: Platform;
  let runtime: Runtime | undefined;

  before(async () => {
    platform = await startPlatform();
  });
  after(async () => {
    await runtime?.stop(5000);
    await platform?.stop();
  });

  test('selftest names the platform objects the processors need and the platform lacks', async () => {
    const { code, out } = await cafkit(['selftest'], platform.env);
    assert.equal(code, 1, out);
    assert.match(out, /FAIL platform objects: missing on the platform: .*message destination helpdesk.*\(run cafkit install\)/);
    assert.match(out, /action "Create Ticket"/);
    assert.doesNotMatch(out, /message destination incident_ops/, 'the seeded example destination is not reported');
  });

  test('install --dry-run shows the plan and changes nothing; --yes applies it; a second run has nothing to do', async () => {
    const mark = platform.emulator.requests().length;
    const dry = await cafkit(['install', '--dry-run'], platform.env);
    assert.equal(dry.code, 0, dry.out);
    assert.match(dry.out, /\+ create .*helpdesk/);
    assert.equal(platform.emulator.requests().slice(mark).filter((r) => r.method !== 'GET').length, 0);
    const applied = await cafkit(['install', '--yes'], platform.env);
    assert.equal(applied.code, 0, applied.out);
    assert.match(applied.out, /Applied \d+ changes/);
    const again = await cafkit(['install', '--yes'], platform.env);
    assert.equal(again.code, 0, again.out);
    assert.match(again.out, /0 to create, 0 to update/);
  });

  test('selftest passes once installed: REST login, platform objects, TLS connect, subscribe permission', async () => {
    const { code, out } = await cafkit(['selftest'], platform.env);
    assert.equal(code, 0, out);
    assert.match(out, /ok +platform objects: all \d+ destinations, fields and actions the processors need are there/);
    assert.match(out, /ok +REST login/);
    assert.match(out, /ok +broker TLS connect/);
    assert.match(out, /ok +subscribe queue actions\.201\.incident_ops: allowed/);
  });

  test('selftest fails, naming the reason, when the broker certificate is not trusted', async () => {
    const { code, out } = await cafkit(['selftest', '--timeout', '5000'], { ...platform.env, CAFKIT_BROKER_CA: path.join(platform.broker.certsDir, 'rogue-ca.pem') });
    assert.equal(code, 1, out);
    assert.match(out, /FAIL broker TLS connect: .*(self[- ]signed|unable to)/i);
  });

  test('selftest fails when the broker refuses the login', async () => {
    const { code, out } = await cafkit(['selftest', '--timeout', '5000'], { ...platform.env, CAFKIT_BROKER_PASSWORD: 'wrong-password-123' });
    assert.equal(code, 1, out);
    assert.match(out, /FAIL broker TLS connect/);
    assert.doesNotMatch(out, /wrong-password-123/);
  });

  test('selftest names a destination the processor user may not read', async () => {
    const { code, out } = await cafkit(['selftest', '--timeout', '5000'], { ...platform.env, CAFKIT_ORG_ID: '999' });
    assert.equal(code, 1, out);
    // ActiveMQ: "not authorized"; RabbitMQ: "access to queue … refused" (STOMP's ERROR frame, AMQP's session error).
    // RabbitMQ's web-stomp only closes the WebSocket ("STOMP died"): all a client over wss can report.
    const refused = testTransport() === 'wss' ? /the broker closed the WebSocket \(1000: STOMP died\)\) \(RabbitMQ web-stomp closes the connection when it refuses a frame: check that this user may read the queue\)/ : /not authorized|access to queue 'actions\.999\.incident_ops' in vhost '\/' refused/i;
    assert.match(out, new RegExp(`FAIL subscribe queue actions\\.999\\.incident_ops: .*(${refused.source})`, 'i'));
  });

  test('run exits 2 and names the key when the config is bad', async () => {
    const { code, out } = await cafkit(['run'], { ...platform.env, CAFKIT_BROKER_URL: 'http://broker:61612' });
    assert.equal(code, 2, out);
    assert.match(out, /broker\.url: must look like stomp\+ssl:\/\/host:port/);
  });

  test('trigger invokes an action through the emulator and prints its Action Status', async () => {
    runtime = await startRuntime(processorConfig(platform));
    const { code, out } = await cafkit(['trigger', 'incident_ops', 'Echo', '--incident', '2095', '--prop', 'note_text=from the cli'], {
      CAFKIT_EMULATOR_URL: platform.emulator.url,
      CAFKIT_REST_CA: platform.broker.ca,
    });
    assert.equal(code, 0, out);
    assert.match(out, /Echo on incident 2095 .*COMPLETED/);
    assert.match(out, /"note_text":"from the cli"/);
  });
});
