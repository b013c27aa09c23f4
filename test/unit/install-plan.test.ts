import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { parse as parseYaml } from 'yaml';
import { buildPlan, parseDefinitions, renderPlan, renderResult, type PlanStep, type PlatformState } from '../../lib/install/index.js';
import { actionProperties, fieldProperties, patched } from '../../lib/install/properties.js';

const DEFINITIONS = parseDefinitions([
  {
    file: 'ops.yaml',
    content: parseYaml(`
message_destinations:
  - { name: Incident operations, programmatic_name: incident_ops, destination_type: queue, expect_ack: true }
action_fields:
  - { name: note_text, text: Note text, input_type: textarea, required: true, tooltip: The text of the note }
  - { name: severity, text: Severity, input_type: select, required: true, values: [{ label: Low, value: 4 }, { label: Medium, value: 5 }, { label: High, value: 6 }] }
  - { name: priority, text: Priority, input_type: select, values: [{ label: Low }, { label: Medium }, { label: High }, { label: Critical }] }
actions:
  - { name: Echo, type: manual, object_type: incident, destinations: [incident_ops] }
  - name: Add Note
    type: manual
    object_type: incident
    destinations: [incident_ops]
    layout: { header: b, fields: [note_text] }
  - name: Scan IP
    type: automatic
    object_type: artifact
    destinations: [incident_ops]
    conditions: [{ field: artifact.type, operator: in, value: [IP Address, DNS Name] }]
`),
  },
]);

/** The platform as an earlier install left it, plus what the platform adds by itself. */
function platform(): PlatformState {
  return {
    destinations: [
      { id: 1, name: 'Incident operations', programmatic_name: 'incident_ops', destination_type: 0, expect_ack: true, users: [], api_keys: [], uuid: 'u1', vers: 3 },
    ],
    fields: [
      { id: 101, name: 'note_text', text: 'Note text', input_type: 'textarea', required: 'always', tooltip: 'The text of the note', placeholder: '', values: [], prefix: 'properties', vers: 1 },
      {
        id: 102,
        name: 'severity',
        text: 'Severity',
        input_type: 'select',
        required: true,
        tooltip: '',
        values: [
          { value: 4, label: 'Low', enabled: true, hidden: false },
          { value: 5, label: 'Medium', enabled: true, hidden: false },
          { value: 6, label: 'High', enabled: true, hidden: false },
        ],
      },
    ],
    actions: [
      { id: 11, name: 'Echo', type: 1, object_type: 'incident', enabled: true, conditions: [], message_destinations: ['incident_ops'], view_items: [], uuid: 'a' },
      {
        id: 12,
        name: 'Add Note',
        type: 1,
        object_type: 'incident',
        conditions: [],
        message_destinations: ['incident_ops'],
        view_items: [
          { element: 'header', field_type: null, content: 'a' },
          { element: 'field', field_type: 'actioninvocation', content: 'note_text' },
        ],
      },
      {
        id: 13,
        name: 'Scan IP',
        type: 0,
        object_type: 'artifact',
        conditions: [{ field_name: 'artifact.type', method: 'in', value: [1, 2], evaluation_id: null }],
        message_destinations: ['incident_ops'],
        view_items: [],
      },
    ],
    types: {
      artifact: {
        fields: {
          type: { name: 'type', input_type: 'select', values: [{ value: 1, label: 'IP Address' }, { value: 2, label: 'DNS Name' }, { value: 3, label: 'URL' }] },
        },
      },
    },
  };
}

const step = (steps: PlanStep[], kind: string, name: string) => steps.find((s) => s.kind === kind && s.name === name)!;

