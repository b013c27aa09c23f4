import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { loadConfig } from '../../lib/config/load.js';
import type { Config } from '../../lib/config/schema.js';
import { createRuntime, type Runtime } from '../../lib/runtime/runtime.js';
import { defineProcessor } from '../../lib/runtime/processor.js';
import { RestClient } from '../../lib/rest/client.js';
import { createActivitySystem, type ActivitySystem } from '../../lib/activity/system.js';
import { Reporter } from '../../lib/activity/reporter.js';
import type { ActivityEvent } from '../../lib/activity/record.js';
import type { ActivitySink } from '../../lib/activity/sink.js';
import type { Destination, InboundMessage, StateListener, Subscription, Transport, TransportState } from '../../lib/broker/transport.js';
import { ActionDataSchema } from '../../lib/wire/action-data.js';
import { build } from '../../lib/testing/index.js';
import { ExecutionCache } from '../../lib/api/execution-cache.js';
import { readHealth } from '../../lib/api/health.js';
import { metricsRoute } from '../../lib/api/metrics.js';
import { HealthSchema } from '../../lib/api/schemas.js';
import { metric, metricTypes, parsePrometheus } from '../support/prometheus-text.js';

const dir = mkdtempSync(path.join(tmpdir(), 'cafkit-api-metrics-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/**
 * A transport whose connection states the test plays, as the STOMP
 * transport reports them (subscriptions renewed before 'connected').
 */
class ScriptedTransport implements Transport {
  state: TransportState = 'disconnected';
  readonly sent: Array<{ destination: string | Destination; body: string }> = [];
  private readonly listeners = new Set<StateListener>();
  private readonly handlers: Array<(message: InboundMessage) => void> = [];

  async connect(): Promise<void> {
    this.enter('connected');
  }
  subscribe(destination: Destination, _options: unknown, onMessage: (message: InboundMessage) => void): Subscription {
    this.handlers.push(onMessage);
    return { destination, ready: Promise.resolve(), unsubscribe: async () => {} };
  }
  async send(destination: string | Destination, body: string): Promise<void> {
    this.sent.push({ destination, body });
  }
  async close(): Promise<void> {
    this.enter('closed');
  }
  onState(listener: StateListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
  enter(state: TransportState): void {
    this.state = state;
    for (const listener of this.listeners) listener(state);
  }
  /** Delivers `body` to the first subscription; resolves when it is acknowledged. */
  deliver(destination: Destination, body: string, headers: Record<string, string>): Promise<void> {
    return new Promise((resolve) => {
      this.handlers[0]!({ destination, headers, body, size: Buffer.byteLength(body), live: true, ack: async () => (resolve(), true), nack: async () => true });
    });
  }
}

const ENV = {
  CAFKIT_ORG_ID: '201',
  CAFKIT_BROKER_URL: 'stomp+ssl://127.0.0.1:1',
  CAFKIT_BROKER_USER: 'svc',
  CAFKIT_BROKER_PASSWORD: 'broker-secret',
  CAFKIT_REST_URL: 'https://127.0.0.1:1',
  CAFKIT_API_KEY_ID: 'key',
  CAFKIT_API_KEY_SECRET: 'key-secret',
};

const processors = [
  defineProcessor({ name: 'ops', destination: 'incident_ops', actions: { Echo: () => 'ok' } }),
  defineProcessor({ name: 'watch', destination: { name: 'alerts', kind: 'topic' }, actions: { Watch: () => 'ok' } }),
];

/** A sink whose every delivery throws. */
function failingSink(name = 'broken'): ActivitySink & { calls: number } {
  const sink = {
    name,
    calls: 0,
    async deliver(): Promise<void> {
      sink.calls++;
      throw new Error('collector 127.0.0.1:9 refused the connection');
    },
  };
  return sink;
}

async function eventually(condition: () => boolean | Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > until) assert.fail(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

interface Parts {
  config: Config;
  transport: ScriptedTransport;
  runtime: Runtime;
  activity: ActivitySystem;
  cache: ExecutionCache;
  broken: ActivitySink & { calls: number };
}

async function parts(name: string): Promise<Parts> {
  const home = path.join(dir, name);
  const config = loadConfig({ env: ENV });
  config.activity.stores = [];
  config.activity.keys_dir = path.join(home, 'keys');
  config.activity.drain_timeout_ms = 100;
  const cache = new ExecutionCache({ maxExecutions: 100, bufferSize: 100 });
  const broken = failingSink();
  const activity = (await createActivitySystem(config, undefined, { CAFKIT_HOME: home }, [cache, broken]))!;
  const transport = new ScriptedTransport();
  const rest = new RestClient({ url: ENV.CAFKIT_REST_URL, orgId: 201, apiKey: { id: 'key', secret: 'key-secret' }, retries: 0 });
  const runtime = createRuntime(config, processors, { transport, rest, activity });
  return { config, transport, runtime, activity, cache, broken };
}

describe('runtime connection state', () => {
  test('connected, subscribed and reconnects follow the transport states', async () => {
    const { transport, runtime } = await parts('states');
    try {
      assert.equal(runtime.connected, false);
      assert.deepEqual(runtime.subscribed, []);
      await runtime.start();
      assert.equal(runtime.connected, true);
      assert.deepEqual(runtime.subscribed, [{ kind: 'queue', name: 'actions.201.incident_ops' }, { kind: 'topic', name: 'actions.201.alerts' }]);
      assert.equal(runtime.reconnects, 0, 'the first connection is not a reconnect');

      transport.enter('disconnected');
      assert.equal(runtime.connected, false);
      assert.deepEqual(runtime.subscribed, [], 'nothing is subscribed without a connection');
      transport.enter('connecting');
      transport.enter('connected');
      transport.enter('disconnected');
      transport.enter('connected');
      assert.equal(runtime.reconnects, 2);
      assert.equal(runtime.subscribed.length, 2, 'subscriptions are renewed on each connection');
    } finally {
      await runtime.stop(100);
    }
    assert.equal(runtime.connected, false);
    assert.deepEqual(runtime.subscribed, []);
  });
});

describe('GET /health', () => {
  test('ready only while connected with every destination subscribed; sinks show their backlog and last error', async () => {
    const { transport, runtime, activity, cache } = await parts('health');
    try {
      const before = HealthSchema.parse(readHealth({ runtime, activity, cache }));
      assert.equal(before.ready, false, 'not ready before start');
      assert.equal(before.broker.connected, false);

      await runtime.start();
      const up = HealthSchema.parse(readHealth({ runtime, activity, cache }));
      assert.equal(up.ready, true);
      assert.deepEqual(up.subscriptions, [{ destination: 'actions.201.incident_ops', kind: 'queue' }, { destination: 'actions.201.alerts', kind: 'topic' }]);
      assert.equal(up.in_flight, 0);
      assert.deepEqual(Object.keys(up.sinks).sort(), ['api', 'broken']);

      transport.enter('disconnected');
      const down = HealthSchema.parse(readHealth({ runtime, activity, cache }));
      assert.equal(down.ready, false);
      assert.deepEqual(down.broker, { connected: false });
      assert.deepEqual(down.subscriptions, []);

      transport.enter('connected');
      // An execution makes events; the failing sink keeps them and reports why.
      const execution = activity.recorder.open('incident_ops', 'invid:1', new Date().toISOString());
      activity.recorder.close(execution, 'dead_lettered', 'bad');
      await eventually(() => (activity.reporter.stats()['broken']?.failed_attempts ?? 0) > 0, 'a failed delivery');
      const failing = HealthSchema.parse(readHealth({ runtime, activity, cache }));
      assert.equal(failing.ready, true);
      assert.equal(failing.sinks['broken']!.last_error, 'collector 127.0.0.1:9 refused the connection');
      assert.ok(!Number.isNaN(Date.parse(failing.sinks['broken']!.last_error_at!)));
      assert.equal(failing.sinks['broken']!.queued, 2, 'both events of the execution wait');
      assert.equal(failing.sinks['api']!.last_error, undefined);
    } finally {
      await runtime.stop(100);
    }
  });

  test('a processor host with no activity system still answers', async () => {
    const { runtime, activity, cache } = await parts('no-activity');
    const health = HealthSchema.parse(readHealth({ runtime, activity: undefined, cache }));
    assert.deepEqual(health.sinks, {});
    await activity.close(100);
  });
});

describe('GET /metrics', () => {
  test('counters read the dispatcher and reporter live; durations are observed per action as executions finish', async () => {
    const { transport, runtime, activity, cache, broken } = await parts('metrics');
    const route = metricsRoute({ runtime, activity, cache });
    try {
      await runtime.start();
      const empty = parsePrometheus(await route.registry.metrics());
      assert.equal(metric(empty, 'cafkit_messages_received_total'), 0);
      assert.equal(metric(empty, 'cafkit_messages_replied_total', { status: 'succeeded' }), 0);
      assert.equal(metric(empty, 'cafkit_messages_replied_total', { status: 'failed' }), 0);
      assert.equal(metric(empty, 'cafkit_broker_reconnects_total'), 0);
      assert.equal(metric(empty, 'cafkit_sink_lag_seconds', { sink: 'broken' }), 0, 'no lag with nothing queued');
      assert.ok(metric(empty, 'process_cpu_user_seconds_total') !== undefined, 'default process metrics');
      assert.ok(metric(empty, 'nodejs_eventloop_lag_seconds') !== undefined, 'default Node metrics');

      // Two malformed messages: received, answered with an error, dead-lettered.
      const queue: Destination = { kind: 'queue', name: 'actions.201.incident_ops' };
      for (const id of ['bad-1', 'bad-2']) await transport.deliver(queue, '{broken', { 'correlation-id': id, 'reply-to': '/queue/acks.201.incident_ops' });
      // Two finished executions of one action and one of another.
      const message = ActionDataSchema.parse(build.message({ incident: build.incident({ id: 2095 }) }));
      for (const [action, status] of [['Echo', 'succeeded'], ['Echo', 'failed'], ['Set Severity', 'timed_out']] as const) {
        const execution = activity.recorder.open('incident_ops', `invid:${action}:${status}`, new Date().toISOString());
        execution.parsed(message);
        execution.started(action, 'ops');
        activity.recorder.close(execution, status, status === 'succeeded' ? null : 'it broke');
      }
      transport.enter('disconnected');
      transport.enter('connected');
      await eventually(() => cache.newestFirst().filter((e) => e.record).length === 5 && activity.reporter.stats()['api']!.queued === 0 && broken.calls > 1, 'the cache to have every execution and the failing sink to retry');
      await eventually(async () => (metric(parsePrometheus(await route.registry.metrics()), 'cafkit_sink_lag_seconds', { sink: 'broken' }) ?? 0) > 0, 'lag to show');

      const text = await route.registry.metrics();
      const samples = parsePrometheus(text);
      const stats = runtime.dispatcher.stats;
      assert.equal(metric(samples, 'cafkit_messages_received_total'), 2);
      assert.equal(metric(samples, 'cafkit_messages_dead_lettered_total'), 2);
      assert.equal(metric(samples, 'cafkit_messages_redelivered_total'), 0);
      assert.equal(metric(samples, 'cafkit_broker_reconnects_total'), 1);
      // A scrape mirrors the live counters, whatever moved them.
      stats.succeeded += 3;
      stats.failed += 1;
      stats.replayed += 5;
      const later = parsePrometheus(await route.registry.metrics());
      assert.equal(metric(later, 'cafkit_messages_replied_total', { status: 'succeeded' }), 3);
      assert.equal(metric(later, 'cafkit_messages_replied_total', { status: 'failed' }), 1);
      assert.equal(metric(later, 'cafkit_messages_redelivered_total'), 5);

      assert.equal(metric(samples, 'cafkit_handler_duration_seconds_count', { action: 'Echo' }), 2);
      assert.equal(metric(samples, 'cafkit_handler_duration_seconds_count', { action: 'Set Severity' }), 1);
      assert.equal(metric(samples, 'cafkit_handler_duration_seconds_bucket', { action: 'Echo', le: '+Inf' }), 2);
      assert.ok(samples.every((s) => s.name !== 'cafkit_handler_duration_seconds_count' || s.labels['action'] !== 'incident_ops'), 'dead-lettered messages never started');

      const sink = activity.reporter.stats()['broken']!;
      assert.equal(metric(samples, 'cafkit_sink_queued', { sink: 'broken' }), sink.queued + sink.in_spill);
      assert.equal(metric(samples, 'cafkit_sink_queued', { sink: 'api' }), 0);
      assert.ok(metric(samples, 'cafkit_sink_failed_attempts_total', { sink: 'broken' })! >= 1);
      assert.equal(metric(samples, 'cafkit_sink_failed_attempts_total', { sink: 'api' }), 0);
      assert.equal(metric(samples, 'cafkit_sink_dropped_total', { sink: 'broken' }), 0);
      assert.ok(metric(samples, 'cafkit_sink_lag_seconds', { sink: 'broken' })! > 0);
      assert.equal(metric(samples, 'cafkit_sink_lag_seconds', { sink: 'api' }), 0);

      const types = metricTypes(text);
      for (const name of ['cafkit_messages_received_total', 'cafkit_messages_replied_total', 'cafkit_messages_dead_lettered_total', 'cafkit_messages_redelivered_total', 'cafkit_broker_reconnects_total', 'cafkit_sink_dropped_total', 'cafkit_sink_failed_attempts_total']) {
        assert.equal(types.get(name), 'counter', name);
      }
      assert.equal(types.get('cafkit_sink_queued'), 'gauge');
      assert.equal(types.get('cafkit_sink_lag_seconds'), 'gauge');
      assert.equal(types.get('cafkit_handler_duration_seconds'), 'histogram');
      assert.match(route.registry.contentType, /^text\/plain; version=0\.0\.4/);
    } finally {
      route.close();
      await runtime.stop(100);
    }
  });

  test('each route has a registry of its own, not the global one', async () => {
    const { runtime, activity, cache } = await parts('registries');
    const a = metricsRoute({ runtime, activity, cache });
    const b = metricsRoute({ runtime, activity, cache });
    try {
      assert.notEqual(a.registry, b.registry);
      const { register } = await import('prom-client');
      assert.equal(register.getSingleMetric('cafkit_messages_received_total'), undefined);
    } finally {
      a.close();
      b.close();
      await activity.close(100);
    }
  });
});

describe('sink lag: the reporter knows its oldest undelivered event', () => {
  const event = (n: number): ActivityEvent => ({ kind: 'received', at: new Date(1_700_000_000_000 + n * 1000).toISOString(), execution_id: `e${n}`, correlation_id: `invid:${n}` });
  const hanging = (): ActivitySink & { release(): void } => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    return { name: 'slow', deliver: () => gate, release };
  };

  test('in delivery, then queued, then spilled: the oldest is the head of the line; none once delivered', async () => {
    const sink = hanging();
    const reporter = new Reporter([sink], { queueSize: 1, spillDir: path.join(dir, 'spill-order') });
    assert.equal(reporter.oldestQueuedAt()['slow'], undefined);
    for (let n = 0; n < 4; n++) reporter.report(event(n));
    assert.equal(reporter.stats()['slow']!.in_spill, 2, 'e2 and e3 overflowed to the spill file');
    assert.equal(reporter.oldestQueuedAt()['slow'], event(0).at, 'the event in delivery is the oldest');
    sink.release();
    const { drained } = await reporter.drain(10_000);
    assert.equal(drained, true);
    assert.equal(reporter.oldestQueuedAt()['slow'], undefined);
  });

  test("a previous run's spill file: its first event, before anything is read back", async () => {
    const spill = path.join(dir, 'spill-left');
    const { mkdirSync } = await import('node:fs');
    mkdirSync(spill, { recursive: true });
    writeFileSync(path.join(spill, 'slow.spill.jsonl'), [5, 6, 7].map((n) => JSON.stringify(event(n))).join('\n') + '\n');
    const sink = hanging();
    const reporter = new Reporter([sink], { queueSize: 10, spillDir: spill });
    assert.equal(reporter.oldestQueuedAt()['slow'], event(5).at);
    await eventually(() => reporter.stats()['slow']!.in_spill === 0, 'the spill to be read back');
    assert.equal(reporter.oldestQueuedAt()['slow'], event(5).at, 'then it is the one in delivery');
    sink.release();
    await reporter.drain(10_000);
  });
});
