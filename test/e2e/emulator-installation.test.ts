import { after, before, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import fetch, { type Response } from 'node-fetch';
import { SEED_IDS, SEED_SAMPLE_BYTES, startEmulator, type EmulatorHandle } from '../../lib/emulator/index.js';
import { PACKAGE_ROOT } from '../../lib/cli/dev-state.js';

const ORG = 201;
const KEY = { id: 'emu-install-key', secret: 'emu-install-secret-0123456789' };
const LOGIN = { email: 'svc-install@example.com', password: 'a long service password' };
const CERTS = path.join(process.env['CAFKIT_HOME'] ?? path.join(PACKAGE_ROOT, '.cafkit'), 'certs');
const basic = `Basic ${Buffer.from(`${KEY.id}:${KEY.secret}`).toString('base64')}`;

describe('platform emulator: artifacts, tasks and installation objects over HTTPS', () => {
  let emu: EmulatorHandle;
  let agent: https.Agent;

  async function call(method: string, urlPath: string, body?: unknown, headers: Record<string, string> = {}): Promise<Response> {
    const h: Record<string, string> = { Authorization: basic, ...headers };
    if (body !== undefined) h['Content-Type'] = 'application/json';
    return fetch(`${emu.url}/rest/orgs/${ORG}${urlPath}`, { method, agent, headers: h, body: body === undefined ? undefined : JSON.stringify(body) });
  }
  async function json<T = Record<string, unknown>>(method: string, urlPath: string, body?: unknown, status = 200): Promise<T> {
    const response = await call(method, urlPath, body);
    const text = await response.text();
    assert.equal(response.status, status, `${method} ${urlPath}: ${text}`);
    return JSON.parse(text) as T;
  }
  async function refused(method: string, urlPath: string, body: unknown, status: number, message: RegExp): Promise<void> {
    const answer = await json<{ message: string }>(method, urlPath, body, status);
    assert.match(answer.message, message);
  }

  before(async () => {
    if (!existsSync(path.join(CERTS, 'broker.pem'))) execFileSync('bash', [path.join(PACKAGE_ROOT, 'scripts', 'certs')], { stdio: 'ignore' });
    const read = (f: string) => readFileSync(path.join(CERTS, f), 'utf8');
    agent = new https.Agent({ ca: read('ca.pem'), keepAlive: true });
    emu = await startEmulator({ tls: { cert: read('broker.pem'), key: read('broker-key.pem') }, apiKeys: [KEY], users: [LOGIN], orgId: ORG });
  });
  after(async () => {
    await emu?.close();
    agent?.destroy();
  });
  beforeEach(() => emu.reset());

  describe('artifacts', () => {
    test('the artifact type lists artifact types as a select; incident 2095 has the seeded artifacts', async () => {
      const type = await json<{ fields: Record<string, { input_type: string; values: Array<{ value: number; label: string }> }> }>('GET', '/types/artifact');
      const values = type.fields['type']!.values;
      assert.equal(type.fields['type']!.input_type, 'select');
      for (const [id, label] of [[1, 'IP Address'], [2, 'DNS Name'], [3, 'URL'], [9, 'Email Sender'], [12, 'Malware Sample'], [7, 'Email Attachment'], [23, 'User Account']] as const) {
        assert.ok(values.some((v) => v.value === id && v.label === label), `${id} ${label}`);
      }
      const list = await json<Array<{ id: number; type: number; value: string }>>('GET', '/incidents/2095/artifacts');
      assert.deepEqual(list.map((a) => [a.type, a.value]), [[1, '10.1.2.3'], [2, 'evil.example.com'], [12, 'sample.exe']]);
    });

    test('POST creates, GET reads, PUT updates (rich text descriptions) keeping the id; bad bodies answer 400 naming the field', async () => {
      const created = await json<{ id: number; type: number; inc_id: number; creator_id: number }>('POST', '/incidents/2096/artifacts', { type: { name: 'Email Sender' }, value: 'ceo@examp1e.com' });
      assert.deepEqual([created.type, created.inc_id], [9, 2096]);
      assert.equal(typeof created.creator_id, 'number');
      const read = await json<Record<string, unknown>>('GET', `/incidents/2096/artifacts/${created.id}`);
      const updated = await json<Record<string, unknown>>('PUT', `/incidents/2096/artifacts/${created.id}`, { ...read, description: { format: 'html', content: '<b>spoofed</b>' } });
      assert.deepEqual([updated['id'], updated['description'], updated['value']], [created.id, '<b>spoofed</b>', 'ceo@examp1e.com']);
      await refused('POST', '/incidents/2096/artifacts', { type: 'Carrier Pigeon', value: 'x' }, 400, /^field "type": "Carrier Pigeon" is not an artifact type/);
      await refused('POST', '/incidents/2096/artifacts', { type: 1 }, 400, /field "value": is required/);
      await refused('POST', '/incidents/2096/artifacts', { type: 12, value: 'x.exe' }, 400, /artifacts\/files/);
      await refused('GET', '/incidents/2096/artifacts/1', undefined, 404, /artifact 1 of incident 2096/);
    });

    test('attachment artifacts: created from base64 JSON, their bytes served raw as application/octet-stream', async () => {
      const seeded = await call('GET', `/incidents/2095/artifacts/${SEED_IDS.artifacts.sample}/contents`);
      assert.equal(seeded.status, 200);
      assert.equal(seeded.headers.get('content-type'), 'application/octet-stream');
      assert.match(seeded.headers.get('content-disposition') ?? '', /filename="sample\.exe"/);
      assert.deepEqual(Buffer.from(await seeded.arrayBuffer()), SEED_SAMPLE_BYTES);

      const bytes = Buffer.from([0, 1, 2, 250, 251, 252, 255]);
      const created = await json<{ id: number; attachment: { name: string; size: number; content_type: string } }>('POST', '/incidents/2096/artifacts/files', {
        type: 'Email Attachment',
        value: 'invoice.zip',
        content_base64: bytes.toString('base64'),
        content_type: 'application/zip',
      });
      assert.deepEqual(created.attachment, { ...created.attachment, name: 'invoice.zip', size: 7, content_type: 'application/zip' });
      const contents = await call('GET', `/incidents/2096/artifacts/${created.id}/contents`);
      assert.deepEqual(Buffer.from(await contents.arrayBuffer()), bytes);
      // The request log keeps the call, with the file's base64 as it was (short here).
      assert.equal((emu.requests().find((r) => r.path.endsWith('/artifacts/files'))?.body as Record<string, unknown>)['content_base64'], bytes.toString('base64'));

      await refused('POST', '/incidents/2096/artifacts/files', { type: 'IP Address', value: 'x', content_base64: 'AAAA' }, 400, /hold no file/);
      await refused('POST', '/incidents/2096/artifacts/files', { type: 12, value: 'x', content_base64: 'not base64!' }, 400, /content_base64.*base64/);
      await refused('GET', `/incidents/2095/artifacts/${SEED_IDS.artifacts.ip}/contents`, undefined, 404, /holds no file/);
    });
  });

  test('tasks: list, create, read', async () => {
    const seeded = await json<Array<{ id: number; name: string }>>('GET', '/incidents/2095/tasks');
    assert.deepEqual(seeded.map((t) => t.name), ['Disable compromised user accounts']);
    const created = await json<{ id: number; status: string }>('POST', '/incidents/2096/tasks', { name: 'Block the sender' });
    assert.equal(created.status, 'O');
    assert.equal((await json<{ inc_id: number }>('GET', `/tasks/${created.id}`)).inc_id, 2096);
    await refused('POST', '/incidents/2096/tasks', { name: ' ' }, 400, /field "name"/);
  });

  describe('installation objects', () => {
    test('message destinations: PUT keeps the id and programmatic name; users and API keys must exist', async () => {
      const created = await json<{ id: number; vers: number }>('POST', '/message_destinations', { name: 'Tickets', programmatic_name: 'tickets', users: [LOGIN.email], api_keys: [KEY.id] });
      const read = await json<Record<string, unknown>>('GET', `/message_destinations/${created.id}`);
      const updated = await json<Record<string, unknown>>('PUT', `/message_destinations/${created.id}`, { ...read, name: 'Ticketing', destination_type: 1, expect_ack: false });
      assert.deepEqual([updated['id'], updated['programmatic_name'], updated['name'], updated['destination_type'], updated['expect_ack'], updated['vers']], [created.id, 'tickets', 'Ticketing', 1, false, 2]);
      await refused('PUT', `/message_destinations/${created.id}`, { ...read }, 409, /stored vers is 2/);
      await refused('PUT', `/message_destinations/${created.id}`, { programmatic_name: 'tix' }, 400, /^field "programmatic_name"/);
      await refused('POST', '/message_destinations', { name: 'X', programmatic_name: 'x', users: ['nobody@example.com'] }, 400, /^field "users\.0": there is no user "nobody@example\.com"/);
      await refused('POST', '/message_destinations', { name: 'X', programmatic_name: 'x', api_keys: ['no-such-key'] }, 400, /^field "api_keys\.0"/);
      await refused('POST', '/message_destinations', { name: 'X', programmatic_name: 'x', destination_type: 2 }, 400, /destination_type.*0 \(queue\) or 1 \(topic\)/);
      await refused('POST', '/message_destinations', { name: 'X', programmatic_name: 'x', expect_ack: 'yes' }, 400, /expect_ack/);
    });

    test('action fields: PUT keeps the id; input_type cannot change; an unknown input_type is a 400', async () => {
      const field = await json<{ id: number; vers: number }>('POST', '/types/actioninvocation/fields', { name: 'reason', text: 'Reason', input_type: 'text', required: false, tooltip: 'Why' });
      const updated = await json<{ id: number; tooltip: string; vers: number }>('PUT', `/types/actioninvocation/fields/${field.id}`, { id: field.id, vers: field.vers, tooltip: 'Why, briefly' });
      assert.deepEqual([updated.id, updated.tooltip, updated.vers], [field.id, 'Why, briefly', 2]);
      await refused('PUT', `/types/actioninvocation/fields/${field.id}`, { input_type: 'textarea' }, 400, /^field "input_type": field "reason" is a text field; its input type cannot be changed to textarea/);
      await refused('POST', '/types/actioninvocation/fields', { name: 'x', input_type: 'slider' }, 400, /input_type.*must be one of text, textarea, number, boolean, select, multiselect, date, datetimepicker/);
      await refused('POST', '/types/actioninvocation/fields', { name: 'pick', input_type: 'select', values: [{ enabled: true }] }, 400, /values\.0\.label/);
    });

    test('actions: handle_format names or ids, PUT keeps the id, a conflicts fault answers 409 to the PUT', async () => {
      const names = await json<{ entities: Array<{ name: string; object_type: unknown; message_destinations: unknown[] }> }>('GET', '/actions?handle_format=names');
      assert.deepEqual(names.entities[0]?.message_destinations, ['incident_ops']);
      assert.equal(names.entities[0]?.object_type, 'incident');
      const ids = await json<{ object_type: unknown; message_destinations: unknown[] }>('GET', '/actions/11?handle_format=ids');
      assert.deepEqual([ids.object_type, ids.message_destinations], [0, [1]]);
      await refused('GET', '/actions?handle_format=objects', undefined, 400, /handle_format/);

      const current = await json<Record<string, unknown>>('GET', '/actions/12?handle_format=names');
      emu.setFaults({ conflicts: 1 });
      const body = { ...current, view_items: [{ element: 'header', content: 'Adds a note' }, { element: 'field', content: 'note_text' }] };
      await refused('PUT', '/actions/12?handle_format=names', body, 409, /emulated conflict/);
      const updated = await json<Record<string, unknown>>('PUT', '/actions/12?handle_format=names', body);
      assert.deepEqual([updated['id'], updated['vers'], (updated['view_items'] as Array<{ content: string }>)[0]?.content], [12, 2, 'Adds a note']);
      assert.deepEqual(emu.requests().filter((r) => r.method === 'PUT').map((r) => [r.status, r.fault]), [[409, 'conflict'], [200, undefined]]);

      await refused('PUT', '/actions/12', { type: 0 }, 400, /^field "type"/);
      await refused('POST', '/actions', { name: 'Scan', type: 0, object_type: 'artifact', message_destinations: ['incident_ops'], conditions: [{ field_name: 'artifact.colour', method: 'equals', value: 1 }] }, 400, /conditions\.0\.field_name/);
      const scan = await json<{ conditions: Array<{ value: unknown }> }>('POST', '/actions', {
        name: 'Scan',
        type: 0,
        object_type: 'artifact',
        message_destinations: ['incident_ops'],
        conditions: [{ method: 'object_added' }, { field_name: 'artifact.type', method: 'in', value: ['IP Address', 'DNS Name'] }],
      });
      assert.deepEqual(scan.conditions.map((c) => c.value), [null, [1, 2]]);
    });
  });
});
