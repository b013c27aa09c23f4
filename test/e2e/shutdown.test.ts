import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startPlatform, spawnProcessor, FIXTURES, type Platform, type ProcessorProcess } from '../support/stack.js';
import { transportLabel } from '../support/test-broker.js';

describe(`SIGTERM with actions in flight [${transportLabel()}]`, () => {
  let platform: Platform;
  const processes: ProcessorProcess[] = [];

  before(async () => {
    platform = await startPlatform();
    platform.emulator.store.createAction({ name: 'Slow Note', type: 1, object_type: 'incident', message_destinations: ['incident_ops'], view_items: [{ content: 'note_text' }] } as never);
  });
  after(async () => {
    for (const p of processes) await p.stop('SIGKILL');
    await platform?.stop();
  });

  test('in-flight actions finish, the process exits 0, and the rest run on the next start, once each', async () => {
    const env = { ...platform.env, CAFKIT_PROCESSORS: FIXTURES, CAFKIT_CONCURRENCY: '4', SLOW_NOTE_MS: '1500', CAFKIT_LOG_LEVEL: 'debug' };
    const first = spawnProcessor(env);
    processes.push(first);
    await first.waitForOutput(/processing/);

    const invocations = [];
    for (let i = 0; i < 10; i++) {
      invocations.push(await platform.emulator.trigger({ destination: 'incident_ops', action: 'Slow Note', incident: 2096, properties: { note_text: `drain-${i}` } }));
    }
    // Wait until four actions are running (their "started" progress arrived).
    const started = await waitUntil(() => {
      const running = platform.emulator.invocations().filter((inv) => inv.messages.some((m) => m.text === 'started'));
      return running.length >= 4 ? running : undefined;
    }, 'four actions in flight');

    assert.equal(await first.stop('SIGTERM'), 0, first.output());
    for (const inv of started) {
      const now = platform.emulator.invocations().find((i) => i.id === inv.id)!;
      assert.equal(now.status, 'completed', `in-flight ${inv.correlation_id} finished before exit`);
    }
    const pending = platform.emulator.invocations().filter((inv) => inv.status === 'pending');
    assert.ok(pending.length > 0, 'some actions were left for the next start');

    const second = spawnProcessor(env);
    processes.push(second);
    for (const inv of invocations) {
      const done = await platform.emulator.waitFor(inv.id, { timeoutMs: 60_000, status: 'done' });
      assert.equal(done.status, 'completed');
    }
    assert.equal(await second.stop('SIGTERM'), 0);
    for (const secret of [platform.env.CAFKIT_BROKER_PASSWORD, platform.env.CAFKIT_API_KEY_SECRET, ...platform.emulator.requests().map((r) => r.contextToken)]) {
      if (!secret) continue;
      assert.ok(!first.output().includes(secret) && !second.output().includes(secret), 'a secret or context token reached the processor log');
    }
    const notes = platform.emulator.store.notes(2096).map((n) => JSON.stringify(n));
    for (let i = 0; i < 10; i++) assert.equal(notes.filter((n) => n.includes(`"drain-${i}"`)).length, 1, `drain-${i} ran once`);
  });
});

async function waitUntil<T>(read: () => T | undefined, what: string, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = read();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}
