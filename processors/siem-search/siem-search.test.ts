import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { build, testProcessor, type ProcessorKit } from '../../lib/testing/index.js';
import { closedPortUrl, FakeApi } from '../../test/support/external/fake-api.js';
import { startSiem, type SiemEvent } from '../../test/support/external/siem.js';
import processor from './index.js';

type Artifact = {
  id: number;
  type: number;
  value: string;
  inc_id: number;
};

const HOUR = 3_600_000;

function events(now: number): SiemEvent[] {
  const at = (ago: number) => new Date(now - ago).toISOString();
  const dns = (i: number): SiemEvent => ({ _time: at(i * 60_000), host: `ws-${i}`, source: 'dns', message: `query evil.example.com from ws-${i}` });
  return [
    ...Array.from({ length: 7 }, (_, i) => dns(i + 1)),
    { _time: at(2 * HOUR), host: 'proxy-1', source: 'proxy', message: `GET http://evil.example.com/<script>alert(1)</script> ${'x'.repeat(300)}` },
    { _time: at(30 * HOUR), host: 'proxy-1', source: 'proxy', message: 'evil.example.com seen yesterday (outside the window)' },
    { _time: at(5 * 60_000), host: 'fw-1', source: 'firewall', message: 'deny 10.1.2.3 -> 198.51.100.7:443' },
  ];
}

async function artifact(kit: ProcessorKit, type: string, value: string): Promise<Artifact> {
  return kit.rest.post<Artifact>('/incidents/2095/artifacts', { type, value });
}

function noteText(kit: ProcessorKit, id: number): string {
  return kit.emulator.store.notes(2095).find((n) => n.id === id)!.text;
}

