import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { RestClient } from '../../lib/rest/client.js';
import type { Runtime } from '../../lib/runtime/runtime.js';
import type { ProcessorDefinition } from '../../lib/runtime/processor.js';
import type { Config } from '../../lib/config/schema.js';
import type { Invocation, RecordedRequest } from '../../lib/emulator/index.js';
import { applyPlan, loadDefinitions, planInstall } from '../../lib/install/index.js';
import { API_KEY, processorConfig, startPlatform, startRuntime, type Platform } from '../support/stack.js';
import { startDirectory } from '../support/external/directory.js';
import { startHelpdesk } from '../support/external/helpdesk.js';
import { startSandbox } from '../support/external/sandbox.js';
import { startSiem } from '../support/external/siem.js';
import assetInventory from '../../processors/asset-inventory/index.js';
import disableAccount from '../../processors/disable-account/index.js';
import helpdesk from '../../processors/helpdesk/index.js';
import sandbox from '../../processors/sandbox/index.js';
import severityRule from '../../processors/severity-rule/index.js';
import siemSearch from '../../processors/siem-search/index.js';
import { transportLabel } from '../support/test-broker.js';

// Typed settings make each definition a ProcessorDefinition<ItsSettings>; startRuntime takes ProcessorDefinition<unknown>.
const PROCESSORS: ProcessorDefinition<any>[] = [helpdesk, assetInventory, severityRule, disableAccount, siemSearch, sandbox];
const SEVERITY_RULE: ProcessorDefinition<any>[] = [severityRule];
const MZ = Buffer.from('4d5a90000300000004000000ffff0000b8000000', 'hex');

interface Incident {
  id: number;
  vers: number;
  name: string;
  severity_code: number | null;
}
interface Artifact {
  id: number;
  value: string;
  description: string | null;
}

/** Things to stop in after(), each one even when another fails. */
class Cleanup {
  private readonly steps: Array<() => Promise<unknown>> = [];
  add(step: () => Promise<unknown>): void {
    this.steps.unshift(step);
  }
  async run(): Promise<void> {
    const errors: unknown[] = [];
    for (const step of this.steps.splice(0)) await step().catch((error: unknown) => errors.push(error));
    if (errors.length > 0) throw errors[0];
  }
}

/** A REST client for the test's own changes (an analyst's, so without a context token). */
function analystRest(platform: Platform): RestClient {
  return new RestClient({ url: platform.emulator.url, orgId: platform.broker.orgId, apiKey: API_KEY, tls: { ca: readFileSync(platform.broker.ca, 'utf8') }, retries: 0 });
}

/** What users do: `cafkit install` with the package's destinations/ folder. */
async function install(rest: RestClient): Promise<void> {
  const result = await applyPlan(rest, await planInstall(rest, loadDefinitions()));
  assert.equal(result.failed, undefined, `install failed: ${JSON.stringify(result.failed)}`);
}

/**
 * The automatic invocation the test's REST change fired (fired before the change's answer, so it is there already).
 * Invocations caused by a processor's own save are not the test's: without the loop guard one may follow at once.
 */
function firedBy(platform: Platform, action: string, objectId: number, since: number): Invocation {
  const found = platform.emulator.invocations().filter((i) => i.action_name === action && i.object.id === objectId && i.id > since && i.caused_by === undefined);
  assert.equal(found.length, 1, `expected one "${action}" invocation for object ${objectId}, got ${found.length}`);
  return found[0]!;
}

function lastInvocationId(platform: Platform): number {
  return Math.max(0, ...platform.emulator.invocations().map((i) => i.id));
}

/** REST requests since `mark` that carried no context token: only the test's own. */
function untokened(platform: Platform, mark: number): string[] {
  return platform.emulator
    .requests(mark)
    .filter((r: RecordedRequest) => r.path.startsWith('/rest/orgs/') && !r.contextToken)
    .map((r) => `${r.method} ${r.path}`);
}

