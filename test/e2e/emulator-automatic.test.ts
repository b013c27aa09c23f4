import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { setTimeout as delay } from 'node:timers/promises';
import { defineProcessor, RestClient } from '../../lib/index.js';
import { SEED_IDS, type Invocation } from '../../lib/emulator/index.js';
import type { Runtime } from '../../lib/runtime/runtime.js';
import { eventually, processorConfig, startPlatform, startRuntime, type Platform } from '../support/stack.js';
import { transportLabel } from '../support/test-broker.js';

interface Incident {
  id: number;
  vers: number;
  severity_code: number | null;
  [key: string]: unknown;
}

/** A processor on incident_ops with a handler per test action. */
const processor = defineProcessor<unknown>({
  name: 'automatic-test',
  destination: 'incident_ops',
  actions: {
    /** A "severity rule": always saves the incident with severity High, through getPut. */
    'Raise Severity': async (message, ctx) => {
      const id = message.incident!.id;
      await ctx.rest.getPut<Incident>(`/incidents/${id}`, (incident) => ({ ...incident, severity_code: 6 }));
      return `severity of incident ${id} set to High`;
    },
    'Look Up Artifact': (message, ctx) => ({
      message: 'looked up',
      results: { id: message.artifact?.id, value: message.artifact?.['value'], type: ctx.label('artifact', 'type', message.artifact?.['type']) },
    }),
    'Ticket From Note': (message) => ({ message: 'ticket opened', results: { text: message.note?.['text'], priority: message.properties['priority'] } }),
    'Disable Account': (message) => ({ message: 'disabled', results: { task: message.task?.['name'], incident: message.incident?.id } }),
  },
});

/** Starts a platform (broker + emulator with `options`) and the test processor on it. */
async function start(options: { loopGuard?: boolean; loopLimit?: number } = {}): Promise<{ platform: Platform; runtime: Runtime }> {
  const platform = await startPlatform({ emulator: options });
  try {
    return { platform, runtime: await startRuntime(processorConfig(platform), [processor]) };
  } catch (error) {
    await platform.stop();
    throw error;
  }
}

/** An incident only the "Raise Severity" rule is about (its condition names it), and the rule. */
function raiseSeverityOn(platform: Platform): Incident {
  const emu = platform.emulator;
  const incident = emu.store.createIncident({ name: 'Loop test', severity_code: 4 });
  emu.store.createAction({
    name: 'Raise Severity',
    type: 0,
    object_type: 'incident',
    message_destinations: ['incident_ops'],
    conditions: [{ field_name: 'incident.name', method: 'equals', value: 'Loop test' }],
  });
  return incident;
}

/** A REST client as an analyst's tools have it: no context token. */
function analystRest(platform: Platform): RestClient {
  const config = processorConfig(platform);
  return new RestClient({ url: config.rest.url, orgId: config.org_id, apiKey: { id: config.rest.api_key_id!, secret: config.rest.api_key_secret! }, tls: { ca: readFileSync(config.rest.ca!, 'utf8') } });
}

/** An analyst's save through REST, without a context token: what starts the rule. */
async function analystSaves(platform: Platform, id: number): Promise<void> {
  const rest = analystRest(platform);
  try {
    await rest.getPut<Incident>(`/incidents/${id}`, (incident) => ({ ...incident, description: 'edited by an analyst' }));
  } finally {
    rest.close();
  }
}

const fired = (platform: Platform, action: string): Invocation[] => platform.emulator.invocations().filter((i) => i.action_name === action);

