import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { build, testProcessor, type ProcessorKit } from '../../lib/testing/index.js';
import { startInventory } from '../../test/support/external/inventory.js';
import { parseCsv } from './csv.js';
import processor from './index.js';

type Artifact = {
  id: number;
  type: number;
  value: string;
  description: string | null;
  inc_id: number;
};

const HEADER = 'ip,hostname,owner,location,criticality';

/** Adds an artifact on the platform and builds the message the automatic action would send for it. */
async function ipArtifact(kit: ProcessorKit, value: string, description?: string): Promise<{ artifact: Artifact; message: ReturnType<typeof build.message> }> {
  const artifact = await kit.rest.post<Artifact>('/incidents/2095/artifacts', { type: 'IP Address', value, ...(description ? { description } : {}) });
  return { artifact, message: build.message({ incident: build.incident({ id: 2095 }), artifact }) };
}

function stored(kit: ProcessorKit, id: number): Artifact {
  return kit.emulator.store.artifact(2095, id) as Artifact;
}

let dir: string;
before(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'asset-inventory-'));
});
after(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('asset-inventory: CSV (the default)', () => {
  let kit: ProcessorKit;
  before(async () => {
    // No settings at all: the sample assets.csv shipped with the processor.
    kit = await testProcessor(processor);
  });
  after(async () => {
    await kit?.close();
  });

  test('writes what the inventory knows into the description, keeping the analyst\'s text', async () => {
    const { artifact, message } = await ipArtifact(kit, '10.1.2.3', 'Source of the successful login');
    const run = await kit.run('Look Up Asset', message);
    assert.equal(run.status, 'completed', run.message);
    assert.equal(run.message, "10.1.2.3 is jump-host-02.corp.example (owner IT Operations); added to the artifact's description");
    assert.deepEqual(run.results, {
      ip: '10.1.2.3',
      found: true,
      updated: true,
      asset: { ip: '10.1.2.3', hostname: 'jump-host-02.corp.example', owner: 'IT Operations', location: 'Frankfurt, DC1', criticality: 'High' },
    });
    assert.equal(
      stored(kit, artifact.id).description,
      'Source of the successful login\n\n[asset-inventory]\nHost: jump-host-02.corp.example\nOwner: IT Operations\nLocation: Frankfurt, DC1\nCriticality: High\n[/asset-inventory]',
    );
    const put = run.calls.filter((c) => c.method === 'PUT');
    assert.deepEqual(put.map((c) => c.path), [`/rest/orgs/201/incidents/2095/artifacts/${artifact.id}`]);
    assert.ok(run.calls.every((c) => c.contextToken === run.contextToken), 'every REST call carried the context token');
  });

  test('running again makes no write and adds no second block', async () => {
    const { artifact, message } = await ipArtifact(kit, '10.1.2.10');
    const first = await kit.run('Look Up Asset', message);
    assert.equal(first.status, 'completed', first.message);
    const after = stored(kit, artifact.id).description;
    const second = await kit.run('Look Up Asset', message);
    assert.equal(second.status, 'completed', second.message);
    assert.equal(second.message, "10.1.2.10 is web-01.corp.example (owner Web Team); the artifact's description already says so");
    assert.equal(second.calls.filter((c) => c.method === 'PUT').length, 0);
    assert.equal(stored(kit, artifact.id).description, after);
    assert.equal(after?.match(/\[asset-inventory\]/g)?.length, 1);
  });

  test('an address the inventory does not know is a success that says so, with no write', async () => {
    const { artifact, message } = await ipArtifact(kit, '203.0.113.77', 'Seen in the proxy log');
    const run = await kit.run('Look Up Asset', message);
    assert.equal(run.status, 'completed', run.message);
    assert.match(run.message, /^203\.0\.113\.77 is not in the asset inventory \(CSV file .*assets\.csv\)$/);
    assert.deepEqual(run.results, { ip: '203.0.113.77', found: false });
    assert.equal(run.calls.filter((c) => c.method === 'PUT').length, 0);
    assert.equal(stored(kit, artifact.id).description, 'Seen in the proxy log');
  });

  test('reads the artifact from the platform when the message carries only its id', async () => {
    const { artifact } = await ipArtifact(kit, '192.168.50.5');
    const run = await kit.run('Look Up Asset', build.message({ artifact: { id: artifact.id, inc_id: 2095 } }));
    assert.equal(run.status, 'completed', run.message);
    assert.ok(run.calls.some((c) => c.method === 'GET' && c.path.endsWith(`/artifacts/${artifact.id}`) && c.contextToken === run.contextToken));
    assert.match(stored(kit, artifact.id).description ?? '', /Host: backup-nas-01\.corp\.example/);
  });

  test('an artifact that is not an IP address is refused with a clear error', async () => {
    const dns = await kit.rest.post<Artifact>('/incidents/2095/artifacts', { type: 'DNS Name', value: 'evil.example.com' });
    const run = await kit.run('Look Up Asset', build.message({ artifact: dns }));
    assert.equal(run.status, 'error');
    assert.equal(run.message, `Look Up Asset runs on IP Address artifacts; artifact ${dns.id} is a DNS Name`);
    const bad = await kit.rest.post<Artifact>('/incidents/2095/artifacts', { type: 'IP Address', value: 'not-an-ip' });
    const run2 = await kit.run('Look Up Asset', build.message({ artifact: bad }));
    assert.equal(run2.status, 'error');
    assert.equal(run2.message, `artifact ${bad.id} holds "not-an-ip", which is not an IP address`);
  });
});

describe('asset-inventory: a CSV file of the organisation', () => {
  test('replaces its block when the inventory changes, and reads the file again when it changes', async () => {
    const file = path.join(dir, 'assets.csv');
    writeFileSync(file, `${HEADER}\n10.9.9.9,db-01,DBA team,DC1,High\n`);
    const kit = await testProcessor(processor, { settings: { path: file } });
    try {
      const { artifact, message } = await ipArtifact(kit, '10.9.9.9', 'Beaconing');
      assert.equal((await kit.run('Look Up Asset', message)).status, 'completed');
      writeFileSync(file, `${HEADER}\n10.9.9.9,db-01,Platform team,DC2,Critical,extra column ignored\n`);
      const run = await kit.run('Look Up Asset', message);
      assert.equal(run.status, 'completed', run.message);
      assert.equal(stored(kit, artifact.id).description, 'Beaconing\n\n[asset-inventory]\nHost: db-01\nOwner: Platform team\nLocation: DC2\nCriticality: Critical\n[/asset-inventory]');
    } finally {
      await kit.close();
    }
  });

  test('a missing file or a file without an ip column is an error naming the file', async () => {
    const missing = path.join(dir, 'nope.csv');
    const headerless = path.join(dir, 'headerless.csv');
    writeFileSync(headerless, 'address,host\n10.1.1.1,x\n');
    for (const [file, expected] of [
      [missing, /^asset inventory \(CSV file .*nope\.csv\) could not be read: ENOENT/],
      [headerless, /^asset inventory \(CSV file .*headerless\.csv\) has no "ip" column in its header row/],
    ] as const) {
      const kit = await testProcessor(processor, { settings: { source: 'csv', path: file } });
      try {
        const { message } = await ipArtifact(kit, '10.1.1.1');
        const run = await kit.run('Look Up Asset', message);
        assert.equal(run.status, 'error');
        assert.match(run.message, expected);
      } finally {
        await kit.close();
      }
    }
  });

  test('the CSV reader handles quotes, commas, CRLF and blank lines', () => {
    assert.deepEqual(parseCsv('\ufeffip,location\r\n10.1.2.3,"Frankfurt, ""DC1"""\r\n\r\n10.1.2.4,"two\nlines"'), [
      ['ip', 'location'],
      ['10.1.2.3', 'Frankfurt, "DC1"'],
      ['10.1.2.4', 'two\nlines'],
    ]);
  });
});

describe('asset-inventory: SQLite', () => {
  let file: string;
  before(() => {
    file = path.join(dir, 'assets.db');
    const db = new Database(file);
    db.exec(`CREATE TABLE assets (ip TEXT PRIMARY KEY, hostname TEXT, owner TEXT, location TEXT, criticality TEXT)`);
    db.prepare('INSERT INTO assets VALUES (?, ?, ?, ?, ?)').run('10.20.0.7', 'mail-gw-01', 'Messaging', 'London', 'High');
    db.prepare('INSERT INTO assets VALUES (?, ?, ?, ?, ?)').run('10.20.0.8', 'printer-3', null, null, null);
    db.close();
  });

  test('finds the address in table assets and writes it into the description', async () => {
    const kit = await testProcessor(processor, { settings: { source: 'sqlite', path: file } });
    try {
      const { artifact, message } = await ipArtifact(kit, '10.20.0.7');
      const run = await kit.run('Look Up Asset', message);
      assert.equal(run.status, 'completed', run.message);
      assert.equal(stored(kit, artifact.id).description, '[asset-inventory]\nHost: mail-gw-01\nOwner: Messaging\nLocation: London\nCriticality: High\n[/asset-inventory]');
      const sparse = await ipArtifact(kit, '10.20.0.8');
      assert.equal((await kit.run('Look Up Asset', sparse.message)).status, 'completed');
      assert.equal(stored(kit, sparse.artifact.id).description, '[asset-inventory]\nHost: printer-3\n[/asset-inventory]');
      const unknown = await ipArtifact(kit, '10.20.0.99');
      const miss = await kit.run('Look Up Asset', unknown.message);
      assert.equal(miss.status, 'completed');
      assert.match(miss.message, /^10\.20\.0\.99 is not in the asset inventory \(SQLite file .*assets\.db\)$/);
    } finally {
      await kit.close();
    }
  });

  test('a missing database or table is an error naming the file', async () => {
    const empty = path.join(dir, 'empty.db');
    new Database(empty).close();
    for (const [target, expected] of [
      [path.join(dir, 'missing.db'), /^asset inventory \(SQLite file .*missing\.db\) could not be searched: .*(does not exist|unable to open)/i],
      [empty, /^asset inventory \(SQLite file .*empty\.db\) could not be searched: .*no such table: assets/],
    ] as const) {
      const kit = await testProcessor(processor, { settings: { source: 'sqlite', path: target } });
      try {
        const { message } = await ipArtifact(kit, '10.20.0.7');
        const run = await kit.run('Look Up Asset', message);
        assert.equal(run.status, 'error');
        assert.match(run.message, expected);
      } finally {
        await kit.close();
      }
    }
  });

  test('source sqlite needs a path; source http needs a url and a token', () => {
    const check = (section: unknown) => {
      const parsed = processor.settings!.safeParse(section);
      return parsed.success ? 'ok' : parsed.error.issues.map((i) => i.path.join('.')).join(',');
    };
    assert.equal(check({ source: 'sqlite' }), 'path');
    assert.equal(check({ source: 'http' }), 'url,token');
    assert.equal(check({ source: 'ldap' }), 'source');
    assert.equal(check({}), 'ok');
  });
});

describe('asset-inventory: HTTP API', () => {
  let inventory: Awaited<ReturnType<typeof startInventory>>;
  let kit: ProcessorKit;
  before(async () => {
    inventory = await startInventory([{ ip: '172.16.4.4', hostname: 'vpn-01', owner: 'Network', location: 'Paris', criticality: 'High' }]);
    kit = await testProcessor(processor, { settings: { source: 'http', url: inventory.url, token: inventory.token } });
  });
  after(async () => {
    await kit?.close();
    await inventory?.stop();
  });

  test('asks GET /assets?ip= with the bearer token and writes the answer', async () => {
    const { artifact, message } = await ipArtifact(kit, '172.16.4.4');
    const run = await kit.run('Look Up Asset', message);
    assert.equal(run.status, 'completed', run.message);
    const [request] = inventory.received('GET', '/assets');
    assert.deepEqual(request?.query, { ip: '172.16.4.4' });
    assert.equal(request?.headers.authorization, `Bearer ${inventory.token}`);
    assert.match(stored(kit, artifact.id).description ?? '', /Host: vpn-01\nOwner: Network\nLocation: Paris\nCriticality: High/);
    assert.ok(run.calls.every((c) => c.contextToken === run.contextToken));
  });

  test('404 means "not in the inventory": a success', async () => {
    const { message } = await ipArtifact(kit, '172.16.4.5');
    const run = await kit.run('Look Up Asset', message);
    assert.equal(run.status, 'completed', run.message);
    assert.equal(run.message, `172.16.4.5 is not in the asset inventory (API ${inventory.url})`);
  });

  test('an inventory answering 502 or closing connections is an error naming it; the artifact is untouched', async () => {
    const { artifact, message } = await ipArtifact(kit, '172.16.4.4', 'keep me');
    inventory.failing(502, 1);
    const run = await kit.run('Look Up Asset', message);
    assert.equal(run.status, 'error');
    assert.equal(run.message, `asset inventory at ${inventory.url} refused the lookup of 172.16.4.4: HTTP 502 Bad Gateway: inventory is having trouble (fault injected)`);
    inventory.down();
    try {
      const down = await kit.run('Look Up Asset', message);
      assert.equal(down.status, 'error');
      assert.equal(down.message, `asset inventory at ${inventory.url} could not be reached: ECONNRESET`);
    } finally {
      inventory.up();
    }
    assert.equal(stored(kit, artifact.id).description, 'keep me');
  });
});
