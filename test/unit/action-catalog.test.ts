import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ActionCatalog } from '../../lib/runtime/action-catalog.js';
import type { RestClient } from '../../lib/rest/client.js';

function platform(actions: Array<{ id: number; name: string }>) {
  let calls = 0;
  const rest = { get: async () => (calls++, { entities: actions.slice() }) } as unknown as RestClient;
  return { rest, calls: () => calls };
}

test('a new action id refreshes the list at once, even right after a refresh', async () => {
  const actions = [{ id: 11, name: 'Echo' }];
  const p = platform(actions);
  const catalog = new ActionCatalog(60_000);
  assert.equal(await catalog.resolve(11, p.rest), 'Echo');
  actions.push({ id: 12, name: 'Add Note' }); // installed a moment later
  assert.equal(await catalog.resolve(12, p.rest), 'Add Note');
  assert.equal(await catalog.resolve(11, p.rest), 'Echo');
  assert.equal(p.calls(), 2);
});

test('an unknown id is looked up once, then not again until the interval passes', async () => {
  const p = platform([{ id: 11, name: 'Echo' }]);
  const catalog = new ActionCatalog(60_000);
  assert.equal(await catalog.resolve(99, p.rest), undefined);
  assert.equal(await catalog.resolve(99, p.rest), undefined);
  assert.equal(p.calls(), 1);
});

test('concurrent misses share one refresh', async () => {
  const p = platform([{ id: 11, name: 'Echo' }, { id: 12, name: 'Add Note' }]);
  const catalog = new ActionCatalog();
  const names = await Promise.all([catalog.resolve(11, p.rest), catalog.resolve(12, p.rest), catalog.resolve(11, p.rest)]);
  assert.deepEqual(names, ['Echo', 'Add Note', 'Echo']);
  assert.equal(p.calls(), 1);
});
