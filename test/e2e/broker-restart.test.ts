import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startStack, type Platform, type Stack } from '../support/stack.js';
import { transportLabel } from '../support/test-broker.js';

describe(`the broker goes away mid-stream and comes back [${transportLabel()}]`, () => {
  let stack: Stack;
  let platform: Platform;

  before(async () => {
    stack = await startStack();
    platform = stack.platform;
  });
  after(async () => {
    await stack?.stop();
  });

  /** Triggers once the emulator's own broker link is back, within a deadline. */
  async function trigger(text: string) {
    const deadline = Date.now() + 60_000;
    for (;;) {
      try {
        return await platform.emulator.trigger({ destination: 'incident_ops', action: 'Add Note', incident: 2095, properties: { note_text: text } });
      } catch (error) {
        if (Date.now() > deadline) throw error;
        await new Promise((resolve) => setTimeout(resolve, 200)); // the emulator is reconnecting
      }
    }
  }

  test('every message is answered and every action ran exactly once', async () => {
    // Slow REST answers keep handlers in flight when the broker stops.
    platform.emulator.setFaults({ latencyMs: 400 });
    const invocations = [];
    for (let i = 0; i < 20; i++) invocations.push(await trigger(`restart-${i}`));
    const states: string[] = [];
    stack.runtime.transport.onState((s) => states.push(s));
    await platform.broker.stop();
    await platform.broker.start();
    for (let i = 20; i < 30; i++) invocations.push(await trigger(`restart-${i}`));
    platform.emulator.setFaults({ latencyMs: 0 });

    for (const inv of invocations) {
      const done = await platform.emulator.waitFor(inv.id, { timeoutMs: 90_000, status: 'done' });
      assert.equal(done.status, 'completed', `${inv.correlation_id}: ${JSON.stringify(done.messages)}`);
    }
    assert.ok(states.includes('disconnected') && states.includes('connected'), `the processor reconnected (states: ${states.join(',')})`);
    const notes = platform.emulator.store.notes(2095).map((n) => JSON.stringify(n));
    for (let i = 0; i < 30; i++) {
      const count = notes.filter((n) => n.includes(`"restart-${i}"`)).length;
      assert.equal(count, 1, `note restart-${i} was written ${count} times`);
    }
  });
});
