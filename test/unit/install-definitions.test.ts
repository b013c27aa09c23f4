import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { ConfigError } from '../../lib/config/load.js';
import { DefinitionError, loadDefinitions, parseDefinitions, referenceProblems, checkReferences } from '../../lib/install/index.js';

/** Parses YAML texts as definition files named after their keys. */
function parse(files: Record<string, string>) {
  return parseDefinitions(Object.entries(files).map(([file, text]) => ({ file, content: parseYaml(text) })));
}

/** The issues of the DefinitionError `fn` throws. */
function issuesOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (error) {
    assert.ok(error instanceof DefinitionError, `expected a DefinitionError, got ${String(error)}`);
    assert.ok(error instanceof ConfigError, 'a DefinitionError is a ConfigError (the CLI exits 2)');
    return error.issues;
  }
  assert.fail('expected a DefinitionError');
}

const GOOD = `
message_destinations:
  - { name: Ops, programmatic_name: ops, destination_type: queue, expect_ack: true }
action_fields:
  - { name: priority, text: Priority, input_type: select, required: true, values: [{ label: Low }, { label: High, value: 7, enabled: false }] }
actions:
  - name: Open Ticket
    type: manual
    object_type: note
    destinations: [ops]
    layout: { header: Opens a ticket, fields: [priority] }
  - name: Scan IP
    type: automatic
    object_type: artifact
    destinations: [ops]
    logic: any
    conditions:
      - { operator: object_added }
      - { field: artifact.type, operator: in, value: [IP Address, DNS Name] }
`;

