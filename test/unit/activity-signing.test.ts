import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, unlinkSync, writeFileSync, existsSync, readdirSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { canonicalJson, CanonicalJsonError, canonicalMember, canonicalMembers, joinMembers, withMember } from '../../lib/activity/canonical-json.js';
import { uuidv7 } from '../../lib/activity/time-ordered-id.js';
import { openKeyring, KeyringError, keyIdOf } from '../../lib/activity/keyring.js';
import { ChainSigner, canonicalRecordText, recordHash } from '../../lib/activity/signer.js';
import { verifyRecords, UnreadableRecord, type VerifyReport } from '../../lib/activity/verify.js';
import { activityFiles, readJsonl } from '../../lib/activity/jsonl-reader.js';
import type { ActivityRecord, UnsignedActivity } from '../../lib/activity/record.js';

function tempDir(t: { after(fn: () => void): void }): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'cafkit-signing-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function activity(n: number): UnsignedActivity {
  const at = new Date(Date.UTC(2025, 0, 1, 12, 0, n)).toISOString();
  return {
    id: randomUUID(),
    execution_id: randomUUID(),
    correlation_id: `invid:${n}`,
    org_id: 201,
    destination: 'ticket',
    action_id: 12,
    action_name: 'Create ticket',
    object_type: 'incident',
    object_ids: { incident: 2095 },
    user: { id: 3, email: 'analyst@example.com' },
    status: 'succeeded',
    received_at: at,
    started_at: at,
    ended_at: at,
    steps: [{ name: 'create', status: 'succeeded', started_at: at, ended_at: at, output: { ticket: `T-${n}`, ratio: 4.5 } }],
    replies: [{ at, message_type: 0, message: 'Completed processing', complete: true }],
    error: null,
    processor: { name: 'ticket', host: 'worker-1', version: '0.1.0' },
    memory: { note: 'Ünïcode ✓ 😀', n },
  };
}

function signMany(signer: ChainSigner, count: number, from = 1): ActivityRecord[] {
  return Array.from({ length: count }, (_, i) => signer.sign(activity(from + i)));
}

function kinds(report: VerifyReport) {
  return report.problems.map((p) => ({ kind: p.kind, seq: p.seq }));
}

// --- canonical JSON (RFC 8785) ---

test('canonical JSON sorts keys by UTF-16 code units, non-ASCII keys included (RFC 8785 §3.2.3)', () => {
  const input = {
    '\u20ac': 'Euro Sign',
    '\r': 'Carriage Return',
    '\ufb33': 'Hebrew Letter Dalet With Dagesh',
    '1': 'One',
    '\ud83d\ude00': 'Emoji: Grinning Face',
    '\u0080': 'Control',
    '\u00f6': 'Latin Small Letter O With Diaeresis',
  };
  assert.equal(
    canonicalJson(input),
    '{"\\r":"Carriage Return","1":"One","\u0080":"Control","\u00f6":"Latin Small Letter O With Diaeresis",' +
      '"\u20ac":"Euro Sign","\ud83d\ude00":"Emoji: Grinning Face","\ufb33":"Hebrew Letter Dalet With Dagesh"}',
  );
});

test('canonical JSON of the RFC 8785 §3.2.2 example: numbers, escapes, literals, no whitespace', () => {
  const input = JSON.parse(
    '{"numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],' +
      ' "string": "\\u20ac$\\u000F\\u000aA\'\\u0042\\u0022\\u005c\\\\\\"\\/", "literals": [null, true, false]}',
  );
  assert.equal(
    canonicalJson(input),
    '{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],"string":"€$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}',
  );
});

