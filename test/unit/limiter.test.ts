import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Limiter } from '../../lib/runtime/limiter.js';

function gate() {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => (open = resolve));
  return { promise, open };
}

test('never runs more tasks than its capacity', async () => {
  const limiter = new Limiter(3);
  let running = 0;
  let peak = 0;
  const gates = Array.from({ length: 10 }, gate);
  const all = gates.map((g) => limiter.run(async () => {
    running++;
    peak = Math.max(peak, running);
    await g.promise;
    running--;
  }));
  for (const g of gates) {
    g.open();
    await Promise.resolve();
  }
  await Promise.all(all);
  assert.equal(peak, 3);
});

test('tasks of one key run one after another, in order; other keys are not held up', async () => {
  const limiter = new Limiter(10);
  const order: string[] = [];
  const first = gate();
  const a1 = limiter.run(async () => { await first.promise; order.push('a1'); }, 'incident:1');
  const a2 = limiter.run(async () => { order.push('a2'); }, 'incident:1');
  const b1 = limiter.run(async () => { order.push('b1'); }, 'incident:2');
  await b1;
  assert.deepEqual(order, ['b1']);
  first.open();
  await Promise.all([a1, a2]);
  assert.deepEqual(order, ['b1', 'a1', 'a2']);
});

test('a failed task does not block the next of its key', async () => {
  const limiter = new Limiter(1);
  await assert.rejects(limiter.run(async () => { throw new Error('boom'); }, 'k'), /boom/);
  assert.equal(await limiter.run(async () => 'next', 'k'), 'next');
});
