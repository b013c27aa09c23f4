import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ReplyGate } from '../../lib/runtime/reply-gate.js';

/** Resolves with whether `promise` settled before the macrotask queue ran once. */
async function settledNow(promise: Promise<unknown>): Promise<boolean> {
  let settled = false;
  void promise.then(() => (settled = true));
  await new Promise((resolve) => setImmediate(resolve));
  return settled;
}

test('a reply lost among others becomes a suspect; lost alone twice more, it is given up', () => {
  const gate = new ReplyGate();
  assert.equal(gate.verdict('k'), 'send');
  gate.lost('k', false, 'connection lost');
  gate.lost('k', false, 'connection lost'); // among others again: still one strike, it may not be its fault
  assert.equal(gate.losses('k'), 1);
  assert.equal(gate.verdict('k'), 'alone');
  gate.lost('k', true, 'connection lost');
  assert.equal(gate.verdict('k'), 'alone');
  gate.lost('k', true, 'STOMP died');
  assert.equal(gate.verdict('k'), 'give up');
  assert.equal(gate.losses('k'), 3);
  assert.equal(gate.cause('k'), 'STOMP died');
});

test('a reply that gets through is forgotten', () => {
  const gate = new ReplyGate();
  gate.lost('k', false, 'x');
  gate.settled('k');
  assert.equal(gate.verdict('k'), 'send');
  assert.equal(gate.losses('k'), 0);
});

test('a suspect waits until no other reply is in flight, and new replies wait for it', async () => {
  const gate = new ReplyGate();
  const releaseFirst = await gate.enter();
  const alone = gate.enterAlone();
  assert.equal(await settledNow(alone), false, 'the probe waits for the reply in flight');
  const later = gate.enter();
  assert.equal(await settledNow(later), false, 'a new reply waits behind the queued probe');
  releaseFirst();
  assert.equal(await settledNow(alone), true);
  assert.equal(await settledNow(later), false, 'still waiting while the probe runs');
  const releaseAlone = await alone;
  releaseAlone();
  releaseAlone(); // twice is harmless
  const releaseLater = await later;
  releaseLater();
});

test('two suspects go one at a time', async () => {
  const gate = new ReplyGate();
  const first = await gate.enterAlone();
  const second = gate.enterAlone();
  assert.equal(await settledNow(second), false);
  first();
  (await second)();
});

test('only `capacity` suspects are remembered, the oldest forgotten first', () => {
  const gate = new ReplyGate(3, 2);
  gate.lost('a', false, 'x');
  gate.lost('b', false, 'x');
  gate.lost('a', true, 'x'); // touched: now the newest
  gate.lost('c', false, 'x');
  assert.equal(gate.losses('b'), 0, 'b, the oldest, is forgotten');
  assert.equal(gate.losses('a'), 2);
  assert.equal(gate.losses('c'), 1);
});