describe('siem-search', () => {
  let siem: Awaited<ReturnType<typeof startSiem>>;
  let kit: ProcessorKit;
  before(async () => {
    siem = await startSiem(events(Date.now()));
    kit = await testProcessor(processor, { settings: { url: siem.url, token: siem.token } });
  });
  after(async () => {
    await kit?.close();
    await siem?.stop();
  });

  test('searches the last 24 h for the DNS name and adds one note with the count and the first 5 rows', async () => {
    const dns = await artifact(kit, 'DNS Name', 'evil.example.com');
    const notesBefore = kit.emulator.store.notes(2095).length;
    const started = Date.now();
    const run = await kit.run('SIEM Search', build.message({ incident: build.incident({ id: 2095 }), artifact: dns }));
    assert.equal(run.status, 'completed', run.message);
    assert.equal(run.message, 'SIEM search for evil.example.com (last 24 h): 8 hits');

    const [request] = siem.received('POST', '/api/search');
    assert.equal(request?.headers.authorization, `Bearer ${siem.token}`);
    const body = request?.body as { query: string; earliest: string; latest: string; limit: number };
    assert.equal(body.query, 'evil.example.com');
    assert.equal(body.limit, 100);
    const window = Date.parse(body.latest) - Date.parse(body.earliest);
    assert.equal(window, 24 * HOUR);
    assert.ok(Date.parse(body.latest) >= started - 1000 && Date.parse(body.latest) <= Date.now());

    const notes = kit.emulator.store.notes(2095);
    assert.equal(notes.length, notesBefore + 1, 'exactly one note');
    const results = run.results as { query: string; hits: number; shown: number; note_id: number };
    assert.deepEqual({ ...results, note_id: undefined }, { query: 'evil.example.com', hits: 8, shown: 5, note_id: undefined });
    const text = noteText(kit, results.note_id);
    assert.match(text, /^<p><b>SIEM search for evil\.example\.com \(last 24 h\): 8 hits<\/b><\/p><table>/);
    assert.equal(text.match(/<tr>/g)?.length, 6, 'a header row and 5 event rows');
    assert.match(text, /<p>First 5 of 8 shown; the rest are in the SIEM\.<\/p>$/);
    const post = run.calls.find((c) => c.method === 'POST' && c.path === '/rest/orgs/201/incidents/2095/comments');
    assert.equal((post?.body as { text: { format: string } }).text.format, 'html');
    assert.ok(run.calls.every((c) => c.contextToken === run.contextToken), 'every REST call carried the context token');
  });

  test('log text is escaped and shortened in the note', async () => {
    const kit2 = await testProcessor(processor, { settings: { url: siem.url, token: siem.token, max_rows: 50 } });
    try {
      const dns = await artifact(kit2, 'DNS Name', 'evil.example.com');
      const run = await kit2.run('SIEM Search', build.message({ artifact: dns }));
      assert.equal(run.status, 'completed', run.message);
      const text = kit2.emulator.store.notes(2095).at(-1)!.text;
      assert.ok(!text.includes('<script>'), 'no markup from the logs');
      assert.match(text, /&lt;script&gt;alert\(1\)&lt;\/script&gt; x+…<\/td>/);
      assert.ok(!text.includes('First '), 'every hit is shown');
    } finally {
      await kit2.close();
    }
  });

  test('an IP address with one hit; the window and the number of rows come from the settings', async () => {
    const kit2 = await testProcessor(processor, { settings: { url: siem.url, token: siem.token, window_hours: 1, max_rows: 1 } });
    try {
      const ip = await artifact(kit2, 'IP Address', '10.1.2.3');
      const run = await kit2.run('SIEM Search', build.message({ artifact: ip }));
      assert.equal(run.status, 'completed', run.message);
      assert.equal(run.message, 'SIEM search for 10.1.2.3 (last 1 h): 1 hit');
      const body = siem.received('POST', '/api/search').at(-1)?.body as { earliest: string; latest: string };
      assert.equal(Date.parse(body.latest) - Date.parse(body.earliest), HOUR);
    } finally {
      await kit2.close();
    }
  });

  test('no hits gives a note saying so', async () => {
    const dns = await artifact(kit, 'DNS Name', 'quiet.example.org');
    const run = await kit.run('SIEM Search', build.message({ artifact: dns }));
    assert.equal(run.status, 'completed', run.message);
    assert.equal(run.message, 'SIEM search for quiet.example.org (last 24 h): 0 hits');
    const text = noteText(kit, (run.results as { note_id: number }).note_id);
    assert.equal(text, '<p><b>SIEM search for quiet.example.org (last 24 h): 0 hits</b></p><p>No log events mention it in that time.</p>');
  });

  test('reads the artifact when the message has only its id; other artifact types are refused', async () => {
    const dns = await artifact(kit, 'DNS Name', 'evil.example.com');
    const run = await kit.run('SIEM Search', build.message({ artifact: { id: dns.id, inc_id: 2095 } }));
    assert.equal(run.status, 'completed', run.message);
    assert.ok(run.calls.some((c) => c.method === 'GET' && c.path.endsWith(`/artifacts/${dns.id}`)));

    const url = await artifact(kit, 'URL', 'http://evil.example.com/x');
    const refused = await kit.run('SIEM Search', build.message({ artifact: url }));
    assert.equal(refused.status, 'error');
    assert.equal(refused.message, `SIEM Search runs on DNS Name and IP Address artifacts; artifact ${url.id} is a URL`);
  });

  test('a SIEM answering 503 is an error naming it; no note is added', async () => {
    const dns = await artifact(kit, 'DNS Name', 'evil.example.com');
    const notes = kit.emulator.store.notes(2095).length;
    siem.failing(503, 1);
    const run = await kit.run('SIEM Search', build.message({ artifact: dns }));
    assert.equal(run.status, 'error');
    assert.equal(run.message, `SIEM at ${siem.url} refused the search for evil.example.com: HTTP 503 Service Unavailable: siem is having trouble (fault injected)`);
    assert.equal(kit.emulator.store.notes(2095).length, notes);
  });

  test('a SIEM that answers something other than search results is an error saying so', async () => {
    const odd = await FakeApi.start('odd-siem', [{ method: 'POST', path: '/api/search', handle: () => ({ body: { hits: 3 } }) }]);
    const kit2 = await testProcessor(processor, { settings: { url: odd.url, token: odd.token } });
    try {
      const run = await kit2.run('SIEM Search', build.message({ artifact: await artifact(kit2, 'DNS Name', 'evil.example.com') }));
      assert.equal(run.status, 'error');
      assert.match(run.message, new RegExp(`^SIEM at ${odd.url} answered the search for evil\\.example\\.com with an unexpected body \\(results: `));
    } finally {
      await kit2.close();
      await odd.stop();
    }
  });

  test('a SIEM that is down or too slow is an error naming it', async () => {
    const dns = await artifact(kit, 'DNS Name', 'evil.example.com');
    siem.down();
    try {
      const run = await kit.run('SIEM Search', build.message({ artifact: dns }));
      assert.equal(run.message, `SIEM at ${siem.url} could not be reached: ECONNRESET`);
    } finally {
      siem.up();
    }
    const kit2 = await testProcessor(processor, { settings: { url: siem.url, token: siem.token, timeout_ms: 150 } });
    try {
      siem.slow(3_000);
      const slow = await kit2.run('SIEM Search', build.message({ artifact: await artifact(kit2, 'DNS Name', 'evil.example.com') }));
      assert.equal(slow.status, 'error');
      assert.equal(slow.message, `SIEM at ${siem.url} did not answer within 150 ms (the search for evil.example.com)`);
    } finally {
      siem.up();
      await kit2.close();
    }
  });
});

test('siem-search: a SIEM that is not listening is reported as ECONNREFUSED', async () => {
  const url = await closedPortUrl();
  const kit = await testProcessor(processor, { settings: { url, token: 't' } });
  try {
    const dns = await artifact(kit, 'DNS Name', 'evil.example.com');
    const run = await kit.run('SIEM Search', build.message({ artifact: dns }));
    assert.equal(run.status, 'error');
    assert.equal(run.message, `SIEM at ${url} could not be reached: ECONNREFUSED`);
  } finally {
    await kit.close();
  }
});