describe('install definitions', () => {
  test('a valid file gathers destinations, fields and actions with where each was declared', () => {
    const defs = parse({ 'destinations/a.yaml': GOOD });
    assert.deepEqual(defs.destinations.map((d) => [d.definition.programmatic_name, d.file, d.key]), [['ops', 'destinations/a.yaml', 'message_destinations[0]']]);
    assert.deepEqual(defs.fields[0]?.definition.values, [{ label: 'Low' }, { label: 'High', value: 7, enabled: false }]);
    assert.deepEqual(defs.actions.map((a) => [a.definition.name, a.key]), [['Open Ticket', 'actions[0]'], ['Scan IP', 'actions[1]']]);
    assert.deepEqual(defs.actions[1]?.definition.conditions?.[1], { field: 'artifact.type', operator: 'in', value: ['IP Address', 'DNS Name'] });
  });

  test('an empty file and missing sections are fine', () => {
    const defs = parse({ 'empty.yaml': '', 'only-dest.yaml': 'message_destinations: [{ name: X, programmatic_name: x }]' });
    assert.equal(defs.destinations.length, 1);
    assert.equal(defs.actions.length, 0);
  });

  test('schema errors name the file, the key and the object', () => {
    const issues = issuesOf(() =>
      parse({
        'destinations/bad.yaml': `
message_destinations:
  - { name: Ops, programmatic_name: ops-queue, destination_type: fanout }
action_fields:
  - { name: pri, text: Priority, input_type: radio }
  - { name: sev, text: Severity, input_type: select }
  - { name: note, text: Note, input_type: text, values: [{ label: A }] }
  - { name: bad-name, text: X, input_type: text, tooltp: typo }
actions:
  - { name: Auto, type: automatic, object_type: incident, destinations: [ops], layout: { fields: [pri] } }
  - { name: Cond, type: automatic, object_type: widget, destinations: [], conditions: [{ operator: in, field: incident.severity_code, value: High }, { operator: equals }] }
`,
      }),
    );
    const expected = [
      /^destinations\/bad\.yaml: message_destinations\[0\]\.programmatic_name: message destination "ops-queue": must contain only letters, digits and underscores$/,
      /^destinations\/bad\.yaml: message_destinations\[0\]\.destination_type: .*must be queue or topic$/,
      /^destinations\/bad\.yaml: action_fields\[0\]\.input_type: action field "pri": must be one of text, textarea/,
      /^destinations\/bad\.yaml: action_fields\[1\]\.values: action field "sev": a select field needs at least one value$/,
      /^destinations\/bad\.yaml: action_fields\[2\]\.values: action field "note": only select and multiselect fields have values/,
      /^destinations\/bad\.yaml: action_fields\[3\]\.name: action field "bad-name": must contain only letters/,
      /^destinations\/bad\.yaml: action_fields\[3\]: unknown key tooltp$/,
      /^destinations\/bad\.yaml: actions\[0\]\.layout: action "Auto": an automatic action has no dialog, so no layout$/,
      /^destinations\/bad\.yaml: actions\[1\]\.object_type: action "Cond": must be one of incident, task/,
      /^destinations\/bad\.yaml: actions\[1\]\.destinations: action "Cond": needs at least one message destination$/,
      /^destinations\/bad\.yaml: actions\[1\]\.conditions\[0\]\.value: action "Cond": operator in needs a list of values$/,
      /^destinations\/bad\.yaml: actions\[1\]\.conditions\[1\]\.field: action "Cond": is required for operator equals$/,
      /^destinations\/bad\.yaml: actions\[1\]\.conditions\[1\]\.value: action "Cond": operator equals needs a value$/,
    ];
    for (const pattern of expected) assert.ok(issues.some((i) => pattern.test(i)), `no issue matches ${pattern}:\n${issues.join('\n')}`);
  });

  test('a required key that is missing is said so', () => {
    const issues = issuesOf(() => parse({ 'x.yaml': 'actions: [{ name: A, object_type: incident, destinations: [ops] }]' }));
    assert.ok(issues.includes('x.yaml: actions[0].type: action "A": is required'), issues.join('\n'));
  });

  test('duplicates across files name both places', () => {
    const issues = issuesOf(() =>
      parse({
        'destinations/a.yaml': GOOD,
        'destinations/b.yaml': `
message_destinations: [{ name: Other, programmatic_name: ops }]
action_fields: [{ name: priority, text: P, input_type: text }]
actions: [{ name: Scan IP, type: manual, object_type: incident, destinations: [ops] }]
`,
      }),
    );
    assert.deepEqual(issues, [
      'destinations/b.yaml: message_destinations[0].programmatic_name: message destination "ops" is already declared at destinations/a.yaml: message_destinations[0]',
      'destinations/b.yaml: action_fields[0].name: action field "priority" is already declared at destinations/a.yaml: action_fields[0]',
      'destinations/b.yaml: actions[0].name: action "Scan IP" is already declared at destinations/a.yaml: actions[1]',
    ]);
  });

  test('references must resolve to a declaration or to the platform', () => {
    const defs = parse({
      'a.yaml': `
actions:
  - { name: Ticket, type: manual, object_type: incident, destinations: [ops, tickets], layout: { fields: [priority, reason] } }
`,
    });
    assert.deepEqual(referenceProblems(defs, { destinations: ['ops'], fields: ['priority'] }), [
      'a.yaml: actions[0].destinations[1]: action "Ticket" sends to message destination "tickets", which is declared nowhere and not on the platform',
      'a.yaml: actions[0].layout.fields[1]: action "Ticket" shows action field "reason", which is declared nowhere and not on the platform',
    ]);
    assert.deepEqual(referenceProblems(defs, { destinations: ['ops', 'tickets'], fields: ['priority', 'reason'] }), []);
    assert.throws(() => checkReferences(defs), DefinitionError);
  });

  test('loadDefinitions reads *.yaml and *.yml in name order, and names a file that is not YAML', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'cafkit-defs-'));
    try {
      writeFileSync(path.join(dir, 'b.yml'), 'message_destinations: [{ name: B, programmatic_name: b }]');
      writeFileSync(path.join(dir, 'a.yaml'), 'message_destinations: [{ name: A, programmatic_name: a }]');
      writeFileSync(path.join(dir, 'notes.txt'), 'ignored');
      const defs = loadDefinitions(dir);
      assert.deepEqual(defs.destinations.map((d) => d.definition.programmatic_name), ['a', 'b']);
      assert.match(defs.destinations[0]!.file, /a\.yaml$/);

      writeFileSync(path.join(dir, 'c.yaml'), 'actions: [unclosed');
      assert.match(issuesOf(() => loadDefinitions(dir))[0]!, /c\.yaml: not valid YAML/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    assert.match(issuesOf(() => loadDefinitions(path.join(dir, 'gone')))[0]!, /no such folder/);
  });

  test('the package\'s own destinations/ folder is valid', () => {
    const defs = loadDefinitions();
    assert.ok(defs.destinations.some((d) => d.definition.programmatic_name === 'incident_ops'));
    assert.ok(defs.actions.some((a) => a.definition.name === 'Add Note'));
    checkReferences(defs);
  });
});