test('canonical JSON writes numbers in ECMAScript form (RFC 8785 appendix B)', () => {
  const bits = (hex: string) => Buffer.from(hex, 'hex').readDoubleBE(0);
  const cases: Array<[string, string]> = [
    ['0000000000000000', '0'],
    ['8000000000000000', '0'], // -0
    ['0000000000000001', '5e-324'],
    ['8000000000000001', '-5e-324'],
    ['7fefffffffffffff', '1.7976931348623157e+308'],
    ['4340000000000000', '9007199254740992'],
    ['c340000000000000', '-9007199254740992'],
    ['4430000000000000', '295147905179352830000'],
    ['44b52d02c7e14af5', '9.999999999999997e+22'],
    ['44b52d02c7e14af6', '1e+23'],
    ['44b52d02c7e14af7', '1.0000000000000001e+23'],
    ['444b1ae4d6e2ef4e', '999999999999999700000'],
    ['444b1ae4d6e2ef4f', '999999999999999900000'],
    ['444b1ae4d6e2ef50', '1e+21'],
    ['3eb0c6f7a0b5ed8c', '9.999999999999997e-7'],
    ['3eb0c6f7a0b5ed8d', '0.000001'],
  ];
  for (const [hex, expected] of cases) assert.equal(canonicalJson(bits(hex)), expected, hex);
  assert.equal(canonicalJson([1e30, 4.5, -0, 0.1 + 0.2]), '[1e+30,4.5,0,0.30000000000000004]');
});

test('canonical JSON nests arrays and objects, omits undefined members like JSON, refuses what JSON cannot carry', () => {
  assert.equal(canonicalJson({ z: [[3, [2, { b: 1, a: [] }]], {}], a: undefined, m: null }), '{"m":null,"z":[[3,[2,{"a":[],"b":1}]],{}]}');
  assert.equal(canonicalJson([undefined, 1]), '[null,1]');
  assert.equal(canonicalJson({ at: new Date(0) }), '{"at":"1970-01-01T00:00:00.000Z"}');
  assert.throws(() => canonicalJson({ n: NaN }), (e: unknown) => e instanceof CanonicalJsonError && /\$\.n/.test(e.message));
  assert.throws(() => canonicalJson([Infinity]), CanonicalJsonError);
  assert.throws(() => canonicalJson({ big: 1n }), CanonicalJsonError);
  const cyclic: Record<string, unknown> = {};
  cyclic['self'] = cyclic;
  assert.throws(() => canonicalJson(cyclic), /contains itself/);
  // The same object twice (not a cycle) is fine.
  const shared = { x: 1 };
  assert.equal(canonicalJson({ a: shared, b: shared }), '{"a":{"x":1},"b":{"x":1}}');
});

test('canonical JSON writes strings exactly as JSON.stringify does', () => {
  const strings = ['', 'plain', 'é€😀', 'q"b\\s/', '\u0000\u001f\u007f\u2028\u2029', '\ud800 lone', 'tail \udc00', '\udc00\ud800', 'tab\tnl\n'];
  for (const text of strings) {
    assert.equal(canonicalJson(text), JSON.stringify(text), JSON.stringify(text));
    assert.equal(canonicalJson({ [text]: 1 }), `{${JSON.stringify(text)}:1}`);
  }
});

test('canonical JSON is stable across a JSON round trip', () => {
  const record = { ...activity(7), steps: [{ name: 's', status: 'pending', error: undefined }], memory: { neg: -0, big: 1e21 } };
  assert.equal(canonicalJson(JSON.parse(JSON.stringify(record))), canonicalJson(record));
});

// --- keyring ---

test('keyring makes a P-256 key on first run, owner-only, and reopens the same key', (t) => {
  const dir = path.join(tempDir(t), 'keys');
  const first = openKeyring(dir);
  const { keyId, privateKey } = first.active();
  assert.match(keyId, /^[0-9a-f]{64}$/);
  assert.equal(privateKey.asymmetricKeyDetails?.namedCurve, 'prime256v1');
  assert.equal(statSync(path.join(dir, 'active.pem')).mode & 0o777, 0o600);
  assert.equal(statSync(dir).mode & 0o777, 0o700);
  assert.match(readFileSync(path.join(dir, 'active.pem'), 'utf8'), /^-----BEGIN PRIVATE KEY-----/);
  assert.ok(existsSync(path.join(dir, 'public', `${keyId}.pem`)));
  assert.equal(keyIdOf(first.publicKey(keyId)!), keyId);
  assert.equal(openKeyring(dir).active().keyId, keyId);
  assert.deepEqual(readdirSync(dir).sort(), ['active.pem', 'public']); // no temp file left behind
});

test('keyring refuses a private key readable by group or others, naming the file and its mode', (t) => {
  const dir = path.join(tempDir(t), 'keys');
  openKeyring(dir);
  const file = path.join(dir, 'active.pem');
  chmodSync(file, 0o644);
  assert.throws(() => openKeyring(dir), (e: unknown) => e instanceof KeyringError && e.message.includes(file) && e.message.includes('0644'));
});

