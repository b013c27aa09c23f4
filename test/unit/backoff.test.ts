import { test } from 'node:test';
import assert from 'node:assert/strict';
import { backoffDelay } from '../../lib/broker/backoff.js';

test('reconnect delays grow exponentially and stop at the cap', () => {
  const mid = () => 0.5; // no jitter
  assert.deepEqual([1, 2, 3, 4, 5, 6, 7, 8].map((n) => backoffDelay(n, { initialMs: 1000, maxMs: 60_000 }, mid)), [1000, 2000, 4000, 8000, 16000, 32000, 60000, 60000]);
});

test('jitter spreads delays either way but never past the cap', () => {
  assert.equal(backoffDelay(3, { initialMs: 1000, jitter: 0.2 }, () => 0), 3200);
  assert.equal(backoffDelay(3, { initialMs: 1000, jitter: 0.2 }, () => 1), 4800);
  assert.equal(backoffDelay(20, { initialMs: 1000, maxMs: 60_000, jitter: 0.2 }, () => 1), 60_000);
});
