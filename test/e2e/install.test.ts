import { after, before, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { emptySeed, startEmulator, type EmulatorHandle, type RecordedRequest } from '../../lib/emulator/index.js';
import { RestClient, type RequestOptions } from '../../lib/rest/client.js';
import { applyPlan, checkInstalled, DEFAULT_DEFINITIONS_DIR, loadDefinitions, planInstall, renderResult, type ApplyEvent } from '../../lib/install/index.js';
import { PACKAGE_ROOT } from '../../lib/cli/dev-state.js';
import { installCommand } from '../../lib/cli/install-command.js';
import { runCafkit } from '../support/cli.js';

const ORG = 201;
const KEY = { id: 'install-test-key', secret: 'install-test-secret-0123456789' };
const CERTS = path.join(process.env['CAFKIT_HOME'] ?? path.join(PACKAGE_ROOT, '.cafkit'), 'certs');
const OPS_YAML = path.join(DEFAULT_DEFINITIONS_DIR, 'incident_ops.yaml');

/** The development certificates; made by scripts/certs when missing. */
function certs(): { cert: string; key: string; ca: string; caFile: string } {
  if (!existsSync(path.join(CERTS, 'broker.pem'))) execFileSync('bash', [path.join(PACKAGE_ROOT, 'scripts', 'certs')], { stdio: 'ignore' });
  const read = (f: string) => readFileSync(path.join(CERTS, f), 'utf8');
  return { cert: read('broker.pem'), key: read('broker-key.pem'), ca: read('ca.pem'), caFile: path.join(CERTS, 'ca.pem') };
}

/** A folder holding incident_ops.yaml, changed by `edit` (on the parsed YAML). */
function opsFolder(edit: (doc: Record<string, Array<Record<string, unknown>>>) => void = () => {}): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'cafkit-install-'));
  const doc = parseYaml(readFileSync(OPS_YAML, 'utf8')) as Record<string, Array<Record<string, unknown>>>;
  edit(doc);
  writeFileSync(path.join(dir, 'incident_ops.yaml'), stringifyYaml(doc));
  return dir;
}

const cafkit = (args: string[], env: Record<string, string>) => runCafkit(args, env, { clean: true });

const writes = (requests: RecordedRequest[]) => requests.filter((r) => r.method === 'POST' || r.method === 'PUT');