test('keyring does not silently replace a lost private key', (t) => {
  const dir = path.join(tempDir(t), 'keys');
  const oldId = openKeyring(dir).active().keyId;
  unlinkSync(path.join(dir, 'active.pem'));
  assert.throws(() => openKeyring(dir), (e: unknown) => e instanceof KeyringError && e.message.includes(dir) && e.message.includes('cafkit keys rotate'));
  assert.ok(!existsSync(path.join(dir, 'active.pem')));
  // Read-only use still verifies; signing says what to do.
  const readOnly = openKeyring(dir, { create: false });
  assert.ok(readOnly.publicKey(oldId));
  assert.throws(() => readOnly.active(), /cafkit keys rotate/);
  // Asked explicitly, it makes a new key and keeps the old public key.
  const renewed = openKeyring(dir, { create: true });
  assert.notEqual(renewed.active().keyId, oldId);
  assert.deepEqual(renewed.keyIds(), [oldId, renewed.active().keyId].sort());
});

test('keyring opened with create: false on an empty folder says there are no keys', (t) => {
  const dir = path.join(tempDir(t), 'keys');
  assert.throws(() => openKeyring(dir, { create: false }), (e: unknown) => e instanceof KeyringError && e.message.includes(dir));
  assert.ok(!existsSync(dir));
});

test('keyring rotation replaces the private key and keeps the old public key', (t) => {
  const dir = path.join(tempDir(t), 'keys');
  const keyring = openKeyring(dir);
  const oldId = keyring.active().keyId;
  const oldPem = readFileSync(path.join(dir, 'active.pem'), 'utf8');
  const newId = keyring.rotate();
  assert.notEqual(newId, oldId);
  assert.equal(keyring.active().keyId, newId);
  assert.notEqual(readFileSync(path.join(dir, 'active.pem'), 'utf8'), oldPem);
  assert.equal(statSync(path.join(dir, 'active.pem')).mode & 0o777, 0o600);
  assert.equal(openKeyring(dir).active().keyId, newId);
  assert.deepEqual(keyring.keyIds(), [oldId, newId].sort());
  assert.ok(keyring.publicKey(oldId));
  assert.equal(keyring.publicKey('../active'), undefined);
});

// --- signing and verification ---

test('signs 100 records that all verify, and reports the signing and verifying rates', async (t) => {
  const keyring = openKeyring(path.join(tempDir(t), 'keys'));
  const chainId = randomUUID();
  const signer = new ChainSigner(keyring, { chainId });
  const unsigned = Array.from({ length: 2000 }, (_, i) => activity(i + 1));
  const startSign = performance.now();
  const records = unsigned.map((u) => signer.sign(u));
  const signMs = performance.now() - startSign;

  const first100 = records.slice(0, 100);
  assert.deepEqual(first100.map((r) => r.seq), Array.from({ length: 100 }, (_, i) => i + 1));
  assert.equal(first100[0]!.prev_hash, null);
  assert.equal(first100[1]!.prev_hash, recordHash(first100[0]!));
  assert.ok(first100.every((r) => r.chain_id === chainId && r.key_id === keyring.active().keyId));
  assert.equal(Buffer.from(first100[0]!.signature, 'base64').length, 64);

  const report = await verifyRecords(first100, keyring);
  assert.deepEqual(report.problems, []);
  assert.equal(report.checked, 100);
  assert.equal(report.ok, 100);
  assert.deepEqual(report.chains, [{ chain_id: chainId, records: 100, first_seq: 1, last_seq: 100, last_hash: recordHash(first100[99]!) }]);

  const startVerify = performance.now();
  const all = await verifyRecords(records, keyring);
  const verifyMs = performance.now() - startVerify;
  assert.equal(all.ok, records.length);
  t.diagnostic(`sign: ${Math.round(records.length / (signMs / 1000))} records/s (${((signMs * 1000) / records.length).toFixed(1)} µs each); ` +
    `verify: ${Math.round(records.length / (verifyMs / 1000))} records/s`);
});

