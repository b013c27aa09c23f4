import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { eventually, startPlatform, processorConfig, EXAMPLES, type Platform } from '../support/stack.js';
import { metric, parsePrometheus, type Sample } from '../support/prometheus-text.js';
import { createActivitySystem, type ActivitySystem } from '../../lib/activity/system.js';
import type { ActivitySink } from '../../lib/activity/sink.js';
import { createRuntime, type Runtime } from '../../lib/runtime/runtime.js';
import { loadProcessors } from '../../lib/runtime/load-processors.js';
import { brokerLink, transportLabel } from '../support/test-broker.js';
import { createLogger } from '../../lib/log/logger.js';
import { actionQueueName } from '../../lib/wire/headers.js';
import { ExecutionCache } from '../../lib/api/execution-cache.js';
import { healthRoute } from '../../lib/api/health.js';
import { metricsRoute, type MetricsRoute } from '../../lib/api/metrics.js';
import { HealthSchema, type Health } from '../../lib/api/schemas.js';
import type { ApiRoute } from '../../lib/api/route.js';

/** The routes on a plain loopback HTTP server (no auth: that is the API server's part). */
async function serve(routes: ApiRoute[]): Promise<{ server: Server; url: string }> {
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const route = routes.find((r) => r.method === req.method && r.path === url.pathname);
    if (!route) {
      res.writeHead(404).end();
      return;
    }
    Promise.resolve(route.handle(req, res, { principal: { name: 'test', scopes: ['read'] }, url, params: {} })).catch((error: Error) => {
      res.writeHead(500).end(error.message);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

describe(`/health and /metrics on the real stack [${transportLabel()}]`, () => {
  let platform: Platform;
  let runtime: Runtime | undefined;
  let activity: ActivitySystem | undefined;
  let metrics: MetricsRoute | undefined;
  let http: { server: Server; url: string } | undefined;
  const dir = mkdtempSync(path.join(tmpdir(), 'cafkit-api-observe-'));
  const cache = new ExecutionCache({ maxExecutions: 1000, bufferSize: 1000 });
  let failing = 0;
  /** An alert-channel-like sink whose server is down: every delivery throws. */
  const broken: ActivitySink = {
    name: 'broken',
    async deliver() {
      failing++;
      throw new Error('webhook 127.0.0.1:9 refused the connection');
    },
  };

  async function health(): Promise<{ status: number; body: Health }> {
    const res = await fetch(`${http!.url}/health`);
    assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
    return { status: res.status, body: HealthSchema.parse(await res.json()) };
  }

  async function scrape(): Promise<Sample[]> {
    const res = await fetch(`${http!.url}/metrics`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
    return parsePrometheus(await res.text());
  }

  before(async () => {
    platform = await startPlatform();
    const config = processorConfig(platform, (c) => {
      c.activity.stores = [`sqlite:${path.join(dir, 'activities.db')}`];
      c.activity.keys_dir = path.join(dir, 'keys');
      c.activity.drain_timeout_ms = 500;
    });
    const log = createLogger({ level: process.env['CAFKIT_TEST_LOG'] ? 'debug' : 'error' });
    activity = await createActivitySystem(config, log, { ...process.env, CAFKIT_HOME: dir }, [cache, broken]);
    runtime = createRuntime(config, await loadProcessors(EXAMPLES), { log, activity });
    metrics = metricsRoute({ runtime, activity, cache });
    http = await serve([healthRoute({ runtime, activity, cache }), metrics]);
    await runtime.start(AbortSignal.timeout(30_000));
  });
  after(async () => {
    metrics?.close();
    if (http) await new Promise((resolve) => http!.server.close(resolve));
    await runtime?.stop(5000);
    await platform?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test('/health is 200 with the broker connected and every destination subscribed', async () => {
    const { status, body } = await health();
    assert.equal(status, 200);
    assert.equal(body.ready, true);
    assert.deepEqual(body.broker, { connected: true });
    const expected = runtime!.destinations.map((d) => ({ destination: actionQueueName(platform.broker.orgId, d.name), kind: d.kind }));
    assert.ok(expected.some((s) => s.destination === `actions.${platform.broker.orgId}.incident_ops`));
    assert.deepEqual(body.subscriptions, expected);
    assert.equal(typeof body.in_flight, 'number');
    assert.deepEqual(Object.keys(body.sinks).sort(), ['api', 'broken', 'sqlite']);
  });

  test('actions, a failure and a malformed message show in the metrics; a failing sink in both', async () => {
    const trigger = async (action: string, properties: Record<string, unknown>, incident = 2095) => {
      const inv = await platform.emulator.trigger({ destination: 'incident_ops', action, incident, properties });
      return platform.emulator.waitFor(inv.id, { timeoutMs: 60_000, status: 'done' });
    };
    for (let i = 0; i < 3; i++) assert.equal((await trigger('Echo', { note_text: `echo ${i}` })).status, 'completed');
    platform.emulator.setFaults({ conflicts: 1000 });
    try {
      assert.equal((await trigger('Set Severity', { severity: 'High' }, 2096)).status, 'error');
    } finally {
      platform.emulator.setFaults({ conflicts: 0 });
    }
    const b = platform.broker;
    const link = brokerLink(b);
    await link.connect();
    try {
      await link.send(`/queue/actions.${b.orgId}.incident_ops`, '{broken', { headers: { 'reply-to': `/queue/acks.${b.orgId}.observe`, 'correlation-id': 'observe-bad' } });
    } finally {
      await link.close();
    }
    await eventually(() => (runtime!.dispatcher.stats.deadLettered === 1 && runtime!.dispatcher.inFlight === 0) || undefined, 'the bad message to be dead-lettered');
    // Durations are observed from the cache as each execution's final event reaches it.
    await eventually(() => cache.newestFirst().filter((e) => e.record).length === 5 || undefined, 'every execution to finish in the cache');

    const samples = await eventually(async () => {
      const now = await scrape();
      return (metric(now, 'cafkit_sink_lag_seconds', { sink: 'broken' }) ?? 0) > 0 ? now : undefined;
    }, 'the failing sink to show a lag');
    assert.equal(metric(samples, 'cafkit_messages_received_total'), 5);
    assert.equal(metric(samples, 'cafkit_messages_replied_total', { status: 'succeeded' }), 3);
    assert.equal(metric(samples, 'cafkit_messages_replied_total', { status: 'failed' }), 1);
    assert.equal(metric(samples, 'cafkit_messages_dead_lettered_total'), 1);
    assert.equal(metric(samples, 'cafkit_messages_redelivered_total'), 0);
    assert.equal(metric(samples, 'cafkit_handler_duration_seconds_count', { action: 'Echo' }), 3);
    assert.equal(metric(samples, 'cafkit_handler_duration_seconds_count', { action: 'Set Severity' }), 1);
    assert.ok(metric(samples, 'cafkit_handler_duration_seconds_sum', { action: 'Set Severity' })! > 0, 'ten REST round trips take time');
    assert.ok(metric(samples, 'cafkit_sink_failed_attempts_total', { sink: 'broken' })! >= 1);
    assert.ok(metric(samples, 'cafkit_sink_queued', { sink: 'broken' })! > 0, 'its events wait');
    assert.equal(metric(samples, 'cafkit_sink_failed_attempts_total', { sink: 'sqlite' }), 0);
    assert.equal(metric(samples, 'cafkit_sink_dropped_total', { sink: 'broken' }), 0);
    assert.ok(metric(samples, 'process_resident_memory_bytes')! > 0, 'default process metrics');
    assert.ok(failing >= 1);

    const { status, body } = await health();
    assert.equal(status, 200, 'a failing sink does not make the processor unready');
    assert.equal(body.sinks['broken']!.last_error, 'webhook 127.0.0.1:9 refused the connection');
    assert.ok(body.sinks['broken']!.failed_attempts >= 1);
    assert.ok(body.sinks['broken']!.queued > 0);
    assert.equal(body.sinks['sqlite']!.last_error, undefined);
  });

  test('/health is 503 while the broker is down, 200 again once it is back, and the reconnect is counted', async () => {
    const before = metric(await scrape(), 'cafkit_broker_reconnects_total')!;
    assert.equal(before, 0);
    const onState = (wake: () => void) => runtime!.transport.onState(wake);
    await platform.broker.stop();
    try {
      const down = await eventually(async () => {
        const h = await health();
        return h.status === 503 ? h : undefined;
      }, '/health to answer 503', 30_000, onState);
      assert.equal(down.body.ready, false);
      assert.deepEqual(down.body.broker, { connected: false });
      assert.deepEqual(down.body.subscriptions, []);
    } finally {
      await platform.broker.start();
    }
    const up = await eventually(async () => {
      const h = await health();
      return h.status === 200 ? h : undefined;
    }, '/health to answer 200 again', 60_000, onState);
    assert.equal(up.body.ready, true);
    assert.equal(up.body.subscriptions.length, runtime!.destinations.length);
    assert.equal(metric(await scrape(), 'cafkit_broker_reconnects_total'), before + 1);
  });
});
