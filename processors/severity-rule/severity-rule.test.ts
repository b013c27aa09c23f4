import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { build, testProcessor, type ProcessorKit } from '../../lib/testing/index.js';
import processor, { DEFAULT_RULES, type Rule } from './index.js';

interface Incident {
  id: number;
  vers: number;
  name: string;
  severity_code: number | null;
  properties: Record<string, unknown>;
}

/** Changes the incident as an analyst would (no context token), before a run. */
async function edit(kit: ProcessorKit, id: number, changes: Partial<Incident> & Record<string, unknown>): Promise<Incident> {
  const current = await kit.rest.get<Incident>(`/incidents/${id}`);
  return kit.rest.put<Incident>(`/incidents/${id}`, { ...current, ...changes });
}

function severity(kit: ProcessorKit, id: number): number | null {
  return kit.emulator.store.incident(id).severity_code;
}

const message = (id: number) => build.message({ incident: build.incident({ id }) });

describe('severity-rule with the default rules', () => {
  let kit: ProcessorKit;
  before(async () => {
    kit = await testProcessor(processor);
  });
  after(async () => {
    await kit?.close();
  });

  test('an incident named "...ransomware..." becomes High, written once with the context token', async () => {
    await edit(kit, 2095, { name: 'Ransomware note found on file server', severity_code: 4 });
    const run = await kit.run('Apply Severity Rules', message(2095));
    assert.equal(run.status, 'completed', run.message);
    assert.equal(run.message, 'Rule 1 (name contains "ransomware"): severity of incident 2095 set from Low to High');
    assert.deepEqual(run.results, { rule: 1, severity: 'High', previous: 'Low', changed: true });
    assert.equal(severity(kit, 2095), 6);
    const puts = run.calls.filter((c) => c.method === 'PUT');
    assert.deepEqual(puts.map((c) => [c.path, (c.body as Incident).severity_code]), [['/rest/orgs/201/incidents/2095', 6]]);
    assert.ok(run.calls.every((c) => c.contextToken === run.contextToken), 'every REST call carried the context token');
  });

  test('no write when the severity is already right', async () => {
    const vers = kit.emulator.store.incident(2095).vers;
    const run = await kit.run('Apply Severity Rules', message(2095));
    assert.equal(run.status, 'completed', run.message);
    assert.equal(run.message, 'Rule 1 (name contains "ransomware") says High: incident 2095 already has that severity');
    assert.deepEqual(run.results, { rule: 1, severity: 'High', previous: 'High', changed: false });
    assert.equal(run.calls.filter((c) => c.method !== 'GET').length, 0);
    assert.equal(kit.emulator.store.incident(2095).vers, vers);
  });

  test('rules are read in order: the first match wins', async () => {
    // Matches rule 4 (phishing → Medium) and rule 2 (description mentions ransomware → High): rule 2 comes first.
    await edit(kit, 2096, { name: 'Phishing wave', description: 'The attachment drops RansomWare', severity_code: 4 });
    const run = await kit.run('Apply Severity Rules', message(2096));
    assert.equal(run.status, 'completed', run.message);
    assert.deepEqual(run.results, { rule: 2, severity: 'High', previous: 'Low', changed: true });
  });

  test('no rule matching leaves the severity alone, with no write', async () => {
    await edit(kit, 2096, { name: 'Lost laptop', description: 'Left on a train', severity_code: 5 });
    const run = await kit.run('Apply Severity Rules', message(2096));
    assert.equal(run.status, 'completed', run.message);
    assert.equal(run.message, 'No severity rule matched incident 2096; severity left at Medium');
    assert.deepEqual(run.results, { rule: null, severity: 'Medium', previous: 'Medium', changed: false });
    assert.equal(run.calls.filter((c) => c.method === 'PUT').length, 0);
  });

  test('a rule does not lower a severity an analyst raised', async () => {
    await edit(kit, 2096, { name: 'Phishing report', description: '', severity_code: 6 });
    const run = await kit.run('Apply Severity Rules', message(2096));
    assert.equal(run.status, 'completed', run.message);
    assert.equal(run.message, 'Rule 4 (name contains "phishing") says Medium: incident 2096 is already High, and rules do not lower a severity (allow_lowering is false)');
    assert.equal(severity(kit, 2096), 6);
    assert.equal(run.calls.filter((c) => c.method === 'PUT').length, 0);
  });

  test('409 conflicts are re-read and the rules applied again to the new data', async () => {
    await edit(kit, 2095, { name: 'Ransomware outbreak', severity_code: 4 });
    kit.emulator.setFaults({ conflicts: 2 });
    const run = await kit.run('Apply Severity Rules', message(2095));
    assert.equal(run.status, 'completed', run.message);
    assert.deepEqual(run.calls.filter((c) => c.method === 'PUT').map((c) => c.status), [409, 409, 200]);
    assert.equal(run.calls.filter((c) => c.method === 'GET' && c.path.endsWith('/incidents/2095')).length, 3);
    assert.equal(severity(kit, 2095), 6);
  });

  test('a platform answering 503 is an error reply', async () => {
    kit.emulator.setFaults({ errors: { count: 1, status: 503 } });
    const run = await kit.run('Apply Severity Rules', message(2095));
    assert.equal(run.status, 'error');
    assert.match(run.message, /GET \/rest\/orgs\/201\/incidents\/2095 failed: HTTP 503/);
  });
});