test('a signed record is a copy: changing the input afterwards does not break its signature', async (t) => {
  const keyring = openKeyring(path.join(tempDir(t), 'keys'));
  const input = activity(1);
  const record = new ChainSigner(keyring, { chainId: 'c' }).sign(input);
  input.steps[0]!.status = 'failed';
  (input.memory as Record<string, unknown>)['n'] = 99;
  assert.equal((await verifyRecords([record], keyring)).ok, 1);
});

test('the signer refuses a record that does not fit the schema, and the chain does not advance', (t) => {
  const keyring = openKeyring(path.join(tempDir(t), 'keys'));
  const signer = new ChainSigner(keyring, { chainId: 'c' });
  assert.throws(() => signer.sign({ ...activity(1), status: 'bogus' } as unknown as UnsignedActivity), /does not fit the record schema/);
  assert.equal(signer.sign(activity(1)).seq, 1);
});

test('one changed byte in one field is reported as altered at that seq, and only there', async (t) => {
  const keyring = openKeyring(path.join(tempDir(t), 'keys'));
  const records = signMany(new ChainSigner(keyring, { chainId: 'c' }), 100);
  const victim = records[41]!;
  records[41] = { ...victim, destination: 'tickes' }; // ticket → tickes: one byte
  const report = await verifyRecords(records, keyring);
  assert.deepEqual(kinds(report), [{ kind: 'altered', seq: 42 }]);
  assert.equal(report.problems[0]!.id, victim.id);
  assert.equal(report.ok, 99);
});

test('a malformed signature is reported as bad_signature', async (t) => {
  const keyring = openKeyring(path.join(tempDir(t), 'keys'));
  const records = signMany(new ChainSigner(keyring, { chainId: 'c' }), 3);
  records[1] = { ...records[1]!, signature: 'not-a-signature' };
  assert.deepEqual(kinds(await verifyRecords(records, keyring)), [{ kind: 'bad_signature', seq: 2 }]);
});

test('a record deleted from the middle is reported as missing before the next one, naming the gap', async (t) => {
  const keyring = openKeyring(path.join(tempDir(t), 'keys'));
  const records = signMany(new ChainSigner(keyring, { chainId: 'c' }), 100);
  records.splice(49, 1); // seq 50
  const report = await verifyRecords(records, keyring);
  assert.deepEqual(kinds(report), [{ kind: 'missing_before', seq: 51 }]);
  assert.match(report.problems[0]!.detail, /follows seq 49: 1 record \(seq 50\) missing/);
  records.splice(0, 3); // seq 1–3
  assert.deepEqual(kinds(await verifyRecords(records, keyring)), [{ kind: 'missing_before', seq: 4 }, { kind: 'missing_before', seq: 51 }]);
  // A log whose oldest files retention deleted may start past seq 1; a gap further on is still reported.
  assert.deepEqual(kinds(await verifyRecords(records, keyring, { startMayBePruned: true })), [{ kind: 'missing_before', seq: 51 }]);
});

test('a record replaced by another validly signed one is reported by the broken link', async (t) => {
  const keyring = openKeyring(path.join(tempDir(t), 'keys'));
  const records = signMany(new ChainSigner(keyring, { chainId: 'c' }), 5);
  // A forger with the key re-signs seq 3 with other content, but cannot fix seq 4's prev_hash without re-signing it too.
  const forged = new ChainSigner(keyring, { chainId: 'c', lastRecord: records[1]! }).sign({ ...activity(3), status: 'failed' });
  records[2] = forged;
  const report = await verifyRecords(records, keyring);
  assert.deepEqual(kinds(report), [{ kind: 'missing_before', seq: 4 }]);
  assert.match(report.problems[0]!.detail, /prev_hash does not match the stored seq 3/);
});

test('moved and duplicated records are out_of_order; a removed last record is not detectable but shows in the chain summary', async (t) => {
  const keyring = openKeyring(path.join(tempDir(t), 'keys'));
  const records = signMany(new ChainSigner(keyring, { chainId: 'c' }), 5);
  const report = await verifyRecords([...records, records[4]!, records[1]!], keyring);
  assert.deepEqual(kinds(report), [{ kind: 'out_of_order', seq: 5 }, { kind: 'out_of_order', seq: 2 }]);
  assert.match(report.problems[0]!.detail, /appears twice/);
  const truncated = await verifyRecords(records.slice(0, 4), keyring);
  assert.deepEqual(truncated.problems, []);
  assert.equal(truncated.chains[0]!.last_seq, 4); // an external anchor saying 5 would reveal the loss
});

