import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BadRequestError, decodeCursor, encodeCursor, matchesFilter, parseExecutionFilter, parseListQuery } from '../../lib/api/execution-query.js';
import type { ExecutionSummary } from '../../lib/api/schemas.js';

const q = (text: string) => new URLSearchParams(text);

/** The parameter a BadRequestError names, or a failure when nothing is thrown. */
function refused(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    assert.ok(error instanceof BadRequestError, `a BadRequestError, not ${String(error)}`);
    assert.match(error.message, new RegExp(error.parameter));
    return error.parameter;
  }
  assert.fail('expected the query to be refused');
}

test('filters: status repeats or takes a comma list, the others once; empty values count as absent', () => {
  assert.deepEqual(parseExecutionFilter(q('status=failed&status=timed_out,dead_lettered&status=failed')), { statuses: ['failed', 'timed_out', 'dead_lettered'] });
  assert.deepEqual(parseExecutionFilter(q('destination=incident_ops&action=Add+Note&processor=incident-ops&incident=2095')), {
    destination: 'incident_ops',
    action: 'Add Note',
    processor: 'incident-ops',
    incident: 2095,
  });
  assert.deepEqual(parseExecutionFilter(q('status=&destination=&since=')), {});
});

test('filters: since and until become UTC ISO times with milliseconds, whatever zone or precision they came in', () => {
  assert.deepEqual(parseExecutionFilter(q('since=2025-01-01T13:00:00%2B01:00&until=2025-01-02')), {
    since: '2025-01-01T12:00:00.000Z',
    until: '2025-01-02T00:00:00.000Z',
  });
  assert.deepEqual(parseExecutionFilter(q('since=2025-01-01T12:00:00.123456Z')), { since: '2025-01-01T12:00:00.123Z' });
});

test('filters: each bad value is refused naming its parameter', () => {
  assert.equal(refused(() => parseExecutionFilter(q('status=done'))), 'status');
  assert.equal(refused(() => parseExecutionFilter(q('incident=abc'))), 'incident');
  assert.equal(refused(() => parseExecutionFilter(q('incident=-1'))), 'incident');
  assert.equal(refused(() => parseExecutionFilter(q('incident=1.5'))), 'incident');
  assert.equal(refused(() => parseExecutionFilter(q('since=yesterday'))), 'since');
  assert.equal(refused(() => parseExecutionFilter(q('until=2025-13-01T00:00:00Z'))), 'until');
  assert.equal(refused(() => parseExecutionFilter(q('since=1735732800'))), 'since');
  assert.equal(refused(() => parseExecutionFilter(q('since=2025-01-02&until=2025-01-01'))), 'until');
  assert.equal(refused(() => parseExecutionFilter(q('destination=a&destination=b'))), 'destination');
  assert.equal(refused(() => parseExecutionFilter(q('statuss=failed'))), 'statuss');
  // The list's own parameters are unknown to the bare filter (the live feed has its own cursor).
  assert.equal(refused(() => parseExecutionFilter(q('limit=5'))), 'limit');
});

test('list query: limit 1..500 (default 50) and a cursor made by encodeCursor', () => {
  assert.deepEqual(parseListQuery(q('')), { filter: {}, limit: 50, before: undefined });
  assert.equal(parseListQuery(q('limit=1')).limit, 1);
  assert.equal(parseListQuery(q('limit=500')).limit, 500);
  for (const bad of ['0', '501', '-1', '2.5', 'ten', '1e2']) assert.equal(refused(() => parseListQuery(q(`limit=${bad}`))), 'limit', bad);
  const id = '01936b1e-4f2a-7c3d-9e8f-0a1b2c3d4e5f';
  assert.equal(parseListQuery(q(`cursor=${encodeCursor(id)}&status=failed`)).before, id);
});

test('cursor: round-trips, and anything not made by the API is refused as cursor', () => {
  const id = '01936b1e-4f2a-7c3d-9e8f-0a1b2c3d4e5f';
  const cursor = encodeCursor(id);
  assert.match(cursor, /^[A-Za-z0-9_-]+$/, 'URL-safe as it is');
  assert.equal(decodeCursor(cursor), id);
  const forged = [
    'not a cursor',
    '',
    Buffer.from('{"v":2,"b":"x"}').toString('base64url'),
    Buffer.from('{"v":1,"b":"x\' OR 1=1 --"}').toString('base64url'),
    Buffer.from('[1]').toString('base64url'),
    'x'.repeat(401),
    id,
  ];
  for (const bad of forged) assert.equal(refused(() => decodeCursor(bad)), 'cursor', bad);
});

test('matchesFilter: the in-memory test agrees with each filter, until exclusive', () => {
  const summary: ExecutionSummary = {
    execution_id: 'e1',
    correlation_id: 'c1',
    status: 'running',
    destination: 'incident_ops',
    action_name: 'Set Severity',
    processor: 'incident-ops',
    org_id: 201,
    object_type: 'incident',
    object_ids: { incident: 2096 },
    incident_id: 2096,
    user: null,
    received_at: '2025-01-01T12:00:00.000Z',
    started_at: '2025-01-01T12:00:00.010Z',
    ended_at: null,
    duration_ms: null,
  };
  const yes = (text: string) => assert.equal(matchesFilter(summary, parseExecutionFilter(q(text))), true, text);
  const no = (text: string) => assert.equal(matchesFilter(summary, parseExecutionFilter(q(text))), false, text);
  yes('');
  yes('status=received,running');
  no('status=succeeded');
  yes('destination=incident_ops&action=Set+Severity&processor=incident-ops&incident=2096');
  no('destination=other');
  no('action=Echo');
  no('processor=helpdesk');
  no('incident=2095');
  yes('since=2025-01-01T12:00:00Z');
  no('since=2025-01-01T12:00:00.001Z');
  yes('until=2025-01-01T12:00:00.001Z');
  no('until=2025-01-01T12:00:00Z');
});
