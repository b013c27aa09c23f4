import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { EmulatorStore, PlatformError, seed, SEED_IDS } from '../../lib/emulator/index.js';
import { normaliseFieldValue } from '../../lib/emulator/field-values.js';

/** Asserts that `fn` throws a PlatformError with this status whose message matches. */
function assertPlatformError(fn: () => unknown, status: number, message: RegExp): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof PlatformError, `expected a PlatformError, got ${String(error)}`);
    assert.equal(error.status, status);
    assert.match(error.message, message);
    return true;
  });
}

describe('emulator seed', () => {
  test('has the documented objects with stable ids', () => {
    const data = seed(201);
    assert.deepEqual(data.org, { id: 201, name: 'Emulated Org' });
    assert.deepEqual(data.incidents.map((i) => [i.id, i.name, i.vers]), [[2095, 'Suspicious login', 1], [2096, 'Phishing report', 1]]);
    assert.equal(data.incidents[0]?.severity_code, 4);
    assert.deepEqual(data.actions.map((a) => [a.id, a.name, a.type, a.object_type, a.message_destinations]), [
      [11, 'Echo', 1, 'incident', ['incident_ops']],
      [12, 'Add Note', 1, 'incident', ['incident_ops']],
      [13, 'Set Severity', 1, 'incident', ['incident_ops']],
    ]);
    assert.deepEqual(data.destinations.map((d) => [d.programmatic_name, d.destination_type, d.expect_ack]), [['incident_ops', 0, true]]);
    assert.deepEqual(Object.keys(data.types['actioninvocation']!.fields), ['note_text', 'severity']);
    assert.deepEqual(data.types['incident']!.fields['severity_code']!.values.map((v) => [v.value, v.label]), [[4, 'Low'], [5, 'Medium'], [6, 'High']]);
  });

  test('returns fresh objects every time, and the same content', () => {
    const a = seed();
    const b = seed();
    a.incidents[0]!.name = 'changed';
    assert.equal(b.incidents[0]!.name, 'Suspicious login');
    assert.deepEqual(seed(), seed());
  });
});