describe('install plan', () => {
  test('orders destinations, fields, actions; compares only what the definition sets', () => {
    const plan = buildPlan(DEFINITIONS, platform());
    assert.deepEqual(
      plan.steps.map((s) => [s.kind, s.name, s.op]),
      [
        ['destination', 'incident_ops', 'unchanged'],
        ['field', 'note_text', 'unchanged'],
        ['field', 'severity', 'unchanged'],
        ['field', 'priority', 'create'],
        ['action', 'Echo', 'unchanged'],
        ['action', 'Add Note', 'update'],
        ['action', 'Scan IP', 'unchanged'],
      ],
    );
    // Labels in conditions compare equal to the ids the platform stores.
    assert.deepEqual(step(plan.steps, 'action', 'Add Note').changes, [{ key: 'layout.header', from: 'a', to: 'b' }]);
    assert.equal(step(plan.steps, 'action', 'Add Note').id, 12);
  });

  test('an empty platform means everything is created', () => {
    const plan = buildPlan(DEFINITIONS, { destinations: [], fields: [], actions: [], types: platform().types });
    assert.ok(plan.steps.every((s) => s.op === 'create' && s.id === undefined));
    assert.deepEqual(step(plan.steps, 'destination', 'incident_ops').changes, [
      { key: 'name', from: undefined, to: 'Incident operations' },
      { key: 'destination_type', from: undefined, to: 'queue' },
      { key: 'expect_ack', from: undefined, to: true },
    ]);
  });

  test('each changed key is listed with from and to in the definitions\' words', () => {
    const p = platform();
    p.destinations[0]!.destination_type = 1;
    p.destinations[0]!.name = 'Ops';
    p.fields[0]!.tooltip = 'old tip';
    p.fields[0]!.required = false;
    p.fields[1]!.values = p.fields[1]!.values.slice(0, 2);
    p.actions[0]!.message_destinations = ['incident_ops', 'other'];
    p.actions[2]!.conditions = [{ field_name: 'type', method: 'in', value: [1], evaluation_id: null }];
    const plan = buildPlan(DEFINITIONS, p);
    assert.deepEqual(step(plan.steps, 'destination', 'incident_ops').changes, [
      { key: 'name', from: 'Ops', to: 'Incident operations' },
      { key: 'destination_type', from: 'topic', to: 'queue' },
    ]);
    assert.deepEqual(step(plan.steps, 'field', 'note_text').changes, [
      { key: 'required', from: false, to: true },
      { key: 'tooltip', from: 'old tip', to: 'The text of the note' },
    ]);
    assert.deepEqual(step(plan.steps, 'field', 'severity').changes, [{ key: 'values', from: ['Low=4', 'Medium=5'], to: ['Low=4', 'Medium=5', 'High=6'] }]);
    assert.deepEqual(step(plan.steps, 'action', 'Echo').changes, [{ key: 'destinations', from: ['incident_ops', 'other'], to: ['incident_ops'] }]);
    assert.deepEqual(step(plan.steps, 'action', 'Scan IP').changes, [
      { key: 'conditions', from: ['artifact.type in [IP Address]'], to: ['artifact.type in [IP Address, DNS Name]'] },
    ]);
  });

  test('an input_type change is planned with a warning that the platform refuses it', () => {
    const p = platform();
    p.fields[0]!.input_type = 'text';
    const s = step(buildPlan(DEFINITIONS, p).steps, 'field', 'note_text');
    assert.equal(s.op, 'update');
    assert.deepEqual(s.changes, [{ key: 'input_type', from: 'text', to: 'textarea' }]);
    assert.match(s.warnings[0]!, /does not let a field's input_type change \(text → textarea\)/);
  });

  test('a patch keeps what the platform added and other users changed, and select value ids', () => {
    const f = DEFINITIONS.fields.find((d) => d.definition.name === 'severity')!.definition;
    const current = { ...platform().fields[1]!, placeholder: 'set by someone else', values: [{ value: 4, label: 'Low', enabled: true, hidden: false }], vers: 7 };
    const next = patched(fieldProperties(f), current)!;
    assert.equal(next['placeholder'], 'set by someone else');
    assert.equal(next['vers'], 7);
    assert.deepEqual(next['values'], [
      { value: 4, label: 'Low', enabled: true, hidden: false },
      { value: 5, label: 'Medium', enabled: true },
      { value: 6, label: 'High', enabled: true },
    ]);
    assert.equal(patched(fieldProperties(f), platform().fields[1]!), undefined, 'nothing to write when it already matches');

    const a = DEFINITIONS.actions.find((d) => d.definition.name === 'Add Note')!.definition;
    const action = patched(actionProperties(a, {}), { ...platform().actions[1]!, view_items: [{ element: 'html', content: '<hr>' }, { element: 'field', field_type: 'actioninvocation', content: 'old' }] })!;
    assert.deepEqual(
      (action['view_items'] as Array<{ element: string; content: string }>).map((v) => [v.element, v.content]),
      [
        ['header', 'b'],
        ['html', '<hr>'],
        ['field', 'note_text'],
      ],
    );
  });

  test('renders a plan for people, with a summary', () => {
    const p = platform();
    p.fields[0]!.input_type = 'text';
    const text = renderPlan(buildPlan(DEFINITIONS, p));
    assert.equal(
      text,
      [
        '= unchanged message destination incident_ops',
        "~ update action field note_text: input_type 'text' → 'textarea'",
        "    ! the platform does not let a field's input_type change (text → textarea): it will refuse this update; delete the field on the platform first, or keep its input_type",
        '= unchanged action field severity',
        '+ create action field priority (select: Low, Medium, High, Critical)',
        '= unchanged action Echo',
        "~ update action Add Note: layout.header 'a' → 'b'",
        '= unchanged action Scan IP',
        '1 to create, 2 to update, 4 unchanged',
      ].join('\n'),
    );
    const created = renderPlan(buildPlan(DEFINITIONS, { destinations: [], fields: [], actions: [], types: p.types }));
    assert.match(created, /^\+ create message destination incident_ops \('Incident operations', queue, expects acks\)$/m);
    assert.match(created, /^\+ create action field severity \(select: Low, Medium, High; required\)$/m);
    assert.match(created, /^\+ create action Add Note \(manual on incident → incident_ops; header 'b'; fields: note_text\)$/m);
    assert.match(created, /^\+ create action Scan IP \(automatic on artifact → incident_ops; when artifact\.type in \[IP Address, DNS Name\]\)$/m);
  });

  test('renders a refusal with the object, the status and the platform\'s message, and what was not attempted', () => {
    const plan = buildPlan(DEFINITIONS, { destinations: [], fields: [], actions: [], types: {} });
    const [first, second, ...rest] = plan.steps;
    const text = renderResult({
      applied: [{ step: first!, id: 1, wrote: true }],
      unchanged: [],
      failed: { step: second!, status: 400, message: 'field "input_type": no' },
      notAttempted: rest,
    });
    assert.match(text, /^Stopped: 1 applied, 1 refused, 5 not attempted, 0 unchanged\.$/m);
    assert.match(text, /^Refused: create action field note_text refused: HTTP 400: field "input_type": no$/m);
    assert.match(text, /^ {2}- create action Scan IP$/m);
  });
});