describe(`the six processors, the emulator and their external systems [${transportLabel()}]`, () => {
  const cleanup = new Cleanup();
  let platform: Platform;
  let rest: RestClient;
  let runtime: Runtime;
  let helpdeskApi: Awaited<ReturnType<typeof startHelpdesk>>;
  let directory: Awaited<ReturnType<typeof startDirectory>>;
  let siem: Awaited<ReturnType<typeof startSiem>>;
  let sandboxApi: Awaited<ReturnType<typeof startSandbox>>;
  let org: number;

  before(async () => {
    helpdeskApi = await startHelpdesk();
    cleanup.add(() => helpdeskApi.stop());
    directory = await startDirectory();
    cleanup.add(() => directory.stop());
    const now = Date.now();
    siem = await startSiem([
      { _time: new Date(now - 60_000).toISOString(), host: 'ws-7', source: 'dns', message: 'query c2.example.net' },
      { _time: new Date(now - 120_000).toISOString(), host: 'ws-9', source: 'dns', message: 'query c2.example.net' },
    ]);
    cleanup.add(() => siem.stop());
    sandboxApi = await startSandbox();
    cleanup.add(() => sandboxApi.stop());
    platform = await startPlatform();
    cleanup.add(() => platform.stop());
    org = platform.broker.orgId;
    rest = analystRest(platform);
    cleanup.add(async () => rest.close());
    await install(rest);
    runtime = await startRuntime(
      processorConfig(platform, (c: Config) => {
        c.settings = {
          helpdesk: { url: helpdeskApi.url, token: helpdeskApi.token },
          'disable-account': { url: directory.url, token: directory.token },
          'siem-search': { url: siem.url, token: siem.token },
          sandbox: { url: sandboxApi.url, token: sandboxApi.token, poll_ms: 50, progress_ms: 50, deadline_ms: 20_000 },
          // asset-inventory and severity-rule run with their defaults: the sample CSV, the default rules.
        };
      }),
      PROCESSORS,
    );
    cleanup.add(() => runtime.stop(5000));
  });

  after(async () => {
    await cleanup.run();
  });

  test('Create Ticket on a note: the helpdesk gets the ticket, the incident gets the link', async () => {
    const note = await rest.post<{ id: number }>('/incidents/2095/comments', { text: 'We need to collect the logs from server xyz' });
    const mark = platform.emulator.requests().at(-1)!.index + 1;
    const inv = await platform.emulator.trigger({ destination: 'helpdesk', action: 'Create Ticket', incident: 2095, objectType: 'note', objectId: note.id, properties: { priority: 'High' } });
    const done = await platform.emulator.waitFor(inv.id, { timeoutMs: 30_000 });
    assert.equal(done.status, 'completed', JSON.stringify(done.messages));
    const ticket = helpdeskApi.tickets.at(-1)!;
    assert.deepEqual({ summary: ticket.summary, priority: ticket.priority, incident_id: ticket.incident_id }, { summary: 'We need to collect the logs from server xyz', priority: 'High', incident_id: 2095 });
    assert.equal(helpdeskApi.received('POST', '/api/tickets').at(-1)?.headers.authorization, `Bearer ${helpdeskApi.token}`);
    assert.deepEqual(done.messages.at(-1)!.results, { ticket_id: ticket.id, url: ticket.url });
    assert.ok(platform.emulator.store.notes(2095).some((n) => n.text === `Helpdesk ticket ${ticket.id} created: ${ticket.url}`));
    assert.deepEqual(untokened(platform, mark), []);
  });

  test('Create Ticket with the helpdesk down answers with an error naming the helpdesk', async () => {
    const note = await rest.post<{ id: number }>('/incidents/2095/comments', { text: 'Another request' });
    helpdeskApi.down();
    try {
      const inv = await platform.emulator.trigger({ destination: 'helpdesk', action: 'Create Ticket', incident: 2095, objectType: 'note', objectId: note.id, properties: { priority: 'Low' } });
      const done = await platform.emulator.waitFor(inv.id, { timeoutMs: 30_000, status: 'error' });
      assert.equal(done.messages.at(-1)!.text, `helpdesk at ${helpdeskApi.url} could not be reached: ECONNRESET`);
    } finally {
      helpdeskApi.up();
    }
  });

  test('adding an IP artifact fires Look Up Asset once; the description gets the asset, and SIEM Search adds one note', async () => {
    const since = lastInvocationId(platform);
    const mark = platform.emulator.requests().at(-1)!.index + 1;
    const artifact = await rest.post<Artifact>('/incidents/2095/artifacts', { type: 'IP Address', value: '10.1.2.10', description: 'Contacted by the beacon' });
    const lookup = firedBy(platform, 'Look Up Asset', artifact.id, since);
    const search = firedBy(platform, 'SIEM Search', artifact.id, since);
    const done = await platform.emulator.waitFor(lookup.id, { timeoutMs: 30_000 });
    assert.equal(done.status, 'completed', JSON.stringify(done.messages));
    assert.equal(
      platform.emulator.store.artifact(2095, artifact.id).description,
      'Contacted by the beacon\n\n[asset-inventory]\nHost: web-01.corp.example\nOwner: Web Team\nLocation: Frankfurt, DC1\nCriticality: Medium\n[/asset-inventory]',
    );
    const searched = await platform.emulator.waitFor(search.id, { timeoutMs: 30_000 });
    assert.equal(searched.status, 'completed', JSON.stringify(searched.messages));
    assert.equal(searched.messages.at(-1)!.text, 'SIEM search for 10.1.2.10 (last 24 h): 0 hits');

    // The description update carried Look Up Asset's token and changed no condition that fires anything: nothing more fired.
    const later = platform.emulator.invocations().filter((i) => i.id > since && i.object.id === artifact.id);
    assert.deepEqual(later.map((i) => i.action_name).sort(), ['Look Up Asset', 'SIEM Search']);
    const put = platform.emulator.requests(mark).find((r) => r.method === 'PUT' && r.path === `/rest/orgs/${org}/incidents/2095/artifacts/${artifact.id}`);
    assert.equal(put?.invocationId, lookup.id);
    assert.deepEqual(untokened(platform, mark), [`POST /rest/orgs/${org}/incidents/2095/artifacts`]);
  });

  test('adding a DNS name artifact fires SIEM Search, which adds one note with the hits; other types fire nothing', async () => {
    const since = lastInvocationId(platform);
    const notes = platform.emulator.store.notes(2095).length;
    const artifact = await rest.post<Artifact>('/incidents/2095/artifacts', { type: 'DNS Name', value: 'c2.example.net' });
    const search = firedBy(platform, 'SIEM Search', artifact.id, since);
    assert.equal(platform.emulator.invocations().filter((i) => i.action_name === 'Look Up Asset' && i.id > since).length, 0);
    const done = await platform.emulator.waitFor(search.id, { timeoutMs: 30_000 });
    assert.equal(done.status, 'completed', JSON.stringify(done.messages));
    assert.equal(done.messages.at(-1)!.text, 'SIEM search for c2.example.net (last 24 h): 2 hits');
    const added = platform.emulator.store.notes(2095).slice(notes);
    assert.equal(added.length, 1);
    assert.match(added[0]!.text, /SIEM search for c2\.example\.net \(last 24 h\): 2 hits.*ws-7.*ws-9/);
    assert.equal(siem.received('POST', '/api/search').at(-1)?.headers.authorization, `Bearer ${siem.token}`);

    const before = lastInvocationId(platform);
    await rest.post<Artifact>('/incidents/2095/artifacts', { type: 'URL', value: 'http://c2.example.net/x' });
    assert.equal(lastInvocationId(platform), before, 'a URL artifact fires neither action');
  });

  test('renaming an incident to mention ransomware fires Apply Severity Rules once and makes it High', async () => {
    const since = lastInvocationId(platform);
    const incident = await rest.get<Incident>('/incidents/2096');
    assert.notEqual(incident.severity_code, 6);
    await rest.put<Incident>('/incidents/2096', { ...incident, name: 'Ransomware on the file server' });
    const inv = firedBy(platform, 'Apply Severity Rules', 2096, since);
    const done = await platform.emulator.waitFor(inv.id, { timeoutMs: 30_000 });
    assert.equal(done.status, 'completed', JSON.stringify(done.messages));
    assert.match(done.messages.at(-1)!.text, /^Rule 1 \(name contains "ransomware"\): severity of incident 2096 set from \w+ to High$/);
    assert.equal(platform.emulator.store.incident(2096).severity_code, 6);
    // Its own save fired nothing: the save is done before the reply, so a re-trigger would be listed by now.
    const runs = platform.emulator.invocations().filter((i) => i.action_name === 'Apply Severity Rules' && i.id > since);
    assert.deepEqual(runs.map((i) => i.id), [inv.id]);
  });

  test('Disable Account on the plan\'s task: progress at each step, the account disabled', async () => {
    const inv = await platform.emulator.trigger({ destination: 'disable_account', action: 'Disable Account', incident: 2095, objectType: 'task', objectId: 1, properties: { user_id: 'jdoe' } });
    const done = await platform.emulator.waitFor(inv.id, { timeoutMs: 30_000 });
    assert.equal(done.status, 'completed', JSON.stringify(done.messages));
    assert.deepEqual(
      done.messages.map((m) => [m.complete, m.text]),
      [
        [false, 'Looking up user jdoe in the directory'],
        [false, 'Disabling jdoe (John Doe)'],
        [false, 'Verifying that jdoe is disabled'],
        [true, 'jdoe (John Doe) disabled in the directory (verified)'],
      ],
    );
    assert.equal(directory.users.get('jdoe')!.enabled, false);

    const unknown = await platform.emulator.trigger({ destination: 'disable_account', action: 'Disable Account (Incident)', incident: 2095, properties: { user_id: 'nobody' } });
    const refused = await platform.emulator.waitFor(unknown.id, { timeoutMs: 30_000, status: 'error' });
    assert.equal(refused.messages.at(-1)!.text, 'user nobody does not exist in the directory');
  });

  test('Detonate in Sandbox on a malware sample: submitted, polled, the verdict in the description', async () => {
    const artifact = await rest.post<Artifact>('/incidents/2095/artifacts/files', { type: 'Malware Sample', value: 'dropper.exe', content_base64: MZ.toString('base64') });
    const mark = platform.emulator.requests().at(-1)!.index + 1;
    const inv = await platform.emulator.trigger({ destination: 'sandbox', action: 'Detonate in Sandbox', incident: 2095, objectType: 'artifact', objectId: artifact.id });
    const done = await platform.emulator.waitFor(inv.id, { timeoutMs: 30_000 });
    assert.equal(done.status, 'completed', JSON.stringify(done.messages));
    const submission = sandboxApi.submissions.at(-1)!;
    assert.equal(submission.filename, 'dropper.exe');
    assert.ok(sandboxApi.contents.get(submission.id)!.equals(MZ));
    assert.ok(done.messages.some((m) => !m.complete && m.text === `Submitted dropper.exe to the sandbox as ${submission.id}`));
    assert.match(done.messages.at(-1)!.text, /^dropper\.exe is malicious \(score 92\)/);
    assert.match(platform.emulator.store.artifact(2095, artifact.id).description ?? '', /\[sandbox\]\nVerdict: malicious \(score 92\)\nReport: .*\/reports\//);
    assert.deepEqual(untokened(platform, mark), []);
  });

  test('no external system\'s token appears in any reply, progress message or platform write', () => {
    const replies = JSON.stringify(platform.emulator.invocations());
    const writes = JSON.stringify(platform.emulator.requests().map((r) => r.body));
    for (const api of [helpdeskApi, directory, siem, sandboxApi]) {
      assert.ok(!replies.includes(api.token), `${api.name} token in a reply`);
      assert.ok(!writes.includes(api.token), `${api.name} token in a REST body`);
    }
  });
});

describe(`severity-rule and the infinite-loop guard [${transportLabel()}]`, () => {
  // Rules that flip the severity on every run: each run writes, so each write is a change that fires the action again.
  const flipping = {
    allow_lowering: true,
    rules: [
      { when: [{ field: 'severity_code', operator: 'equals', value: 'High' }], severity: 'Medium' },
      { when: [{ field: 'name', operator: 'contains', value: 'ransomware' }], severity: 'High' },
    ],
  };

  test('with the guard (the platform\'s default) even flipping rules run once per change', async () => {
    const cleanup = new Cleanup();
    try {
      const platform = await startPlatform();
      cleanup.add(() => platform.stop());
      const rest = analystRest(platform);
      cleanup.add(async () => rest.close());
      await install(rest);
      const runtime = await startRuntime(processorConfig(platform, (c) => (c.settings = { 'severity-rule': flipping })), SEVERITY_RULE);
      cleanup.add(() => runtime.stop(5000));

      const incident = await rest.get<Incident>('/incidents/2095');
      await rest.put<Incident>('/incidents/2095', { ...incident, name: 'Ransomware outbreak' });
      const inv = firedBy(platform, 'Apply Severity Rules', 2095, 0);
      assert.equal((await platform.emulator.waitFor(inv.id, { timeoutMs: 30_000 })).status, 'completed');
      assert.equal(platform.emulator.store.incident(2095).severity_code, 6);
      assert.deepEqual(platform.emulator.invocations().map((i) => i.id), [inv.id]);
    } finally {
      await cleanup.run();
    }
  });

  test('without the guard, a save by the processor fires it again: once with the default rules, forever with flipping ones', async () => {
    const cleanup = new Cleanup();
    try {
      const platform = await startPlatform({ emulator: { loopGuard: false } });
      cleanup.add(() => platform.stop());
      const rest = analystRest(platform);
      cleanup.add(async () => rest.close());
      await install(rest);

      // Default rules: the first run writes High, its save fires a second run, which finds High and writes nothing.
      const settled = await startRuntime(processorConfig(platform), SEVERITY_RULE);
      let stopSettled: Promise<void> | undefined;
      cleanup.add(() => (stopSettled ??= settled.stop(5000)));
      const incident = await rest.get<Incident>('/incidents/2095');
      await rest.put<Incident>('/incidents/2095', { ...incident, name: 'Ransomware outbreak' });
      const first = firedBy(platform, 'Apply Severity Rules', 2095, 0);
      assert.equal((await platform.emulator.waitFor(first.id, { timeoutMs: 30_000 })).status, 'completed');
      const second = platform.emulator.invocations().find((i) => i.caused_by === first.id);
      assert.ok(second, 'the processor\'s own save fired the action again');
      const secondDone = await platform.emulator.waitFor(second.id, { timeoutMs: 30_000 });
      assert.match(secondDone.messages.at(-1)!.text, /already has that severity/);
      assert.equal(platform.emulator.invocations().filter((i) => i.caused_by === second.id).length, 0);
      await (stopSettled ??= settled.stop(5000));

      // Flipping rules: every run writes, every write fires the next run.
      const looping = await startRuntime(processorConfig(platform, (c) => (c.settings = { 'severity-rule': flipping })), SEVERITY_RULE);
      let stopLooping: Promise<void> | undefined;
      cleanup.add(() => (stopLooping ??= looping.stop(5000)));
      const now = await rest.get<Incident>('/incidents/2095');
      await rest.put<Incident>('/incidents/2095', { ...now, name: 'Ransomware outbreak, second wave' });
      let current = platform.emulator.invocations().find((i) => i.action_name === 'Apply Severity Rules' && i.caused_by === undefined && i.id > secondDone.id)!;
      assert.ok(current, 'the analyst\'s save fired the action');
      const chain = [current.id];
      while (chain.length <= 3) {
        const done = await platform.emulator.waitFor(current.id, { timeoutMs: 30_000 });
        assert.equal(done.status, 'completed', JSON.stringify(done.messages));
        const next = platform.emulator.invocations().find((i) => i.caused_by === current.id);
        assert.ok(next, `run ${chain.length} saved the incident and fired the action again`);
        chain.push(next.id);
        current = next;
      }
      assert.ok(chain.length > 3, `fired ${chain.length} times`);
      // Stop it: without the processor nothing saves the incident, so nothing fires.
      await (stopLooping ??= looping.stop(5000));
    } finally {
      await cleanup.run();
    }
  });
});