describe(`automatic actions on a real broker, with the infinite-loop guard on (the default) [${transportLabel()}]`, () => {
  let platform: Platform;
  let runtime: Runtime;
  before(async () => {
    ({ platform, runtime } = await start());
  });
  after(async () => {
    await runtime?.stop(5000);
    await platform?.stop();
  });

  test('a rule whose handler saves the incident with the message\'s context token runs once and settles', async () => {
    const incident = raiseSeverityOn(platform);
    await analystSaves(platform, incident.id);
    const [first] = await eventually(() => (fired(platform, 'Raise Severity').length > 0 ? fired(platform, 'Raise Severity') : undefined), 'the rule to fire');
    const done = await platform.emulator.waitFor(first!.id, { timeoutMs: 30_000 });
    assert.equal(done.status, 'completed', JSON.stringify(done.messages));
    assert.equal(platform.emulator.store.incident(incident.id).severity_code, 6);
    // The handler's save carried the token of its own invocation, so the rule did not fire again.
    const saves = platform.emulator.requests().filter((r) => r.method === 'PUT' && r.path.endsWith(`/incidents/${incident.id}`));
    assert.deepEqual(saves.map((r) => r.invocationId), [undefined, first!.id]);
    await delay(1500);
    assert.equal(fired(platform, 'Raise Severity').length, 1);
  });

  test('an automatic action on artifacts fires for the types its condition names (by label), with the artifact and its type label', async () => {
    const emu = platform.emulator;
    emu.store.createAction({
      name: 'Look Up Artifact',
      type: 0,
      object_type: 'artifact',
      message_destinations: ['incident_ops'],
      conditions: [
        { method: 'object_added' },
        { field_name: 'artifact.type', method: 'in', value: ['IP Address', 'DNS Name'] },
      ],
    });
    // The runtime refreshes its action list at most once a second.
    await delay(1100);
    const rest = analystRest(platform);
    try {
      await rest.post('/incidents/2096/artifacts', { type: 'URL', value: 'https://login.examp1e.com' });
      const ip = await rest.post<{ id: number }>('/incidents/2096/artifacts', { type: 'IP Address', value: '198.51.100.7' });
      const [invocation] = fired(platform, 'Look Up Artifact');
      assert.ok(invocation, 'fired for the IP address');
      assert.equal(fired(platform, 'Look Up Artifact').length, 1, 'not for the URL');
      const done = await emu.waitFor(invocation.id, { timeoutMs: 30_000 });
      assert.equal(done.status, 'completed', JSON.stringify(done.messages));
      assert.deepEqual(done.messages.at(-1)?.results, { id: ip.id, value: '198.51.100.7', type: 'IP Address' });
    } finally {
      rest.close();
    }
  });

  test('manual actions on a note, an artifact and a task deliver the stored object', async () => {
    const emu = platform.emulator;
    emu.store.createField('actioninvocation', { name: 'priority', input_type: 'select', values: [{ label: 'Low' }, { label: 'High' }] });
    emu.store.createAction({ name: 'Ticket From Note', type: 1, object_type: 'note', message_destinations: ['incident_ops'], fields: ['priority'] });
    emu.store.createAction({ name: 'Disable Account', type: 1, object_type: 'task', message_destinations: ['incident_ops'] });
    emu.store.createAction({ name: 'Scan Sample', type: 1, object_type: 'artifact', message_destinations: ['incident_ops'] });
    const note = emu.store.addNote(2095, { text: 'We need to collect the logs from server xyz' }, 1);
    // The runtime refreshes its action list at most once a second; the previous test just made it refresh.
    await delay(1100);

    const onNote = await emu.trigger({ action: 'Ticket From Note', incident: 2095, objectType: 'note', objectId: note.id, properties: { priority: 'High' } });
    const onTask = await emu.trigger({ action: 'Disable Account', objectType: 'task', objectId: SEED_IDS.tasks.disableAccounts });
    const noteDone = await emu.waitFor(onNote.id, { timeoutMs: 30_000 });
    const taskDone = await emu.waitFor(onTask.id, { timeoutMs: 30_000 });
    const priorityHigh = emu.store.field('actioninvocation', 'priority').values.find((v) => v.label === 'High')!.value;
    assert.equal(noteDone.status, "completed", JSON.stringify(noteDone.messages));
    assert.deepEqual(noteDone.messages.at(-1)?.results, { text: 'We need to collect the logs from server xyz', priority: priorityHigh });
    assert.deepEqual(taskDone.messages.at(-1)?.results, { task: 'Disable compromised user accounts', incident: 2095 });

    // No handler for "Scan Sample": the error reply still shows the message reached the processor.
    const onArtifact = await emu.trigger({ action: 'Scan Sample', objectType: 'artifact', objectId: SEED_IDS.artifacts.sample });
    assert.equal(onArtifact.incident_id, 2095);
    assert.equal((await emu.waitFor(onArtifact.id, { timeoutMs: 30_000 })).status, 'error');
  });
});

describe(`automatic actions on a real broker, with the infinite-loop guard off [${transportLabel()}]`, () => {
  const LOOP_LIMIT = 6;
  let platform: Platform;
  let runtime: Runtime | undefined;
  before(async () => {
    ({ platform, runtime } = await start({ loopGuard: false, loopLimit: LOOP_LIMIT }));
  });
  after(async () => {
    await runtime?.stop(5000);
    await platform?.stop();
  });

  test('the same rule keeps firing on its own saves (each invocation caused by the one before) until stopped', async () => {
    const incident = raiseSeverityOn(platform);
    await analystSaves(platform, incident.id);
    await eventually(() => fired(platform, 'Raise Severity').length > 3 || undefined, 'the rule to fire more than 3 times', 60_000);
    // Stop the processor: the loop only ends because something stops it (here, the emulator's loop limit too).
    await runtime!.stop(5000);
    runtime = undefined;
    const invocations = fired(platform, 'Raise Severity').sort((a, b) => a.id - b.id);
    assert.ok(invocations.length > 3 && invocations.length <= LOOP_LIMIT, `${invocations.length} firings`);
    assert.equal(invocations[0]!.caused_by, undefined, 'the first was caused by the analyst');
    for (let i = 1; i < invocations.length; i++) assert.equal(invocations[i]!.caused_by, invocations[i - 1]!.id);
    const saves = platform.emulator.requests().filter((r) => r.method === 'PUT' && r.path.endsWith(`/incidents/${incident.id}`) && r.status === 200);
    assert.ok(saves.length >= invocations.length, 'every firing came from a save');
  });
});