describe('severity-rule with rules from the settings', () => {
  const rules: Rule[] = [
    { when: [{ field: 'properties.business_unit', operator: 'in', value: ['Finance', 'HR'] }, { field: 'severity_code', operator: 'equals', value: 'Low' }], severity: 'Medium' },
    { when: [{ field: 'affected_hosts', operator: 'gte', value: 50 }], severity: 'High' },
    { when: [{ field: 'incident.properties.tags', operator: 'contains', value: 'exec' }], severity: 'High' },
    { when: [{ field: 'affected_hosts', operator: 'lte', value: 0 }], severity: 'Low' },
  ];
  let kit: ProcessorKit;
  before(async () => {
    kit = await testProcessor(processor, { settings: { rules, allow_lowering: true } });
  });
  after(async () => {
    await kit?.close();
  });

  /** The message, with type_info for the custom select field business_unit (ids 301 Finance, 302 HR, 303 IT). */
  function withBusinessUnits(id: number) {
    const m = message(id);
    (m.type_info as Record<string, { fields: Record<string, unknown> }>)['incident']!.fields['business_unit'] = {
      input_type: 'select',
      values: { '301': { label: 'Finance', value: 301 }, '302': { label: 'HR', value: 302 }, '303': { label: 'IT', value: 303 } },
    };
    return m;
  }

  test('select fields are compared by label, custom fields by name, numbers with gte', async () => {
    await edit(kit, 2095, { severity_code: 4, properties: { business_unit: 302, affected_hosts: 3, tags: [] } });
    const hr = await kit.run('Apply Severity Rules', withBusinessUnits(2095));
    assert.equal(hr.status, 'completed', hr.message);
    assert.deepEqual(hr.results, { rule: 1, severity: 'Medium', previous: 'Low', changed: true });

    await edit(kit, 2095, { severity_code: 4, properties: { business_unit: 303, affected_hosts: 120 } });
    const many = await kit.run('Apply Severity Rules', withBusinessUnits(2095));
    assert.deepEqual(many.results, { rule: 2, severity: 'High', previous: 'Low', changed: true });
  });

  test('contains looks for an element of a list; lte and allow_lowering lower the severity', async () => {
    await edit(kit, 2095, { severity_code: 4, properties: { business_unit: 303, affected_hosts: 1, tags: ['vip', 'exec'] } });
    const tagged = await kit.run('Apply Severity Rules', withBusinessUnits(2095));
    assert.deepEqual(tagged.results, { rule: 3, severity: 'High', previous: 'Low', changed: true });

    await edit(kit, 2095, { properties: { tags: [], affected_hosts: 0 } });
    const none = await kit.run('Apply Severity Rules', withBusinessUnits(2095));
    assert.deepEqual(none.results, { rule: 4, severity: 'Low', previous: 'High', changed: true });
    assert.equal(severity(kit, 2095), 4);
  });

  test('a severity the platform does not have is an error, and nothing is written', async () => {
    await edit(kit, 2095, { severity_code: 4, properties: { affected_hosts: 99 } });
    const m = withBusinessUnits(2095);
    const severities = (m.type_info as Record<string, { fields: Record<string, { values: Record<string, unknown> }> }>)['incident']!.fields['severity_code']!.values;
    delete severities['6'];
    const run = await kit.run('Apply Severity Rules', m);
    assert.equal(run.status, 'error');
    assert.equal(run.message, "severity High is not one of the platform's severities (Low, Medium)");
    assert.equal(run.calls.filter((c) => c.method === 'PUT').length, 0);
  });
});

describe('severity-rule settings', () => {
  const problems = (section: unknown) => {
    const parsed = processor.settings!.safeParse(section);
    return parsed.success ? [] : parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
  };

  test('no section means the default rules', () => {
    const parsed = processor.settings!.parse({}) as { rules: Rule[]; allow_lowering: boolean };
    assert.deepEqual(parsed.rules, DEFAULT_RULES);
    assert.equal(parsed.allow_lowering, false);
  });

  test('bad rules are refused with the key named', () => {
    assert.deepEqual(problems({ rules: [{ when: [{ field: 'name', operator: 'in', value: 'x' }], severity: 'High' }] }), [
      'rules.0.when.0.value: operator in takes a list of values; the other operators take one value',
    ]);
    assert.deepEqual(problems({ rules: [{ when: [{ field: 'affected_hosts', operator: 'gte', value: 'many' }], severity: 'High' }] }), [
      'rules.0.when.0.value: operators gte and lte compare numbers',
    ]);
    assert.deepEqual(problems({ rules: [{ when: [{ field: 'name', operator: 'equals', value: 'x' }], severity: 'Critical' }] }), [
      'rules.0.severity: must be one of Low, Medium, High',
    ]);
    assert.deepEqual(problems({ rules: [{ when: [], severity: 'Low' }] }), ['rules.0.when: a rule needs at least one condition']);
  });
});
