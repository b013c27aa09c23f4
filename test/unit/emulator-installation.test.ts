import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { EmulatorStore, emptySeed, PlatformError, seed, SEED_IDS } from '../../lib/emulator/index.js';

function assertPlatformError(fn: () => unknown, status: number, message: RegExp): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof PlatformError, `expected a PlatformError, got ${String(error)}`);
    assert.equal(error.status, status);
    assert.match(error.message, message);
    return true;
  });
}

describe('emulator installation objects', () => {
  test('emptySeed has no destinations, action fields or actions, and reset goes back to it', () => {
    const store = new EmulatorStore(emptySeed(201));
    assert.deepEqual(store.destinations(), []);
    assert.deepEqual(store.actions(), []);
    assert.deepEqual(store.fields('actioninvocation'), []);
    assert.equal(store.incident(2095).name, 'Suspicious login');
    store.createDestination({ programmatic_name: 'x' });
    store.reset();
    assert.deepEqual(store.destinations(), []);
  });

  test('fields: an update keeps the id, bumps vers, checks a sent vers, and refuses an input_type change', () => {
    const store = new EmulatorStore(seed());
    const field = store.field('actioninvocation', 'note_text');
    assert.equal(field.vers, 1);
    const updated = store.updateField('actioninvocation', field.id, { vers: 1, tooltip: 'new tip' });
    assert.equal(updated.id, field.id);
    assert.equal(updated.vers, 2);
    assert.equal(updated.tooltip, 'new tip');
    assertPlatformError(() => store.updateField('actioninvocation', field.id, { vers: 1, tooltip: 'stale' }), 409, /sent vers 1, the stored vers is 2/);
    assertPlatformError(
      () => store.updateField('actioninvocation', field.id, { input_type: 'text' }),
      400,
      /^field "input_type": field "note_text" is a textarea field; its input type cannot be changed to text/,
    );
    assert.equal(store.field('actioninvocation', field.id).input_type, 'textarea');
    // Without vers, last writer wins; a forced conflict (the fault) answers 409 anyway.
    assert.equal(store.updateField('actioninvocation', field.id, { placeholder: 'p' }).vers, 3);
    assertPlatformError(() => store.updateField('actioninvocation', field.id, { placeholder: 'q' }, { forceConflict: () => true }), 409, /emulated conflict/);
  });

  test('destinations: update keeps id and programmatic name, names stay unique', () => {
    const store = new EmulatorStore(seed());
    const other = store.createDestination({ name: 'Other', programmatic_name: 'other' });
    const updated = store.updateDestination('incident_ops', { vers: 1, name: 'Ops (renamed)', destination_type: 1, expect_ack: false, users: ['admin@example.com'] });
    assert.equal(updated.id, SEED_IDS.destinations.incidentOps);
    assert.deepEqual([updated.name, updated.destination_type, updated.expect_ack, updated.users, updated.vers], ['Ops (renamed)', 1, false, ['admin@example.com'], 2]);
    assertPlatformError(() => store.updateDestination(1, { programmatic_name: 'renamed' }), 400, /programmatic name cannot be changed/);
    assertPlatformError(() => store.updateDestination(1, { name: other.name }), 409, /named "Other" already exists/);
    assertPlatformError(() => store.updateDestination(1, { vers: 1 }), 409, /stored vers is 2/);
  });

  test('actions: update keeps id, checks destinations and layout, refuses type and object_type changes', () => {
    const store = new EmulatorStore(seed());
    const updated = store.updateAction(SEED_IDS.actions.addNote, {
      vers: 1,
      view_items: [
        { element: 'header', content: 'Adds a note' },
        { element: 'field', content: 'note_text' },
      ],
    });
    assert.equal(updated.id, SEED_IDS.actions.addNote);
    assert.equal(updated.vers, 2);
    assert.deepEqual(updated.view_items.map((v) => [v.element, v.content, v.field_type]), [
      ['header', 'Adds a note', null],
      ['field', 'note_text', 'actioninvocation'],
    ]);
    // `fields` alone replaces the fields and keeps the header.
    assert.deepEqual(store.updateAction('Add Note', { fields: ['severity'] }).view_items.map((v) => v.content), ['Adds a note', 'severity']);
    assertPlatformError(() => store.updateAction(12, { fields: ['nope'] }), 400, /view_items\.1\.content.*"nope" is not an action field/);
    assertPlatformError(() => store.updateAction(12, { message_destinations: ['nowhere'] }), 400, /message_destinations\.0.*nowhere/);
    assertPlatformError(() => store.updateAction(12, { type: 0 }), 400, /^field "type": .*cannot become 0 \(automatic\)/);
    assertPlatformError(() => store.updateAction(12, { object_type: 'note' }), 400, /^field "object_type"/);
    assertPlatformError(() => store.updateAction(12, { name: 'Echo' }), 409, /"Echo" already exists/);
    assert.equal(store.action(12).name, 'Add Note');
  });

  test('conditions: fields must exist on the object type, select labels are stored as ids', () => {
    const store = new EmulatorStore(seed());
    const action = store.createAction({
      name: 'Scan',
      type: 0,
      object_type: 'artifact',
      message_destinations: ['incident_ops'],
      conditions: [
        { method: 'object_added' },
        { field_name: 'artifact.type', method: 'in', value: ['IP Address', 'DNS Name'] },
        { field_name: 'value', method: 'contains', value: 'evil' },
      ],
    });
    assert.deepEqual(action.conditions.map((c) => [c.field_name, c.method, c.value]), [
      [null, 'object_added', null],
      ['artifact.type', 'in', [1, 2]],
      ['value', 'contains', 'evil'],
    ]);
    const bad = (conditions: never[]) => () => store.createAction({ name: `B${Math.random()}`, type: 0, object_type: 'artifact', message_destinations: ['incident_ops'], conditions });
    assertPlatformError(bad([{ field_name: 'artifact.colour', method: 'equals', value: 1 }] as never[]), 400, /conditions\.0\.field_name.*not a field of artifact/);
    assertPlatformError(bad([{ field_name: 'type', method: 'equals', value: 'Carrier Pigeon' }] as never[]), 400, /conditions\.0\.value.*"Carrier Pigeon" is not a value of artifact\.type/);
    assertPlatformError(bad([{ field_name: 'type', method: 'in', value: 'IP Address' }] as never[]), 400, /conditions\.0\.value.*needs a list/);
  });
});
