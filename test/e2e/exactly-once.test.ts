import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startPlatform, spawnProcessor, FIXTURES, type Platform, type ProcessorProcess } from '../support/stack.js';
import { startMariaDb, type MariaDbInstance } from '../support/mariadb.js';
import { collect } from '../support/collector.js';
import { brokerLink, transportLabel } from '../support/test-broker.js';
import type { Transport } from '../../lib/broker/transport.js';

describe(`three processor processes on one queue, sharing MariaDB [${transportLabel()}]`, () => {
  let platform: Platform;
  let db: MariaDbInstance;
  const processes: ProcessorProcess[] = [];
  let link: Transport | undefined;

  before(async () => {
    [platform, db] = await Promise.all([startPlatform(), startMariaDb()]);
    platform.emulator.store.createAction({ name: 'Slow Note', type: 1, object_type: 'incident', message_destinations: ['incident_ops'], view_items: [{ content: 'note_text' }] } as never);
  });
  after(async () => {
    await link?.close();
    for (const p of processes) await p.stop('SIGKILL');
    await platform?.stop();
    await db?.dispose();
  });

  test('an invocation delivered twice at once (a redelivery racing its first run) runs once; both copies are answered', async () => {
    const env = { ...platform.env, CAFKIT_PROCESSORS: FIXTURES, SLOW_NOTE_MS: '600', CAFKIT_CONCURRENCY: '4', CAFKIT_ACTIVITY_STORES: db.url };
    for (let i = 0; i < 3; i++) processes.push(spawnProcessor(env));
    await Promise.all(processes.map((p) => p.waitForOutput(/processing/)));

    const b = platform.broker;
    link = brokerLink(b);
    await link.connect();
    const replies = collect(link, 'acks.201.exactly');
    await replies.ready;
    const actionId = platform.emulator.store.action('Slow Note').id;
    const count = 8;
    for (let i = 0; i < count; i++) {
      const body = JSON.stringify({ action_id: actionId, incident: { id: 2096 }, properties: { note_text: `twice-${i}` }, type_info: {} });
      const headers = { 'reply-to': '/queue/acks.201.exactly', 'correlation-id': `dup-${i}`, Co3ContextToken: `token-${i}` };
      await link.send('/queue/actions.201.incident_ops', body, { headers });
      await link.send('/queue/actions.201.incident_ops', body, { headers });
    }
    for (let i = 0; i < count; i++) {
      await replies.waitFor((m) => m.headers['correlation-id'] === `dup-${i}` && replies.messages.filter((r) => r.headers['correlation-id'] === `dup-${i}` && r.body.includes('"complete":true')).length === 2, `both replies to dup-${i}`, 60_000);
    }
    const notes = platform.emulator.store.notes(2096).map((n) => JSON.stringify(n));
    for (let i = 0; i < count; i++) assert.equal(notes.filter((n) => n.includes(`"twice-${i}"`)).length, 1, `twice-${i} ran once`);
    const outputs = processes.map((p) => p.output()).join('\n');
    assert.doesNotMatch(outputs, new RegExp(db.password), 'the database password never reaches a log');
    for (const p of processes) assert.equal(await p.stop('SIGTERM'), 0);
  });
});
