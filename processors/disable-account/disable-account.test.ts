import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { build, testProcessor, type ProcessorKit } from '../../lib/testing/index.js';
import { closedPortUrl } from '../../test/support/external/fake-api.js';
import { startDirectory } from '../../test/support/external/directory.js';
import processor from './index.js';

const onTask = (userId: unknown) => build.message({ incident: build.incident({ id: 2095 }), task: build.task({ id: 1 }), properties: userId === undefined ? {} : { user_id: userId } });

describe('disable-account', () => {
  let directory: Awaited<ReturnType<typeof startDirectory>>;
  let kit: ProcessorKit;
  before(async () => {
    directory = await startDirectory();
    kit = await testProcessor(processor, { settings: { url: directory.url, token: directory.token } });
  });
  after(async () => {
    await kit?.close();
    await directory?.stop();
  });

  test('looks the user up, disables, verifies, with progress at each step, and notes it on the incident', async () => {
    const mark = directory.requests.length;
    const run = await kit.run('Disable Account', onTask('jdoe'));
    assert.equal(run.status, 'completed', run.message);
    assert.equal(run.message, 'jdoe (John Doe) disabled in the directory (verified)');
    assert.deepEqual(run.results, { user_id: 'jdoe', disabled: true, already_disabled: false });
    assert.deepEqual(run.progress, ['Looking up user jdoe in the directory', 'Disabling jdoe (John Doe)', 'Verifying that jdoe is disabled']);

    const requests = directory.requests.slice(mark);
    assert.deepEqual(requests.map((r) => `${r.method} ${r.path}`), ['GET /api/users/jdoe', 'POST /api/users/jdoe/disable', 'GET /api/users/jdoe']);
    assert.ok(requests.every((r) => r.headers.authorization === `Bearer ${directory.token}`));
    assert.deepEqual(requests[1]!.body, { reason: 'Compromised account: incident 2095, requested by analyst@example.com' });
    assert.equal(directory.users.get('jdoe')!.enabled, false);

    const note = run.calls.find((c) => c.method === 'POST' && c.path === '/rest/orgs/201/incidents/2095/comments');
    assert.deepEqual(note?.body, { text: 'Account jdoe (John Doe) disabled in the directory, requested by analyst@example.com.' });
    assert.ok(run.calls.every((c) => c.contextToken === run.contextToken), 'every REST call carried the context token');
  });

  test('works the same from the incident', async () => {
    const run = await kit.run('Disable Account (Incident)', build.message({ incident: build.incident({ id: 2095 }), properties: { user_id: 'asmith' } }));
    assert.equal(run.status, 'completed', run.message);
    assert.equal(directory.users.get('asmith')!.enabled, false);
  });

  test('an account that is already disabled is a success saying so, with no change', async () => {
    const mark = directory.requests.length;
    const run = await kit.run('Disable Account', onTask('old.account'));
    assert.equal(run.status, 'completed', run.message);
    assert.equal(run.message, 'old.account (Old Account) is already disabled in the directory; nothing to do');
    assert.deepEqual(run.results, { user_id: 'old.account', disabled: true, already_disabled: true });
    assert.deepEqual(directory.requests.slice(mark).map((r) => r.method), ['GET']);
    assert.equal(run.calls.filter((c) => c.method === 'POST').length, 0);
  });

  test('a user the directory does not know is an error saying so', async () => {
    const run = await kit.run('Disable Account', onTask('ghost'));
    assert.equal(run.status, 'error');
    assert.equal(run.message, 'user ghost does not exist in the directory');
    assert.deepEqual(run.progress, ['Looking up user ghost in the directory']);
  });

  test('a missing or malformed user_id is refused before the directory is asked', async () => {
    const mark = directory.requests.length;
    const missing = await kit.run('Disable Account', onTask(undefined));
    assert.equal(missing.status, 'error');
    assert.equal(missing.message, 'action field user_id is required: the directory id of the account to disable');
    const blank = await kit.run('Disable Account', onTask('   '));
    assert.equal(blank.message, missing.message);
    const odd = await kit.run('Disable Account', onTask('../admin/disable'));
    assert.equal(odd.status, 'error');
    assert.equal(odd.message, 'action field user_id holds "../admin/disable", which is not a directory user id (letters, digits, and . _ - @)');
    assert.equal(directory.requests.length, mark);
  });

  test('a directory that accepts but does not disable is caught by the verification', async () => {
    directory.users.set('mlee', { id: 'mlee', display_name: 'Mo Lee', enabled: true });
    directory.behaviour.ignoreDisable = true;
    try {
      const run = await kit.run('Disable Account', onTask('mlee'));
      assert.equal(run.status, 'error');
      assert.equal(run.message, 'the directory accepted disabling mlee (Mo Lee), but still reports the account enabled');
    } finally {
      directory.behaviour.ignoreDisable = false;
    }
  });

  test('a directory answering 500 on the disable is an error naming it and the step', async () => {
    directory.users.set('kpatel', { id: 'kpatel', display_name: 'K Patel', enabled: true });
    directory.failing(500, 1, (r) => r.method === 'POST');
    const done = await kit.run('Disable Account', onTask('kpatel'));
    assert.equal(done.status, 'error');
    assert.equal(done.message, `directory at ${directory.url} refused disabling user kpatel: HTTP 500 Internal Server Error: directory is having trouble (fault injected)`);
    assert.equal(directory.users.get('kpatel')!.enabled, true);
  });

  test('a directory that is down is an error naming it', async () => {
    directory.down();
    try {
      const run = await kit.run('Disable Account', onTask('jdoe'));
      assert.equal(run.status, 'error');
      assert.equal(run.message, `directory at ${directory.url} could not be reached: ECONNRESET`);
    } finally {
      directory.up();
    }
  });
});

test('disable-account: a directory that is not listening is reported as ECONNREFUSED', async () => {
  const url = await closedPortUrl();
  const kit = await testProcessor(processor, { settings: { url, token: 't0ken' } });
  try {
    const run = await kit.run('Disable Account', onTask('jdoe'));
    assert.equal(run.status, 'error');
    assert.equal(run.message, `directory at ${url} could not be reached: ECONNREFUSED`);
  } finally {
    await kit.close();
  }
});
