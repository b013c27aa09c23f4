import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ExecutionCache } from '../../lib/api/execution-cache.js';
import { ActivityRecorder } from '../../lib/activity/recorder.js';
import { openKeyring } from '../../lib/activity/keyring.js';
import { ChainSigner } from '../../lib/activity/signer.js';
import type { ActivityEvent } from '../../lib/activity/record.js';
import type { Reporter } from '../../lib/activity/reporter.js';
import { build } from '../../lib/testing/index.js';
import { ActionDataSchema } from '../../lib/wire/action-data.js';

/** A recorder whose events go straight into `cache`, as the reporter would hand them over. */
function setup(options = { maxExecutions: 100, bufferSize: 100 }) {
  const dir = mkdtempSync(path.join(tmpdir(), 'cafkit-cache-'));
  const cache = new ExecutionCache(options);
  const reporter = { reportTo: (event: ActivityEvent) => void cache.deliver(event), sinkNames: () => ['api'] } as unknown as Reporter;
  const recorder = new ActivityRecorder({
    orgId: 201,
    identity: { host: 'h', version: '0' },
    signer: new ChainSigner(openKeyring(path.join(dir, 'keys')), { chainId: 'c' }),
    reporter,
    always: ['api'],
    reportMemory: false,
    encodeB64Memory: false,
  });
  return { cache, recorder, dispose: () => rmSync(dir, { recursive: true, force: true }) };
}

function begin(recorder: ActivityRecorder, n: number) {
  const execution = recorder.open('incident_ops', `invid:${n}`, new Date().toISOString());
  execution.parsed(ActionDataSchema.parse(build.message({ incident: build.incident({ id: 2000 + n }) })));
  execution.started('Add Note', 'incident-ops', ['validate', 'write']);
  return execution;
}

test('follows an execution from its events: running with its steps and replies, then the signed record', () => {
  const { cache, recorder, dispose } = setup();
  try {
    const execution = begin(recorder, 1);
    assert.deepEqual(cache.get(execution.executionId)!.steps.map((s) => [s.name, s.status]), [['validate', 'pending'], ['write', 'pending']], 'declared steps show as pending from the start');
    const step = execution.stepStarted('validate');
    let state = cache.get(execution.executionId)!;
    assert.equal(state.status, 'running');
    assert.equal(state.destination, 'incident_ops');
    assert.equal(state.action_name, 'Add Note');
    assert.deepEqual(state.object_ids, { incident: 2001 });
    assert.deepEqual(state.steps.map((s) => [s.name, s.status]), [['validate', 'running'], ['write', 'pending']], 'a step runs, the next is still pending');
    execution.stepEnded(step, { output: { ok: true } });
    execution.replied({ message_type: 0, message: 'done', complete: true });
    recorder.close(execution, 'succeeded', null);
    state = cache.get(execution.executionId)!;
    assert.equal(state.status, 'succeeded');
    assert.deepEqual(state.steps.map((s) => [s.name, s.status]), [['validate', 'succeeded'], ['write', 'pending']]);
    assert.equal(state.replies.length, 1);
    assert.equal(state.record?.seq, 1);
  } finally {
    dispose();
  }
});

test('the feed numbers events; since(cursor) gives what came after, and says gap when the buffer no longer has it', () => {
  const { cache, recorder, dispose } = setup({ maxExecutions: 100, bufferSize: 5 });
  try {
    const start = cache.cursor;
    const seen: string[] = [];
    const off = cache.subscribe((entry) => seen.push(entry.event.kind));
    const first = begin(recorder, 1); // received, started
    const mark = cache.cursor;
    recorder.close(first, 'succeeded', null); // completed
    assert.deepEqual(cache.since(mark).entries.map((e) => e.event.kind), ['completed']);
    assert.equal(cache.since(mark).gap, false);
    off();
    for (let n = 2; n <= 4; n++) recorder.close(begin(recorder, n), 'failed', 'x'); // 9 more events
    assert.deepEqual(seen, ['received', 'started', 'completed'], 'unsubscribed listeners get nothing more');
    assert.equal(cache.since(start).gap, true, 'the start is older than the 5 kept');
    assert.equal(cache.since(start).entries.length, 5);
    assert.equal(cache.since('another-boot:3').gap, true, 'a cursor of another process');
    assert.equal(cache.since(cache.cursor).entries.length, 0);
  } finally {
    dispose();
  }
});

test('keeps at most maxExecutions, dropping the oldest finished ones before running ones', () => {
  const { cache, recorder, dispose } = setup({ maxExecutions: 3, bufferSize: 100 });
  try {
    const running = begin(recorder, 1);
    const done = [2, 3, 4].map((n) => {
      const e = begin(recorder, n);
      recorder.close(e, 'succeeded', null);
      return e.executionId;
    });
    assert.ok(cache.get(running.executionId), 'the running one stays');
    assert.equal(cache.get(done[0]!), undefined, 'the oldest finished one went');
    assert.deepEqual(cache.newestFirst().map((s) => s.execution_id), [done[2], done[1], running.executionId]);
  } finally {
    dispose();
  }
});