describe('emulator store', () => {
  test('answers copies: changing what it returned changes nothing stored', () => {
    const store = new EmulatorStore(seed());
    const incident = store.incident(2095);
    incident.name = 'mutated';
    assert.equal(store.incident(2095).name, 'Suspicious login');
  });

  test('an incident update needs the stored vers, increments it and keeps unknown properties', () => {
    const store = new EmulatorStore(seed());
    const updated = store.updateIncident(2095, { vers: 1, severity_code: 6, properties: { custom_thing: 'x' }, extra_key: true }, { now: 1000 });
    assert.equal(updated.vers, 2);
    assert.equal(updated.severity_code, 6);
    assert.equal(updated['extra_key'], true);
    assert.deepEqual(updated.properties, { custom_thing: 'x' });
    assert.equal(updated.inc_last_modified_date, 1000);
    assertPlatformError(() => store.updateIncident(2095, { vers: 1, name: 'late' }), 409, /incident 2095.*sent vers 1.*stored vers is 2/);
  });

  test('the client cannot change what the server owns', () => {
    const store = new EmulatorStore(seed());
    const updated = store.updateIncident(2095, { vers: 1, create_date: 5, org_id: 7 });
    assert.equal(updated.create_date, seed().incidents[0]!.create_date);
    assert.equal(updated.org_id, 201);
    assertPlatformError(() => store.updateIncident(2095, { vers: 2, id: 2096 }), 400, /"id"/);
  });

  test('a forced conflict is only used up by a valid update', () => {
    const store = new EmulatorStore(seed());
    let asked = 0;
    const forceConflict = () => (asked++, true);
    assertPlatformError(() => store.updateIncident(2095, { vers: 1, severity_code: 99 }, { forceConflict }), 400, /severity_code/);
    assert.equal(asked, 0);
    assertPlatformError(() => store.updateIncident(2095, { vers: 1 }, { forceConflict }), 409, /emulated conflict/);
    assert.equal(asked, 1);
    assert.equal(store.incident(2095).vers, 1);
  });

  test('select values are checked at the top level and in custom properties', () => {
    const store = new EmulatorStore(seed());
    store.createField('incident', { name: 'region', input_type: 'select', values: [{ label: 'EU', value: 300 }, { label: 'US', value: 301 }] });
    assertPlatformError(() => store.updateIncident(2095, { vers: 1, plan_status: 'X' }), 400, /plan_status/);
    assertPlatformError(() => store.updateIncident(2095, { vers: 1, properties: { region: 999 } }), 400, /"region".*300 EU, 301 US/);
    // The REST API wants ids, like the platform's.
    assertPlatformError(() => store.updateIncident(2095, { vers: 1, severity_code: 'High' }), 400, /severity_code/);
    assert.equal(store.updateIncident(2095, { vers: 1, severity_code: '6', properties: { region: 301 } }).severity_code, 6);
  });

  test('a new incident gets defaults and vers 1', () => {
    const store = new EmulatorStore(seed());
    const created = store.createIncident({ name: 'Malware', description: { format: 'html', content: '<p>x</p>' } }, 42);
    assert.equal(created.id, 2097);
    assert.equal(created.vers, 1);
    assert.equal(created.description, '<p>x</p>');
    assert.equal(created.discovered_date, 42);
    assert.equal(created.plan_status, 'A');
    assert.equal(created.severity_code, null);
    assert.equal(created.inc_training, false);
  });

  test('notes belong to an incident and take plain or rich text', () => {
    const store = new EmulatorStore(seed());
    const a = store.addNote(2095, { text: 'first' }, 1, 10);
    const b = store.addNote(2095, { text: { format: 'text', content: 'second' }, parent_id: a.id }, 1, 11);
    assert.deepEqual(a, { id: 1, text: 'first', create_date: 10, user_id: 1, inc_id: 2095, parent_id: null });
    assert.equal(b.parent_id, a.id);
    assert.deepEqual(store.notes(2096), []);
    assertPlatformError(() => store.addNote(1, { text: 'x' }, 1), 404, /incident 1/);
    assertPlatformError(() => store.addNote(2096, { text: 'x', parent_id: a.id }, 1), 400, /parent_id/);
  });

  test('fields: select values get ids, an update keeps them, built-ins cannot be renamed', () => {
    const store = new EmulatorStore(seed());
    const field = store.createField('actioninvocation', { name: 'priority', input_type: 'select', values: [{ label: 'Low' }, { label: 'High' }] });
    assert.equal(field.prefix, 'properties');
    const ids = field.values.map((v) => v.value);
    assert.equal(new Set(ids).size, 2);
    const updated = store.updateField('actioninvocation', 'priority', { values: [{ label: 'Low' }, { label: 'High' }, { label: 'Critical' }] });
    assert.deepEqual(updated.values.slice(0, 2).map((v) => v.value), ids);
    assert.equal(updated.values.length, 3);
    assertPlatformError(() => store.updateField('incident', 'severity_code', { name: 'sev' }), 400, /cannot be renamed/);
    assertPlatformError(() => store.updateField('actioninvocation', 'priority', { input_type: 'multiselect', values: [] }), 400, /values/);
    assertPlatformError(() => store.createField('actioninvocation', { name: 'x', input_type: 'select', values: [{ label: 'A' }, { label: 'A' }] }), 400, /appears twice/);
    assertPlatformError(() => store.createField('nosuchtype', { name: 'x', input_type: 'text' }), 404, /type "nosuchtype"/);
  });

  test('destinations: programmatic names are derived, unique, and announced', () => {
    const store = new EmulatorStore(seed());
    const announced: string[] = [];
    store.onDestinationCreated((d) => announced.push(d.programmatic_name));
    const created = store.createDestination({ name: 'Ticket Queue!' });
    assert.equal(created.programmatic_name, 'ticket_queue');
    assert.equal(created.destination_type, 0);
    assert.equal(created.expect_ack, true);
    assert.deepEqual(announced, ['ticket_queue']);
    assertPlatformError(() => store.createDestination({ programmatic_name: 'ticket_queue' }), 409, /ticket_queue/);
    assertPlatformError(() => store.createDestination({ name: '!!!' }), 400, /programmatic_name/);
    store.reset();
    assert.deepEqual(announced, ['ticket_queue', 'incident_ops']);
  });

  test('actions: destinations must exist, layout fields must be action fields', () => {
    const store = new EmulatorStore(seed());
    const action = store.createAction({ name: 'Ticket', type: 0, object_type: 'artifact', message_destinations: [1], fields: ['note_text'], conditions: [{ field_name: 'value', method: 'has_a_value' }] });
    assert.equal(action.id, 14);
    assert.deepEqual(action.message_destinations, ['incident_ops']);
    assert.deepEqual(store.layoutFields(action), ['note_text']);
    assertPlatformError(() => store.createAction({ name: 'Ticket', type: 1, object_type: 'incident' }), 409, /Ticket/);
    assertPlatformError(() => store.createAction({ name: 'B', type: 1, object_type: 'incident', fields: ['nope'] }), 400, /view_items\.0\.content.*nope/);
  });

  test('action properties: labels become ids, unknown fields and missing required ones are refused', () => {
    const store = new EmulatorStore(seed());
    const setSeverity = store.action(SEED_IDS.actions.setSeverity);
    assert.deepEqual(store.actionProperties(setSeverity, { severity: 'high' }), { severity: 6 });
    assert.deepEqual(store.actionProperties(setSeverity, { severity: '5' }), { severity: 5 });
    assertPlatformError(() => store.actionProperties(setSeverity, { severity: 'Extreme' }), 400, /"severity".*Extreme/);
    assertPlatformError(() => store.actionProperties(setSeverity, { sev: 6 }), 400, /"sev" is not an action field/);
    store.createField('actioninvocation', { name: 'reason', input_type: 'text', required: 'always' });
    const action = store.createAction({ name: 'Close', type: 1, object_type: 'incident', fields: ['reason'] });
    assertPlatformError(() => store.actionProperties(action, { reason: '  ' }), 400, /"reason" is required by action "Close"/);
  });

  test('reset goes back to the seed', () => {
    const store = new EmulatorStore(seed());
    store.updateIncident(2095, { vers: 1, name: 'changed' });
    store.reset();
    assert.deepEqual(store.incident(2095), seed().incidents[0]);
  });
});

describe('field values', () => {
  const store = new EmulatorStore(seed());
  const field = (type: string, name: string) => store.field(type, name);

  test('check each input type', () => {
    assert.equal(normaliseFieldValue(field('incident', 'severity_code'), 5), 5);
    assert.equal(normaliseFieldValue(field('incident', 'severity_code'), null), null);
    assert.equal(normaliseFieldValue(field('incident', 'severity_code'), 'Medium', { allowLabels: true }), 5);
    assert.throws(() => normaliseFieldValue(field('incident', 'severity_code'), 'Medium'), /severity_code/);
    assert.equal(normaliseFieldValue(field('incident', 'inc_training'), true), true);
    assert.throws(() => normaliseFieldValue(field('incident', 'inc_training'), 'yes'), /inc_training.*true or false/);
    assert.throws(() => normaliseFieldValue(field('incident', 'discovered_date'), '2024-01-01'), /discovered_date/);
    assert.deepEqual(normaliseFieldValue(field('actioninvocation', 'note_text'), { format: 'html', content: '<b>x</b>' }), { format: 'html', content: '<b>x</b>' });
    assert.throws(() => normaliseFieldValue(field('actioninvocation', 'note_text'), 3), /note_text/);
  });
});