describe('cafkit install against the emulator (HTTPS)', () => {
  let emu: EmulatorHandle;
  let rest: RestClient;
  let tls: ReturnType<typeof certs>;
  const folders: string[] = [];
  const folder = (edit?: Parameters<typeof opsFolder>[0]) => {
    const dir = opsFolder(edit);
    folders.push(dir);
    return dir;
  };

  before(async () => {
    tls = certs();
    emu = await startEmulator({ tls: { cert: tls.cert, key: tls.key }, apiKeys: [KEY], seed: emptySeed(ORG), orgId: ORG });
    rest = new RestClient({ url: emu.url, orgId: ORG, apiKey: KEY, tls: { ca: tls.ca }, retryBaseMs: 20 });
  });
  after(async () => {
    rest?.close();
    await emu?.close();
    for (const dir of folders) rmSync(dir, { recursive: true, force: true });
  });

  describe('installing', () => {
    before(() => emu.reset());

    test('on a platform with nothing installed, creates everything declared in destinations/', async () => {
      const definitions = loadDefinitions();
      assert.equal((await checkInstalled(rest, definitions)).missing.length, definitions.destinations.length + definitions.fields.length + definitions.actions.length);
      const plan = await planInstall(rest, definitions);
      assert.ok(plan.steps.every((s) => s.op === 'create'), JSON.stringify(plan.steps.map((s) => [s.name, s.op])));
      assert.deepEqual([...new Set(plan.steps.map((s) => s.kind))], ['destination', 'field', 'action']);

      const progress: ApplyEvent[] = [];
      const result = await applyPlan(rest, plan, { onProgress: (e) => progress.push(e) });
      assert.equal(result.failed, undefined, renderResult(result));
      assert.equal(result.applied.length, plan.steps.length);
      assert.equal(progress.filter((e) => e.type === 'applied').length, plan.steps.length);
      assert.deepEqual(await checkInstalled(rest, definitions), { missing: [] });

      const ops = emu.store.destination('incident_ops');
      assert.deepEqual([ops.name, ops.destination_type, ops.expect_ack], ['Incident operations', 0, true]);
      const severity = emu.store.field('actioninvocation', 'severity');
      assert.deepEqual(severity.values.map((v) => [v.value, v.label]), [[4, 'Low'], [5, 'Medium'], [6, 'High']]);
      assert.equal(severity.required, true);
      assert.equal(emu.store.field('actioninvocation', 'note_text').tooltip, 'The text of the note to add to the incident');
      const addNote = emu.store.action('Add Note');
      assert.deepEqual(addNote.view_items.map((v) => [v.element, v.content]), [['header', 'Adds the text below as a note on this incident'], ['field', 'note_text']]);
      assert.deepEqual([addNote.type, addNote.object_type, addNote.message_destinations], [1, 'incident', ['incident_ops']]);
      assert.equal(writes(emu.requests()).length, plan.steps.length);
    });

    test('a second run plans all unchanged and writes nothing', async () => {
      const mark = emu.requests().at(-1)!.index + 1;
      const plan = await planInstall(rest, loadDefinitions());
      assert.deepEqual(plan.steps.filter((s) => s.op !== 'unchanged').map((s) => `${s.op} ${s.kind} ${s.name}: ${JSON.stringify(s.changes)}`), []);
      const result = await applyPlan(rest, plan);
      assert.deepEqual(result.applied, []);
      assert.equal(result.unchanged.length, plan.steps.length);
      const since = emu.requests(mark);
      assert.ok(since.length > 0);
      assert.deepEqual(writes(since), []);
    });

  });

  describe('updating', () => {
    // Each test starts from incident_ops.yaml installed on an otherwise empty platform.
    beforeEach(async () => {
      emu.reset();
      const result = await applyPlan(rest, await planInstall(rest, loadDefinitions(folder())));
      assert.equal(result.failed, undefined, renderResult(result));
    });

    test('a changed tooltip and an added select value are updated in place, keeping ids', async () => {
      const before = { note: emu.store.field('actioninvocation', 'note_text'), severity: emu.store.field('actioninvocation', 'severity') };
      const dir = folder((doc) => {
        const [noteText, severity] = doc['action_fields']!;
        noteText!['tooltip'] = 'What to write on the incident';
        (severity!['values'] as unknown[]).push({ label: 'Critical' });
      });
      const mark = emu.requests().at(-1)!.index + 1;
      const plan = await planInstall(rest, loadDefinitions(dir));
      const updates = plan.steps.filter((s) => s.op === 'update');
      assert.deepEqual(
        updates.map((s) => [s.name, s.changes]),
        [
          ['note_text', [{ key: 'tooltip', from: 'The text of the note to add to the incident', to: 'What to write on the incident' }]],
          ['severity', [{ key: 'values', from: ['Low=4', 'Medium=5', 'High=6'], to: ['Low=4', 'Medium=5', 'High=6', 'Critical'] }]],
        ],
      );
      const result = await applyPlan(rest, plan);
      assert.equal(result.failed, undefined, renderResult(result));
      const note = emu.store.field('actioninvocation', 'note_text');
      const severity = emu.store.field('actioninvocation', 'severity');
      assert.equal(note.id, before.note.id);
      assert.equal(note.tooltip, 'What to write on the incident');
      assert.equal(note.vers, before.note.vers + 1);
      assert.equal(severity.id, before.severity.id);
      assert.deepEqual(severity.values.slice(0, 3), before.severity.values);
      assert.equal(severity.values[3]?.label, 'Critical');
      assert.deepEqual(writes(emu.requests(mark)).map((r) => `${r.method} ${r.path} ${r.status}`), [
        `PUT /rest/orgs/${ORG}/types/actioninvocation/fields/${note.id} 200`,
        `PUT /rest/orgs/${ORG}/types/actioninvocation/fields/${severity.id} 200`,
      ]);
    });

    test('an update that meets 409 conflicts (the fault) is re-read and re-applied', async () => {
      const dir = folder((doc) => {
        doc['actions']!.find((a) => a['name'] === 'Add Note')!['layout'] = { header: 'Writes a note', fields: ['note_text'] };
      });
      const plan = await planInstall(rest, loadDefinitions(dir));
      const id = emu.store.action('Add Note').id;
      const mark = emu.requests().at(-1)!.index + 1;
      emu.setFaults({ conflicts: 2 });
      const result = await applyPlan(rest, plan);
      assert.equal(result.failed, undefined, renderResult(result));
      const path = `/rest/orgs/${ORG}/actions/${id}`;
      const calls = emu.requests(mark).filter((r) => r.path === path);
      assert.deepEqual(calls.map((r) => `${r.method} ${r.status}`), ['GET 200', 'PUT 409', 'GET 200', 'PUT 409', 'GET 200', 'PUT 200']);
      assert.equal(emu.store.action('Add Note').id, id);
      assert.equal(emu.store.action('Add Note').view_items[0]?.content, 'Writes a note');
    });

    test('a real concurrent edit between read and write is not lost: the stale write is refused, then re-applied on the new version', async () => {
      const field = emu.store.field('actioninvocation', 'note_text');
      /** A client that lets "another user" edit the field right after install reads it, once. */
      class RacingClient extends RestClient {
        raced = false;
        override async get<T = unknown>(p: string, options?: RequestOptions): Promise<T> {
          const answer = await super.get<T>(p, options);
          if (!this.raced && p === `/types/actioninvocation/fields/${field.id}`) {
            this.raced = true;
            emu.store.updateField('actioninvocation', field.id, { placeholder: 'typed by an analyst' });
          }
          return answer;
        }
      }
      const racing = new RacingClient({ url: emu.url, orgId: ORG, apiKey: KEY, tls: { ca: tls.ca }, retryBaseMs: 20 });
      try {
        const dir = folder((doc) => {
          doc['action_fields']![0]!['tooltip'] = 'Tooltip written by install';
        });
        const mark = emu.requests().at(-1)!.index + 1;
        const result = await applyPlan(racing, await planInstall(racing, loadDefinitions(dir)));
        assert.equal(result.failed, undefined, renderResult(result));
        assert.ok(racing.raced);
        const puts = emu.requests(mark).filter((r) => r.method === 'PUT');
        assert.deepEqual(puts.map((r) => r.status), [409, 200]);
        const now = emu.store.field('actioninvocation', field.id);
        assert.equal(now.tooltip, 'Tooltip written by install');
        assert.equal(now.placeholder, 'typed by an analyst', "the other user's change survived");
      } finally {
        racing.close();
      }
    });
  });

  describe('a refusal', () => {
    beforeEach(() => emu.reset());

    test('an existing field whose input_type differs is reported with the object and the reason; later steps are not attempted', async () => {
      emu.store.createField('actioninvocation', { name: 'note_text', text: 'Note text', input_type: 'text' });
      const dir = folder();
      const plan = await planInstall(rest, loadDefinitions(dir));
      const noteStep = plan.steps.find((s) => s.name === 'note_text')!;
      assert.equal(noteStep.op, 'update');
      assert.match(noteStep.warnings.join(), /input_type/);

      const result = await applyPlan(rest, plan);
      assert.deepEqual(result.applied.map((a) => `${a.step.kind} ${a.step.name}`), ['destination incident_ops']);
      assert.equal(result.failed?.step.name, 'note_text');
      assert.equal(result.failed?.status, 400);
      assert.match(result.failed?.message ?? '', /^field "input_type": field "note_text" is a text field; its input type cannot be changed to textarea/);
      assert.deepEqual(result.notAttempted.map((s) => `${s.op} ${s.kind} ${s.name}`), ['create field severity', 'create action Echo', 'create action Add Note', 'create action Set Severity']);
      assert.match(renderResult(result), /^Refused: update action field note_text refused: HTTP 400: field "input_type"/m);
      // Nothing after the refusal was half-applied.
      assert.equal(emu.store.field('actioninvocation', 'note_text').input_type, 'text');
      assert.deepEqual(emu.store.actions(), []);
      assert.deepEqual(emu.store.fields('actioninvocation').map((f) => f.name), ['note_text']);
    });
  });

  describe('the command line (REST settings only, no broker)', () => {
    let env: Record<string, string>;
    before(() => {
      env = { CAFKIT_ORG_ID: String(ORG), CAFKIT_REST_URL: emu.url, CAFKIT_REST_CA: tls.caFile, CAFKIT_API_KEY_ID: KEY.id, CAFKIT_API_KEY_SECRET: KEY.secret };
    });
    beforeEach(() => emu.reset());

    test('--dry-run prints the plan and changes nothing; without a terminal it will not apply unasked; --yes applies', async () => {
      const dir = folder();
      const dry = await cafkit(['install', '--dry-run', '--dir', dir], env);
      assert.equal(dry.code, 0, dry.out);
      assert.match(dry.out, /^\+ create message destination incident_ops \('Incident operations', queue, expects acks\)$/m);
      assert.match(dry.out, /^\+ create action field severity \(select: Low, Medium, High; required\)$/m);
      assert.match(dry.out, /^\+ create action Add Note \(manual on incident → incident_ops; header 'Adds the text below as a note on this incident'; fields: note_text\)$/m);
      assert.match(dry.out, /^6 to create, 0 to update, 0 unchanged$/m);
      assert.match(dry.out, /Dry run: nothing was changed/);
      assert.deepEqual(writes(emu.requests()), []);

      const unasked = await cafkit(['install', '--dir', dir], env);
      assert.equal(unasked.code, 2, unasked.out);
      assert.match(unasked.out, /Pass --yes to apply these changes, or --dry-run to only show them/);
      assert.deepEqual(writes(emu.requests()), []);

      const applied = await cafkit(['install', '--yes', '--dir', dir], env);
      assert.equal(applied.code, 0, applied.out);
      assert.match(applied.out, /^\[1\/6\] ✓ created message destination incident_ops \(id \d+\)$/m);
      assert.match(applied.out, /^\[6\/6\] ✓ created action Set Severity \(id \d+\)$/m);
      assert.match(applied.out, /^Applied 6 changes; 0 unchanged\.$/m);
      assert.deepEqual(emu.store.actions().map((a) => a.name), ['Echo', 'Add Note', 'Set Severity']);

      const again = await cafkit(['install', '--yes', '--dir', dir], env);
      assert.equal(again.code, 0, again.out);
      assert.match(again.out, /^0 to create, 0 to update, 6 unchanged$/m);
      assert.match(again.out, /Nothing to do/);
    });

    test('on a terminal it asks, and applies only after "y"', async () => {
      const dir = folder();
      const run = async (answer: string) => {
        const stdin = Object.assign(new PassThrough(), { isTTY: true });
        const stdout = new PassThrough();
        let out = '';
        stdout.on('data', (chunk: Buffer) => {
          out += chunk.toString();
          // Answer once the question is on the screen, as a person would.
          if (out.includes('Apply these changes? [y/N]') && !stdin.writableEnded) stdin.end(`${answer}\n`);
        });
        const code = await installCommand({ dir }, { stdin, stdout, stderr: stdout, env });
        return { code, out };
      };
      const no = await run('n');
      assert.equal(no.code, 0, no.out);
      assert.match(no.out, /Nothing was changed/);
      assert.deepEqual(writes(emu.requests()), []);
      const yes = await run('y');
      assert.equal(yes.code, 0, yes.out);
      assert.match(yes.out, /^Applied 6 changes; 0 unchanged\.$/m);
      assert.equal(writes(emu.requests()).length, 6);
    });

    test('a refusal exits 1 naming the object and the reason', async () => {
      emu.store.createField('actioninvocation', { name: 'severity', text: 'Severity', input_type: 'number' });
      const { code, out } = await cafkit(['install', '--yes', '--dir', folder()], env);
      assert.equal(code, 1, out);
      assert.match(out, /^ {4}! the platform does not let a field's input_type change \(number → select\)/m);
      assert.match(out, /^\[3\/6\] ✗ update action field severity refused: HTTP 400: field "input_type"/m);
      assert.match(out, /^Stopped: 2 applied, 1 refused, 3 not attempted, 0 unchanged\.$/m);
      assert.match(out, /^ {2}- create action Set Severity$/m);
    });

    test('configuration and definition problems exit 2 naming the key', async () => {
      const noUrl = { ...env, CAFKIT_REST_URL: '' };
      const config = await cafkit(['install', '--dry-run', '--dir', folder()], noUrl);
      assert.equal(config.code, 2, config.out);
      assert.match(config.out, /rest\.url: required/);

      const bad = folder((doc) => {
        doc['actions']![1]!['destinations'] = ['nowhere'];
      });
      const definitions = await cafkit(['install', '--dry-run', '--dir', bad], env);
      assert.equal(definitions.code, 2, definitions.out);
      assert.match(definitions.out, /incident_ops\.yaml: actions\[1\]\.destinations\[0\]: action "Add Note" sends to message destination "nowhere", which is declared nowhere and not on the platform/);

      const gone = await cafkit(['install', '--dry-run', '--dir', path.join(bad, 'missing')], env);
      assert.equal(gone.code, 2, gone.out);
      assert.match(gone.out, /no such folder/);
    });
  });

  test('copying the package definitions works as a --dir too', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'cafkit-install-copy-'));
    folders.push(dir);
    copyFileSync(OPS_YAML, path.join(dir, 'ops.yml'));
    assert.deepEqual(loadDefinitions(dir).actions.map((a) => a.definition.name), ['Echo', 'Add Note', 'Set Severity']);
  });
});