test('interleaved chains are checked each on its own', async (t) => {
  const keyring = openKeyring(path.join(tempDir(t), 'keys'));
  const a = signMany(new ChainSigner(keyring, { chainId: 'a' }), 3);
  const b = signMany(new ChainSigner(keyring, { chainId: 'b' }), 3);
  const report = await verifyRecords([a[0]!, b[0]!, b[1]!, a[1]!, a[2]!, b[2]!], keyring);
  assert.deepEqual(report.problems, []);
  assert.deepEqual(report.chains.map((c) => [c.chain_id, c.last_seq]), [['a', 3], ['b', 3]]);
});

test('records signed before and after a key rotation all verify', async (t) => {
  const keyring = openKeyring(path.join(tempDir(t), 'keys'));
  const signer = new ChainSigner(keyring, { chainId: 'c' });
  const before = signMany(signer, 10);
  keyring.rotate();
  const after = signMany(signer, 10, 11);
  assert.notEqual(before[0]!.key_id, after[0]!.key_id);
  const report = await verifyRecords([...before, ...after], openKeyring(keyring.dir, { create: false }));
  assert.deepEqual(report.problems, []);
  assert.equal(report.ok, 20);
});

test('records whose public key is gone from the ring are unknown_key, and the chain goes on after them', async (t) => {
  const keyring = openKeyring(path.join(tempDir(t), 'keys'));
  const signer = new ChainSigner(keyring, { chainId: 'c' });
  const before = signMany(signer, 3);
  keyring.rotate();
  const after = signMany(signer, 3, 4);
  unlinkSync(path.join(keyring.dir, 'public', `${before[0]!.key_id}.pem`));
  const report = await verifyRecords([...before, ...after], openKeyring(keyring.dir, { create: false }));
  assert.deepEqual(kinds(report), [{ kind: 'unknown_key', seq: 1 }, { kind: 'unknown_key', seq: 2 }, { kind: 'unknown_key', seq: 3 }]);
  assert.equal(report.ok, 3);
});

test('a chain resumed after a restart from its last stored record verifies end to end', async (t) => {
  const dir = path.join(tempDir(t), 'keys');
  const first = signMany(new ChainSigner(openKeyring(dir), { chainId: 'c' }), 50);
  // "Restart": a new keyring and signer, given only the last stored record.
  const resumed = new ChainSigner(openKeyring(dir), { chainId: 'c', lastRecord: first.at(-1)! });
  assert.equal(resumed.seq, 50);
  const second = signMany(resumed, 50, 51);
  assert.equal(second[0]!.seq, 51);
  const report = await verifyRecords([...first, ...second], openKeyring(dir));
  assert.deepEqual(report.problems, []);
  assert.equal(report.ok, 100);
  assert.throws(() => new ChainSigner(openKeyring(dir), { chainId: 'other', lastRecord: first[0]! }), /cannot resume chain other/);
});

test('an object that is not a record is invalid', async (t) => {
  const keyring = openKeyring(path.join(tempDir(t), 'keys'));
  const records = signMany(new ChainSigner(keyring, { chainId: 'c' }), 3);
  const broken = { ...records[1]!, status: 'bogus' } as unknown as ActivityRecord;
  const report = await verifyRecords([records[0]!, broken, records[2]!], keyring);
  assert.deepEqual(kinds(report), [{ kind: 'invalid', seq: 2 }]);
  assert.match(report.problems[0]!.detail, /status/);
});

// --- JSON Lines files ---

