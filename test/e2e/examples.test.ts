import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startStack, type Platform, type Stack } from '../support/stack.js';
import { transportLabel } from '../support/test-broker.js';

describe(`example processors and the emulator [${transportLabel()}]`, () => {
  let stack: Stack;
  let platform: Platform;

  before(async () => {
    stack = await startStack();
    platform = stack.platform;
  });

  after(async () => {
    await stack?.stop();
  });

  test('Echo replies with the request correlation-id and the action fields as results', async () => {
    const inv = await platform.emulator.trigger({ destination: 'incident_ops', action: 'Echo', incident: 2095, properties: { note_text: 'ping' } });
    const done = await platform.emulator.waitFor(inv.id, { timeoutMs: 30_000, status: 'done' });
    assert.equal(done.status, 'completed');
    const final = done.messages.at(-1)!;
    assert.equal(final.complete, true);
    assert.equal(final.message_type, 0);
    assert.deepEqual(final.results, { note_text: 'ping' });
    assert.match(done.correlation_id, /^invid:/);
  });

  test('Add Note posts the note text on the incident, with the context token on every REST call', async () => {
    const before = platform.emulator.store.notes(2095).length;
    const inv = await platform.emulator.trigger({ destination: 'incident_ops', action: 'Add Note', incident: 2095, properties: { note_text: 'collect logs from xyz' } });
    const done = await platform.emulator.waitFor(inv.id, { timeoutMs: 30_000, status: 'done' });
    assert.equal(done.status, 'completed', JSON.stringify(done.messages));
    const notes = platform.emulator.store.notes(2095);
    assert.equal(notes.length, before + 1);
    assert.match(JSON.stringify(notes.at(-1)), /collect logs from xyz/);
    const calls = platform.emulator.requests().filter((r) => r.path.startsWith('/rest/orgs/'));
    assert.ok(calls.length > 0);
    for (const call of calls) assert.ok(call.contextToken, `${call.method} ${call.path} carried no X-Co3ContextToken`);
    const comment = calls.find((c) => c.method === 'POST' && c.path.endsWith('/incidents/2095/comments'));
    assert.ok(comment, 'the comment POST was recorded');
  });

  test('Set Severity succeeds through forced 409 conflicts, re-reading each time', async () => {
    const start = platform.emulator.store.incident(2095);
    const target = start.severity_code === 6 ? 5 : 6;
    const label = target === 6 ? 'High' : 'Medium';
    platform.emulator.setFaults({ conflicts: 3 });
    const mark = platform.emulator.requests().length;
    const inv = await platform.emulator.trigger({ destination: 'incident_ops', action: 'Set Severity', incident: 2095, properties: { severity: label } });
    const done = await platform.emulator.waitFor(inv.id, { timeoutMs: 30_000, status: 'done' });
    assert.equal(done.status, 'completed', JSON.stringify(done.messages));
    assert.ok(done.messages.some((m) => !m.complete && /Setting severity/.test(m.text)), 'a progress message was shown');
    const incident = platform.emulator.store.incident(2095);
    assert.equal(incident.severity_code, target);
    const puts = platform.emulator.requests().slice(mark).filter((r) => r.method === 'PUT' && r.path.endsWith('/incidents/2095'));
    assert.deepEqual(puts.map((p) => p.status), [409, 409, 409, 200]);
    const gets = platform.emulator.requests().slice(mark).filter((r) => r.method === 'GET' && r.path.endsWith('/incidents/2095'));
    assert.equal(gets.length, 4, 'each conflict was followed by a fresh GET');
  });

  test('Set Severity gives a clear error when conflicts never stop', async () => {
    platform.emulator.setFaults({ conflicts: 1000 });
    try {
      const inv = await platform.emulator.trigger({ destination: 'incident_ops', action: 'Set Severity', incident: 2096, properties: { severity: 'High' } });
      const done = await platform.emulator.waitFor(inv.id, { timeoutMs: 60_000, status: 'done' });
      assert.equal(done.status, 'error');
      assert.match(done.messages.at(-1)!.text, /gave up after 10 tries on HTTP 409 Conflict/);
    } finally {
      platform.emulator.setFaults({ conflicts: 0 });
    }
  });

  test('an action without a handler gets an error reply saying so', async () => {
    platform.emulator.store.createAction({ name: 'Unhandled Thing', type: 1, object_type: 'incident', message_destinations: ['incident_ops'] } as never);
    const inv = await platform.emulator.trigger({ destination: 'incident_ops', action: 'Unhandled Thing', incident: 2095 });
    const done = await platform.emulator.waitFor(inv.id, { timeoutMs: 30_000, status: 'done' });
    assert.equal(done.status, 'error');
    assert.match(done.messages.at(-1)!.text, /no handler for action "Unhandled Thing" on destination "incident_ops"/);
  });

  test('a downstream failure (REST answering 503) becomes an error reply', async () => {
    platform.emulator.setFaults({ errors: { count: 100, status: 503 } });
    try {
      const inv = await platform.emulator.trigger({ destination: 'incident_ops', action: 'Add Note', incident: 2095, properties: { note_text: 'x' } });
      const done = await platform.emulator.waitFor(inv.id, { timeoutMs: 60_000, status: 'done' });
      assert.equal(done.status, 'error');
      assert.match(done.messages.at(-1)!.text, /HTTP 503/);
    } finally {
      platform.emulator.setFaults({ errors: { count: 0 } });
    }
  });
});
