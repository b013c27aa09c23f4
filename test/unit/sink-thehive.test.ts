import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { CLOSED_RETENTION_MS, TheHiveCases } from '../../lib/sinks/thehive-cases.js';
import { CLOSED_STATUS } from '../../lib/sinks/thehive.js';
import { caseTags, caseTitle, markdownFacts, stepOutcome } from '../../lib/sinks/thehive-text.js';
import { silentLog, type Log } from '../../lib/log/log.js';

const dir = mkdtempSync(path.join(tmpdir(), 'cafkit-thehive-unit-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let homes = 0;
const newHome = () => path.join(dir, `home-${++homes}`);
const DAY = 24 * 60 * 60 * 1000;

function lines(home: string): Array<Record<string, unknown>> {
  return readFileSync(path.join(home, 'thehive', 'cases.jsonl'), 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l));
}

test('the case mapping survives a reopen: case id, tasks by key, done markers, minimal flag', () => {
  const home = newHome();
  const cases = TheHiveCases.open(home, silentLog);
  cases.record('exec-1', { case: '~41000', minimal: true });
  cases.record('exec-1', { tasks: { 'step:a@t1': '~41008' } });
  cases.record('exec-1', { done: ['log:step:a@t1'] });
  cases.record('exec-1', { tasks: { replies: '~41016' }, done: ['reply:x'] });
  cases.record('exec-2', { case: '~42000' });
  cases.sync();
  cases.close();
  assert.equal(lines(home).length, 5, 'one line per change');

  const reopened = TheHiveCases.open(home, silentLog);
  const state = reopened.get('exec-1')!;
  assert.equal(state.caseId, '~41000');
  assert.equal(state.minimal, true);
  assert.deepEqual(Object.fromEntries(state.tasks), { 'step:a@t1': '~41008', replies: '~41016' });
  assert.deepEqual([...state.done].sort(), ['log:step:a@t1', 'reply:x']);
  assert.equal(reopened.get('exec-2')!.caseId, '~42000');
  assert.equal(reopened.get('exec-3'), undefined);
  reopened.close();
  assert.equal(lines(home).length, 2, 'compacted to one line per execution');
});

test('compaction drops executions closed over 7 days ago; recently closed ones keep only their case id', () => {
  const home = newHome();
  const now = Date.now();
  const cases = TheHiveCases.open(home, silentLog, now);
  cases.record('old', { case: '~1', tasks: { outcome: '~2' }, closed: new Date(now - CLOSED_RETENTION_MS - DAY).toISOString() });
  cases.record('recent', { case: '~3', tasks: { outcome: '~4' }, done: ['log:outcome'], closed: new Date(now - DAY).toISOString() });
  cases.record('open', { case: '~5', tasks: { outcome: '~6' }, done: ['log:outcome'] });
  cases.close();

  const reopened = TheHiveCases.open(home, silentLog, now);
  assert.equal(reopened.get('old'), undefined);
  assert.equal(reopened.get('recent')!.caseId, '~3');
  assert.ok(reopened.get('recent')!.closedAt);
  assert.equal(reopened.get('recent')!.tasks.size, 0, 'a closed case takes no more calls');
  assert.equal(reopened.get('open')!.tasks.get('outcome'), '~6');
  assert.equal(reopened.size, 2);
  reopened.close();
  assert.deepEqual(lines(home).map((l) => l.e).sort(), ['open', 'recent']);
  assert.equal(existsSync(path.join(home, 'thehive', 'cases.jsonl.tmp')), false);
});

test('a running store compacts itself once many lines were appended, so the file and memory stay bounded', () => {
  const home = newHome();
  const now = Date.now();
  const cases = TheHiveCases.open(home, silentLog, now);
  const longAgo = new Date(now - CLOSED_RETENTION_MS - DAY).toISOString();
  // About what executions append (a case, tasks, logs, statuses, the close): past 10000 lines and 4 a case.
  for (let i = 0; i < 2_100; i++) {
    cases.record(`old-${i}`, { case: `~${i}` });
    cases.record(`old-${i}`, { tasks: { outcome: `~t${i}` } });
    cases.record(`old-${i}`, { done: ['log:outcome'] });
    cases.record(`old-${i}`, { done: ['status:outcome'] });
    cases.record(`old-${i}`, { closed: longAgo });
  }
  cases.record('open', { case: '~open', done: ['x'] });
  cases.sync(now);
  assert.equal(cases.size, 1, 'executions closed long ago are forgotten');
  assert.deepEqual(lines(home).map((l) => l.e), ['open']);
  cases.record('open', { done: ['y'] });
  cases.close();
  assert.deepEqual([...TheHiveCases.open(home, silentLog).get('open')!.done].sort(), ['x', 'y'], 'appends after the compaction land in the new file');
});

test('a torn last line (crash mid-write) is skipped with a warning; the lines before it count', () => {
  const home = newHome();
  const cases = TheHiveCases.open(home, silentLog);
  cases.record('exec-1', { case: '~7' });
  cases.close();
  appendFileSync(path.join(home, 'thehive', 'cases.jsonl'), '{"e":"exec-1","at":"2025-01-01T00:00:00.000Z","tas');
  const warnings: string[] = [];
  const log: Log = { ...silentLog, warn: (m) => warnings.push(m) };
  const reopened = TheHiveCases.open(home, log);
  assert.equal(reopened.get('exec-1')!.caseId, '~7');
  assert.equal(warnings.length, 1);
  reopened.record('exec-1', { done: ['x'] });
  reopened.close();
  assert.equal(TheHiveCases.open(home, silentLog).get('exec-1')!.done.has('x'), true, 'appends after the torn line still parse');
});

test('a case is titled by what it is about, tagged cafkit, execution, correlation (when present) and the configured tags', () => {
  assert.equal(caseTitle({ action_name: 'Add Note', action_id: 4, object_type: 'incident', object_ids: { incident: 2095 } }), 'cafkit: Add Note on incident 2095');
  assert.equal(caseTitle({ action_name: null, action_id: 4, object_type: null, object_ids: {} }), 'cafkit: action 4');
  assert.deepEqual(caseTags('e1', 'invid:3', ['soc', 'cafkit']), ['cafkit', 'execution:e1', 'correlation:invid:3', 'soc']);
  assert.deepEqual(caseTags('e1', null, []), ['cafkit', 'execution:e1']);
});

test('a step log carries its output variables as a JSON block that backticks in values cannot end, or its error', () => {
  const ok = stepOutcome({ name: 'lookup', status: 'succeeded', started_at: '2025-01-01T00:00:00.000Z', ended_at: '2025-01-01T00:00:00.120Z', output: { code: '```rm -rf```' } });
  assert.match(ok, /^Step \*\*lookup\*\* succeeded in 120 ms\./);
  const block = ok.match(/(`{4,})json\n([\s\S]*?)\n\1/);
  assert.ok(block, 'the fence is longer than any backtick run inside');
  assert.deepEqual(JSON.parse(block[2]!), { code: '```rm -rf```' });
  const failed = stepOutcome({ name: 'write', status: 'failed', error: 'REST 409' });
  assert.match(failed, /failed:[\s\S]*REST 409/);
  assert.match(markdownFacts([['Objects', 'incident 2095'], ['Odd', 'a`b']]), /- \*\*Objects:\*\* `incident 2095`\n- \*\*Odd:\*\* `` a`b ``/);
});

test('closed status: a success is Other, anything else Indeterminate', () => {
  assert.deepEqual(CLOSED_STATUS, { succeeded: 'Other', failed: 'Indeterminate', timed_out: 'Indeterminate', dead_lettered: 'Indeterminate' });
});