test('a JSON Lines log with rotated files reads oldest first and reports a tampered and a broken line', async (t) => {
  const dir = tempDir(t);
  const keyring = openKeyring(path.join(dir, 'keys'));
  const records = signMany(new ChainSigner(keyring, { chainId: 'c' }), 9);
  const file = path.join(dir, 'activities.jsonl');
  const lines = records.map((r) => JSON.stringify(r));
  // Tamper the text of seq 5 as someone editing the file would.
  lines[4] = lines[4]!.replace('"org_id":201', '"org_id":202');
  // Seq 8 lost its tail (a crash mid-line), then the writer went on.
  lines[7] = lines[7]!.slice(0, -20);
  writeFileSync(`${file}.2`, lines.slice(0, 3).join('\n') + '\n');
  writeFileSync(`${file}.1`, [...lines.slice(3, 5), 'garbage', ...lines.slice(5, 6)].join('\n') + '\n\n');
  writeFileSync(file, lines.slice(6).join('\r\n') + '\n');
  writeFileSync(`${file}.bak`, 'ignored\n');

  assert.deepEqual(await activityFiles(file), [`${file}.2`, `${file}.1`, file]);
  const items: Array<ActivityRecord | UnreadableRecord> = [];
  for await (const item of readJsonl(file)) items.push(item);
  assert.equal(items.length, 10);
  assert.ok(items[8] instanceof UnreadableRecord);
  assert.equal((items[8] as UnreadableRecord).where, 'activities.jsonl:2');

  const report = await verifyRecords(readJsonl(file), keyring);
  // The cut line still shows its seq and chain, so seq 9 is not also reported as following a gap.
  assert.deepEqual(kinds(report), [{ kind: 'altered', seq: 5 }, { kind: 'invalid', seq: null }, { kind: 'invalid', seq: 8 }]);
  assert.match(report.problems[1]!.detail, /^activities\.jsonl\.1:3: not JSON/);
  assert.match(report.problems[2]!.detail, /^activities\.jsonl:2: not JSON/);
  assert.equal(report.checked, 10);
  assert.equal(report.ok, 7);

  // A line cut so short that nothing identifies it: the record after it names the gap.
  writeFileSync(file, [lines[6], lines[7]!.slice(0, 30), lines[8]].join('\n') + '\n');
  const short = await verifyRecords(readJsonl(file), keyring);
  assert.deepEqual(kinds(short).slice(-2), [{ kind: 'invalid', seq: null }, { kind: 'missing_before', seq: 9 }]);
  assert.match(short.problems.at(-1)!.detail, /1 record \(seq 8\) missing/);

  // The untouched records parse back to what was signed.
  const first = items[0] as ActivityRecord;
  assert.deepEqual(first, JSON.parse(JSON.stringify(records[0])));
});

test('readJsonl names a missing log instead of reporting it as empty', async (t) => {
  const file = path.join(tempDir(t), 'activities.jsonl');
  await assert.rejects(async () => {
    for await (const _ of readJsonl(file)) void _;
  }, /no activity file at .*activities\.jsonl/);
});

test('canonical members joined are the canonical object, and a member added lands in its sorted place', () => {
  const value = { b: [1, { d: 2, c: 'x' }], a: 'é', z: null, u: undefined };
  const members = canonicalMembers(value);
  assert.equal(joinMembers(members), canonicalJson(value));
  assert.equal(joinMembers(withMember(members, canonicalMember('m', 4.5))), canonicalJson({ ...value, m: 4.5 }));
  assert.equal(joinMembers(withMember(members, canonicalMember('zz', true))), canonicalJson({ ...value, zz: true }));
  assert.equal(joinMembers(withMember([], canonicalMember('a', 1))), '{"a":1}');
});

test('the stored text of a signed record is the text it was signed as, even if the record object is changed later', (t) => {
  const keyring = openKeyring(path.join(tempDir(t), 'keys'));
  const record = new ChainSigner(keyring, { chainId: 'c' }).sign(activity(1));
  const text = canonicalRecordText(record);
  assert.equal(text, canonicalJson(record));
  record.destination = 'changed';
  assert.equal(canonicalRecordText(record), text);
  // A record that was not signed here is serialised as it is.
  assert.equal(canonicalRecordText({ ...record }), canonicalJson({ ...record }));
});

test('record and execution ids are UUID v7: version 7, RFC variant, later ids sort after earlier ones', () => {
  const early = uuidv7(Date.UTC(2026, 0, 1));
  const late = uuidv7(Date.UTC(2026, 0, 1) + 1);
  for (const id of [early, late, uuidv7()]) assert.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  assert.ok(early < late);
  assert.equal(early.slice(0, 13).replace('-', ''), Date.UTC(2026, 0, 1).toString(16).padStart(12, '0'));
  assert.notEqual(uuidv7(5), uuidv7(5));
});
