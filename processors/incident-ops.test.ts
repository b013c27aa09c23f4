import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { build, testProcessor, type ProcessorKit } from '../lib/testing/index.js';
import processor from './incident-ops.js';

let kit: ProcessorKit;
before(async () => {
  kit = await testProcessor(processor);
});
after(async () => {
  await kit.close();
});

test('Echo answers with the action fields as results', async () => {
  const run = await kit.run('Echo', build.message({ properties: { a: 1 } }));
  assert.equal(run.status, 'completed');
  assert.deepEqual(run.results, { a: 1 });
});

test('Add Note posts the text as a comment, with the context token', async () => {
  const run = await kit.run('Add Note', build.message({ incident: build.incident({ id: 2095 }), properties: { note_text: 'collect the logs' } }));
  assert.equal(run.status, 'completed', run.message);
  const post = run.calls.find((c) => c.method === 'POST' && c.path === '/rest/orgs/201/incidents/2095/comments');
  assert.ok(post, 'comment posted');
  assert.deepEqual(post.body, { text: 'collect the logs' });
  assert.ok(run.calls.every((c) => c.contextToken === run.contextToken));
});

test('Add Note re-run after a crash finds the note its interrupted run added, and posts only when there is none', async () => {
  const firstStartedAt = Date.now();
  const message = build.message({ incident: build.incident({ id: 2095 }), properties: { note_text: 'isolate host 7' } });
  const first = await kit.run('Add Note', message);
  assert.equal(first.status, 'completed', first.message);
  // The same invocation again, as if the processor had been killed after the POST and before its reply.
  const rerun = await kit.run('Add Note', message, { rerun: { firstStartedAt } });
  assert.equal(rerun.status, 'completed', rerun.message);
  assert.match(rerun.message, /found from a run interrupted/);
  assert.deepEqual(rerun.results, first.results);
  assert.equal(rerun.calls.filter((c) => c.method === 'POST').length, 0, 'no second note');
  // Killed before its POST: the re-run finds nothing and posts.
  const unfinished = await kit.run('Add Note', build.message({ incident: build.incident({ id: 2095 }), properties: { note_text: 'reset the password' } }), { rerun: { firstStartedAt: Date.now() } });
  assert.equal(unfinished.calls.filter((c) => c.method === 'POST').length, 1);
  assert.match(unfinished.message, /^Note added to incident 2095$/);
});

test('Add Note without text is an error the analyst understands', async () => {
  const run = await kit.run('Add Note', build.message({ properties: {} }));
  assert.equal(run.status, 'error');
  assert.equal(run.message, 'action field note_text is empty');
  assert.equal(run.calls.filter((c) => c.method !== 'GET').length, 0);
});

test('Set Severity reports progress and survives conflicts by re-reading', async () => {
  kit.emulator.setFaults({ conflicts: 2 });
  const run = await kit.run('Set Severity', build.message({ incident: build.incident({ id: 2096 }), properties: { severity: 'High' }, selects: { severity: build.SEVERITIES } }));
  assert.equal(run.status, 'completed', run.message);
  assert.deepEqual(run.progress, ['Setting severity of incident 2096 to High']);
  assert.deepEqual(run.calls.filter((c) => c.method === 'PUT').map((c) => c.status), [409, 409, 200]);
  assert.equal(kit.emulator.store.incident(2096).severity_code, 6);
});

test('Set Severity refuses a value that is not one of the field choices', async () => {
  const run = await kit.run('Set Severity', build.message({ properties: { severity: 99 }, selects: { severity: build.SEVERITIES } }));
  assert.equal(run.status, 'error');
  assert.match(run.message, /action field severity holds 99, not one of its choices/);
});

test('a malformed message is dead-lettered with the reason', async () => {
  const run = await kit.run('Echo', '{"not":"an action"}');
  assert.equal(run.status, 'dead-lettered');
  assert.match(run.deadLetterReason ?? '', /action_id: required/);
});
