import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { build, testProcessor, type ProcessorKit } from '../../lib/testing/index.js';
import { closedPortUrl } from '../../test/support/external/fake-api.js';
import { startSandbox } from '../../test/support/external/sandbox.js';
import processor from './index.js';

type Artifact = {
  id: number;
  type: number;
  value: string;
  description: string | null;
  inc_id: number;
};

const MZ = Buffer.from('4d5a90000300000004000000ffff0000b8000000', 'hex');
const FAST = { poll_ms: 10, progress_ms: 60_000, deadline_ms: 10_000 };

async function sample(kit: ProcessorKit, name: string, bytes: Buffer, description?: string): Promise<Artifact> {
  return kit.rest.post<Artifact>('/incidents/2095/artifacts/files', { type: 'Malware Sample', value: name, content_base64: bytes.toString('base64'), ...(description ? { description } : {}) });
}

const detonate = (artifact: Artifact) => build.message({ incident: build.incident({ id: 2095 }), artifact: { id: artifact.id, inc_id: artifact.inc_id } });

function description(kit: ProcessorKit, id: number): string | null {
  return kit.emulator.store.artifact(2095, id).description;
}

describe('sandbox', () => {
  let sandbox: Awaited<ReturnType<typeof startSandbox>>;
  let kit: ProcessorKit;
  before(async () => {
    sandbox = await startSandbox();
    kit = await testProcessor(processor, { settings: { url: sandbox.url, token: sandbox.token, ...FAST } });
  });
  after(async () => {
    await kit?.close();
    await sandbox?.stop();
  });

  test('downloads the file, submits it, polls until done, and writes the verdict into the description', async () => {
    const artifact = await sample(kit, 'invoice.exe', MZ, "Found on the user's desktop");
    const run = await kit.run('Detonate in Sandbox', detonate(artifact));
    assert.equal(run.status, 'completed', run.message);

    const [submit] = sandbox.received('POST', '/api/submissions');
    assert.equal(submit?.headers.authorization, `Bearer ${sandbox.token}`);
    const body = submit?.body as { filename: string; content_base64: string };
    assert.equal(body.filename, 'invoice.exe');
    assert.ok(Buffer.from(body.content_base64, 'base64').equals(MZ), 'the bytes arrived unchanged');
    const id = sandbox.submissions.at(-1)!.id;
    assert.equal(sandbox.received('GET', `/api/submissions/${id}`).length, 3, 'queued, running, done');

    const sha256 = createHash('sha256').update(MZ).digest('hex');
    const report = `${sandbox.url}/reports/${id}`;
    assert.equal(run.message, `invoice.exe is malicious (score 92): ${report}`);
    assert.deepEqual(run.results, { submission_id: id, verdict: 'malicious', score: 92, report_url: report, sha256 });
    assert.deepEqual(run.progress, ['Downloading invoice.exe from the platform', `Submitted invoice.exe to the sandbox as ${id}`]);
    assert.equal(
      description(kit, artifact.id),
      `Found on the user's desktop\n\n[sandbox]\nVerdict: malicious (score 92)\nReport: ${report}\nSubmission ${id} of invoice.exe (${MZ.length} bytes, SHA-256 ${sha256})\n[/sandbox]`,
    );
    assert.ok(run.calls.some((c) => c.method === 'GET' && c.path === `/rest/orgs/201/incidents/2095/artifacts/${artifact.id}/contents`));
    assert.deepEqual(run.calls.filter((c) => c.method === 'PUT').map((c) => c.path), [`/rest/orgs/201/incidents/2095/artifacts/${artifact.id}`]);
    assert.ok(run.calls.every((c) => c.contextToken === run.contextToken), 'every REST call carried the context token');
  });

  test('running again replaces the block instead of adding one', async () => {
    const artifact = await sample(kit, 'notes.txt', Buffer.from('just text'));
    assert.equal((await kit.run('Detonate in Sandbox', detonate(artifact))).status, 'completed');
    const run = await kit.run('Detonate in Sandbox', detonate(artifact));
    assert.equal(run.status, 'completed', run.message);
    assert.match(run.message, /^notes\.txt is clean \(score 3\)/);
    const text = description(kit, artifact.id) ?? '';
    assert.equal(text.match(/\[sandbox\]/g)?.length, 1);
    assert.match(text, new RegExp(`Submission ${sandbox.submissions.at(-1)!.id} of notes\\.txt`));
  });

  test('reports progress while the analysis runs', async () => {
    const slowKit = await testProcessor(processor, { settings: { url: sandbox.url, token: sandbox.token, poll_ms: 10, progress_ms: 1, deadline_ms: 10_000 } });
    sandbox.behaviour.pollsUntilDone = 4;
    try {
      const run = await slowKit.run('Detonate in Sandbox', detonate(await sample(slowKit, 'slow.exe', MZ)));
      assert.equal(run.status, 'completed', run.message);
      const still = run.progress.filter((p) => /^Still analysing \(\d+ s\)…$/.test(p));
      assert.ok(still.length >= 1, `progress was ${JSON.stringify(run.progress)}`);
    } finally {
      sandbox.behaviour.pollsUntilDone = 2;
      await slowKit.close();
    }
  });

  test('gives up at the deadline with an error naming the submission; nothing is written', async () => {
    const quick = await testProcessor(processor, { settings: { url: sandbox.url, token: sandbox.token, poll_ms: 20, deadline_ms: 150 } });
    sandbox.behaviour.pollsUntilDone = Number.POSITIVE_INFINITY;
    try {
      const artifact = await sample(quick, 'stuck.exe', MZ, 'untouched');
      const started = Date.now();
      const run = await quick.run('Detonate in Sandbox', detonate(artifact));
      const took = Date.now() - started;
      assert.equal(run.status, 'error');
      const id = sandbox.submissions.at(-1)!.id;
      assert.equal(run.message, `sandbox at ${sandbox.url} did not finish analysing stuck.exe within 150 ms (submission ${id}, last status: running)`);
      assert.ok(took >= 150 && took < 5_000, `gave up after ${took} ms`);
      assert.equal(quick.emulator.store.artifact(2095, artifact.id).description, 'untouched');
    } finally {
      sandbox.behaviour.pollsUntilDone = 2;
      await quick.close();
    }
  });

  test('an analysis that fails is an error with the sandbox\'s reason', async () => {
    sandbox.behaviour.fail = 'the VM crashed';
    try {
      const run = await kit.run('Detonate in Sandbox', detonate(await sample(kit, 'crash.exe', MZ)));
      assert.equal(run.status, 'error');
      assert.equal(run.message, `sandbox at ${sandbox.url} could not analyse crash.exe (submission ${sandbox.submissions.at(-1)!.id}): the VM crashed`);
    } finally {
      delete sandbox.behaviour.fail;
    }
  });

  test('two failed polls in a row are tolerated; a third is an error', async () => {
    sandbox.failing(503, 2, (r) => r.method === 'GET');
    const ok = await kit.run('Detonate in Sandbox', detonate(await sample(kit, 'blip.exe', MZ)));
    assert.equal(ok.status, 'completed', ok.message);

    sandbox.failing(503, 3, (r) => r.method === 'GET');
    const failed = await kit.run('Detonate in Sandbox', detonate(await sample(kit, 'outage.exe', MZ)));
    assert.equal(failed.status, 'error');
    assert.match(failed.message, new RegExp(`^sandbox at ${sandbox.url} refused the status of submission sub-\\d+: HTTP 503 Service Unavailable`));
    sandbox.up();
  });

  test('a sandbox refusing the submission (5xx) or down is an error naming it', async () => {
    const artifact = await sample(kit, 'refused.exe', MZ);
    sandbox.failing(500, 1);
    const refused = await kit.run('Detonate in Sandbox', detonate(artifact));
    assert.equal(refused.status, 'error');
    assert.equal(refused.message, `sandbox at ${sandbox.url} refused the submission of refused.exe: HTTP 500 Internal Server Error: sandbox is having trouble (fault injected)`);
    sandbox.down();
    try {
      const down = await kit.run('Detonate in Sandbox', detonate(artifact));
      assert.equal(down.message, `sandbox at ${sandbox.url} could not be reached: ECONNRESET`);
    } finally {
      sandbox.up();
    }
  });

  test('an artifact without a file, or a file over max_bytes, is refused before anything is sent', async () => {
    const mark = sandbox.requests.length;
    const ip = await kit.rest.post<Artifact>('/incidents/2095/artifacts', { type: 'IP Address', value: '10.1.2.3' });
    const run = await kit.run('Detonate in Sandbox', detonate(ip));
    assert.equal(run.status, 'error');
    assert.equal(run.message, `artifact ${ip.id} (IP Address "10.1.2.3") holds no file to detonate`);

    const small = await testProcessor(processor, { settings: { url: sandbox.url, token: sandbox.token, max_bytes: 10 } });
    try {
      const big = await kit.run('Detonate in Sandbox', detonate(await sample(kit, 'ok.exe', MZ)));
      assert.equal(big.status, 'completed');
      const tooBig = await small.run('Detonate in Sandbox', detonate(await sample(small, 'big.exe', MZ)));
      assert.equal(tooBig.status, 'error');
      assert.equal(tooBig.message, `big.exe is ${MZ.length} bytes, more than the 10 bytes the sandbox processor sends (max_bytes)`);
    } finally {
      await small.close();
    }
    assert.equal(sandbox.requests.length - mark, 4, 'only the ok.exe submission and its three polls');
  });

  test('a platform that is down is an error, and nothing reaches the sandbox', async () => {
    const artifact = await sample(kit, 'gone.exe', MZ);
    const mark = sandbox.requests.length;
    kit.emulator.setFaults({ down: true });
    try {
      const run = await kit.run('Detonate in Sandbox', detonate(artifact));
      assert.equal(run.status, 'error');
      assert.match(run.message, new RegExp(`^GET /rest/orgs/201/incidents/2095/artifacts/${artifact.id} could not reach the platform`));
    } finally {
      kit.emulator.setFaults({});
    }
    assert.equal(sandbox.requests.length, mark);
  });
});

test('sandbox: a sandbox that is not listening is reported as ECONNREFUSED', async () => {
  const url = await closedPortUrl();
  const kit = await testProcessor(processor, { settings: { url, token: 't', ...FAST } });
  try {
    const run = await kit.run('Detonate in Sandbox', detonate(await sample(kit, 'x.exe', MZ)));
    assert.equal(run.status, 'error');
    assert.equal(run.message, `sandbox at ${url} could not be reached: ECONNREFUSED`);
  } finally {
    await kit.close();
  }
});
