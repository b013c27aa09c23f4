// The Kafka channel against a server that speaks the Kafka wire protocol
// (test/support/kafka-wire-server.ts: no Kafka broker can be installed
// here), and, when KAFKA_BROKERS is set (host:port,...), against that real
// broker too.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import kafkajs from 'kafkajs';
import { KafkaChannelSchema } from '../../lib/config/alerting.js';
import type { ActivityEvent } from '../../lib/activity/record.js';
import { Reporter } from '../../lib/activity/reporter.js';
import { canonicalRecordText } from '../../lib/activity/signer.js';
import type { Log } from '../../lib/log/log.js';
import { createKafkaSink } from '../../lib/sinks/kafka.js';
import { eventually } from '../support/stack.js';
import { kafkaActivities } from '../support/kafka-activities.js';
import { cert } from '../support/certs.js';
import { API, startKafkaWireServer, type KafkaWireServer, type KafkaWireServerOptions, type ReceivedRecord } from '../support/kafka-wire-server.js';


const activities = kafkaActivities();
const home = mkdtempSync(path.join(tmpdir(), 'cafkit-kafka-home-'));
const servers = new Set<KafkaWireServer>();
const sinks = new Set<{ close(): Promise<void> }>();
after(async () => {
  await Promise.all([...sinks].map((s) => s.close().catch(() => {})));
  await Promise.all([...servers].map((s) => s.stop()));
  activities.dispose();
  rmSync(home, { recursive: true, force: true });
});

/** A log that keeps every line, to check what reached it. */
function recordingLog(): Log & { lines: string[] } {
  const lines: string[] = [];
  const keep = (level: string) => (message: string, meta?: Record<string, unknown>) => void lines.push(`${level} ${message} ${JSON.stringify(meta ?? {})}`);
  return { lines, debug: keep('debug'), info: keep('info'), warn: keep('warn'), error: keep('error'), isLevelEnabled: () => true };
}

async function server(options: KafkaWireServerOptions = {}): Promise<KafkaWireServer> {
  const s = await startKafkaWireServer({ log: () => {}, ...options });
  servers.add(s);
  return s;
}

async function stop(s: KafkaWireServer): Promise<void> {
  await s.stop();
  servers.delete(s);
}

function sink(config: Record<string, unknown>, log: Log = recordingLog()) {
  const s = createKafkaSink(KafkaChannelSchema.parse({ enable: true, timeout_ms: 3000, ...config }), { log, home });
  sinks.add(s);
  return s;
}

const topicName = () => `cafkit-${randomUUID().slice(0, 8)}`;
const versionsUsed = (s: KafkaWireServer) => Object.fromEntries([...s.requests].map(([key, versions]) => [key, [...versions.keys()].sort()]));
const bytesOf = (r: ReceivedRecord) => (r.key?.length ?? 0) + (r.value?.length ?? 0);

describe('producing to a Kafka wire server', () => {
  let kafka: KafkaWireServer;
  before(async () => {
    kafka = await server({ topics: { alerts: 1, spread: 3, rotate: 3, hashed: 4 } });
  });

  test('an activity arrives as one message: key, canonical JSON value, headers', async () => {
    const s = sink({ brokers: [kafka.address], topic: 'alerts', key: 'lope' });
    const event = activities.final({ status: 'failed' });
    await s.deliver(event);
    const got = kafka.records.filter((r) => r.topic === 'alerts' && r.headers.execution_id === event.execution_id);
    assert.equal(got.length, 1);
    assert.equal(got[0]!.key?.toString('utf8'), 'lope');
    assert.equal(got[0]!.value?.toString('utf8'), canonicalRecordText(event.record!));
    assert.deepEqual(got[0]!.headers, { execution_id: event.execution_id, status: 'failed', 'content-type': 'application/json' });
    assert.deepEqual(kafka.unsupported, [], 'kafkajs sent nothing the server does not implement');
  });

  test('base64: the value decodes back to the signed canonical JSON', async () => {
    const s = sink({ brokers: [kafka.address], topic: 'alerts', base64: true });
    const event = activities.final();
    await s.deliver(event);
    const got = kafka.records.find((r) => r.headers.execution_id === event.execution_id)!;
    assert.equal(Buffer.from(got.value!.toString('ascii'), 'base64').toString('utf8'), canonicalRecordText(event.record!));
    assert.equal(got.headers['content-type'], 'text/plain; encoding=base64');
    assert.equal(got.key?.toString(), 'cafkit', 'the default key');
  });

  test('a batch goes in one produce request, in order, with consecutive offsets', async () => {
    const s = sink({ brokers: [kafka.address], topic: 'alerts' });
    await s.deliver(activities.final()); // connected before counting
    const produceBefore = kafka.requestCount(API.Produce);
    const events = Array.from({ length: 5 }, () => activities.final());
    await s.deliverBatch!(events);
    assert.equal(kafka.requestCount(API.Produce) - produceBefore, 1);
    const got = kafka.records.filter((r) => events.some((e) => e.execution_id === r.headers.execution_id));
    assert.deepEqual(got.map((r) => r.headers.execution_id), events.map((e) => e.execution_id));
    assert.deepEqual(got.map((r) => r.offset - got[0]!.offset), [0, 1, 2, 3, 4]);
  });

  test('events without a record (not final) are not sent', async () => {
    const s = sink({ brokers: [kafka.address], topic: 'alerts' });
    const started: ActivityEvent = { kind: 'started', at: new Date().toISOString(), execution_id: randomUUID(), correlation_id: null };
    assert.equal(s.accepts!(started), false);
    const before = kafka.records.length;
    await s.deliver(started);
    assert.equal(kafka.records.length, before);
    const only = sink({ brokers: [kafka.address], topic: 'alerts', statuses: ['failed'] });
    assert.equal(only.accepts!(activities.final({ status: 'succeeded' })), false);
    assert.equal(only.accepts!(activities.final({ status: 'failed' })), true);
  });

  test('LEAST_BYTES: each message goes to the partition that has received the fewest bytes (ties: lowest)', async () => {
    const s = sink({ brokers: [kafka.address], topic: 'spread' });
    const notes = [900, 10, 10, 300, 10, 600, 0, 50, 400, 5];
    // One at a time, so the server sees them in the order they were partitioned.
    for (const size of notes) await s.deliver(activities.final({ note: 'n'.repeat(size) }));
    const got = kafka.records.filter((r) => r.topic === 'spread');
    assert.equal(got.length, notes.length);
    const totals = [0, 0, 0];
    for (const record of got) {
      const least = Math.min(...totals);
      assert.equal(record.partition, totals.indexOf(least), `offset ${record.offset}: totals before were ${totals}`);
      totals[record.partition]! += bytesOf(record);
    }
    const largest = Math.max(...got.map(bytesOf));
    assert.ok(Math.max(...totals) - Math.min(...totals) <= largest, `balanced within one message: ${totals}`);
    assert.ok(totals.every((t) => t > 0), 'every partition used');
  });

  test('ROUND_ROBIN: partitions in turn', async () => {
    const s = sink({ brokers: [kafka.address], topic: 'rotate', distribution: 'ROUND_ROBIN' });
    for (let i = 0; i < 7; i++) await s.deliver(activities.final({ note: 'x'.repeat(i * 100) }));
    assert.deepEqual(kafka.records.filter((r) => r.topic === 'rotate').map((r) => r.partition), [0, 1, 2, 0, 1, 2, 0]);
  });

  test('HASH: the same key, the same partition; another key may go elsewhere', async () => {
    const one = sink({ brokers: [kafka.address], topic: 'hashed', distribution: 'HASH', key: 'lope' });
    await one.deliverBatch!(Array.from({ length: 6 }, () => activities.final()));
    const lope = new Set(kafka.records.filter((r) => r.topic === 'hashed').map((r) => r.partition));
    assert.equal(lope.size, 1);
    const keys = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'];
    for (const key of keys) await sink({ brokers: [kafka.address], topic: 'hashed', distribution: 'HASH', key }).deliver(activities.final());
    const byKey = new Map(kafka.records.filter((r) => r.topic === 'hashed').map((r) => [r.key!.toString(), r.partition]));
    assert.ok(new Set(keys.map((k) => byKey.get(k))).size > 1, 'keys spread over partitions');
  });

  test('close() disconnects', async () => {
    const s = sink({ brokers: [kafka.address], topic: 'alerts' });
    await s.deliver(activities.final());
    await eventually(() => kafka.connectionCount() > 0, 'a connection');
    // Close every sink of this suite: then no client is left connected.
    await Promise.all([...sinks].map((x) => x.close()));
    await eventually(() => kafka.connectionCount() === 0, 'every connection closed', 5000);
    await assert.rejects(s.deliver(activities.final()), /closed/);
  });
});

describe('topics', () => {
  test('create_topic: a missing topic is created with its partitions, then produced to', async () => {
    const kafka = await server();
    const topic = topicName();
    const s = sink({ brokers: [kafka.address], topic, create_topic: true, partitions: 3, distribution: 'ROUND_ROBIN' });
    await s.deliverBatch!([activities.final(), activities.final(), activities.final()]);
    assert.deepEqual(kafka.topics(), { [topic]: 3 });
    assert.equal(kafka.requestCount(API.CreateTopics), 1);
    assert.deepEqual(kafka.countsByPartition(topic), [1, 1, 1]);
    // An existing topic is not created again.
    await sink({ brokers: [kafka.address], topic, create_topic: true, partitions: 5 }).deliver(activities.final());
    assert.equal(kafka.requestCount(API.CreateTopics), 1);
    assert.deepEqual(kafka.topics(), { [topic]: 3 });
    // What kafkajs negotiated down to: the highest version both sides implement.
    assert.deepEqual(versionsUsed(kafka), { [API.ApiVersions]: [2], [API.Metadata]: [6], [API.CreateTopics]: [3], [API.Produce]: [7] });
    await stop(kafka);
  });

  test('create_topic: a refused creation fails the delivery with the broker reason', async () => {
    const kafka = await server();
    const topic = topicName();
    const s = sink({ brokers: [kafka.address], topic, create_topic: true, replication_factor: 3 });
    await assert.rejects(s.deliver(activities.final()), (error: Error) => {
      assert.match(error.message, new RegExp(`topic "${topic}"`));
      assert.match(error.message, /replication/i);
      return true;
    });
    assert.deepEqual(kafka.topics(), {});
    await stop(kafka);
  });

  test('without create_topic, a missing topic fails the delivery, naming it, and is not created', async () => {
    const kafka = await server();
    const topic = topicName();
    const s = sink({ brokers: [kafka.address], topic });
    await assert.rejects(s.deliver(activities.final()), (error: Error) => {
      assert.match(error.message, new RegExp(`topic "${topic}"`));
      assert.match(error.message, new RegExp(kafka.address));
      assert.match(error.message, /does not exist/);
      return true;
    });
    assert.deepEqual(kafka.topics(), {});
    assert.equal(kafka.requestCount(API.CreateTopics), 0);
    assert.equal(kafka.records.length, 0);
    await stop(kafka);
  });
});

describe('SASL', () => {
  const password = 'kafka-pass-7f3c9e';
  let kafka: KafkaWireServer;
  before(async () => {
    kafka = await server({ topics: { secured: 1 }, users: { alice: password } });
  });

  for (const [mechanism, scram_hash, name] of [['PLAIN', 'SHA512', 'PLAIN'], ['SCRAM', 'SHA256', 'SCRAM-SHA-256'], ['SCRAM', 'SHA512', 'SCRAM-SHA-512']] as const) {
    test(`${name}: the right password is accepted and the message produced`, async () => {
      const event = activities.final();
      await sink({ brokers: [kafka.address], topic: 'secured', auth_mechanism: mechanism, scram_hash, user: 'alice', password }).deliver(event);
      assert.ok(kafka.records.some((r) => r.headers.execution_id === event.execution_id));
      assert.deepEqual(kafka.authentications.at(-1), { mechanism: name, user: 'alice', ok: true });
      assert.deepEqual(versionsUsed(kafka), { [API.ApiVersions]: [2], [API.SaslHandshake]: [1], [API.SaslAuthenticate]: [1], [API.Metadata]: [6], [API.Produce]: [7] });
    });

    test(`${name}: a wrong password is refused, and no log line or error shows it`, async () => {
      const log = recordingLog();
      const wrong = 'wrong-pass-1b2d3f';
      const before = kafka.records.length;
      const s = sink({ brokers: [kafka.address], topic: 'secured', auth_mechanism: mechanism, scram_hash, user: 'alice', password: wrong }, log);
      await assert.rejects(s.deliver(activities.final()), (error: Error) => {
        assert.match(error.message, /authentication failed/i);
        assert.match(error.message, new RegExp(kafka.address));
        assert.doesNotMatch(error.message, new RegExp(wrong));
        return true;
      });
      assert.equal(kafka.records.length, before);
      assert.deepEqual(kafka.authentications.at(-1), { mechanism: name, user: 'alice', ok: false });
      assert.ok(log.lines.length > 0, 'kafkajs lines reach our log');
      assert.ok(log.lines.every((line) => !line.includes(wrong)), 'no line shows the password');
    });
  }

  test('without credentials, the server closes the connection and the delivery fails', async () => {
    await assert.rejects(sink({ brokers: [kafka.address], topic: 'secured', timeout_ms: 1500 }).deliver(activities.final()), /kafka: cannot deliver/);
  });
});

describe('TLS', () => {
  test('the dev CA verifies the server; SCRAM over TLS; the client certificate key is encrypted', async () => {
    const kafka = await server({ topics: { tls: 1 }, users: { alice: 'tls-pass-123456' }, tls: { cert: readFileSync(cert('broker.pem')), key: readFileSync(cert('broker-key.pem')) } });
    const event = activities.final();
    await sink({
      brokers: [kafka.address],
      topic: 'tls',
      auth_mechanism: 'SCRAM',
      user: 'alice',
      password: 'tls-pass-123456',
      tls: { ca: cert('ca.pem'), cert: cert('client.pem'), key: cert('client-enc-key.pem'), passphrase: readFileSync(cert('client-key-passphrase'), 'utf8').trim() },
    }).deliver(event);
    assert.ok(kafka.records.some((r) => r.headers.execution_id === event.execution_id));
    await stop(kafka);
  });

  test('a server certificate from a rogue CA is refused', async () => {
    const kafka = await server({ topics: { tls: 1 }, tls: { cert: readFileSync(cert('rogue.pem')), key: readFileSync(cert('rogue-key.pem')) } });
    await assert.rejects(sink({ brokers: [kafka.address], topic: 'tls', tls: { ca: cert('ca.pem') }, timeout_ms: 2000 }).deliver(activities.final()), (error: Error) => {
      assert.match(error.message, new RegExp(kafka.address));
      assert.match(error.message, /certificate|self.signed|issuer/i);
      return true;
    });
    assert.equal(kafka.records.length, 0);
    assert.equal(kafka.requestCount(API.ApiVersions), 0, 'not a single request over the refused connection');
    await stop(kafka);
  });
});

describe('failures', () => {
  test('a server that accepts the connection and never answers: the delivery fails within timeout_ms', { timeout: 15_000 }, async () => {
    const kafka = await server({ silent: true, topics: { t: 1 } });
    await assert.rejects(sink({ brokers: [kafka.address], topic: 't', timeout_ms: 800 }).deliver(activities.final()), (error: Error) => {
      assert.match(error.message, new RegExp(kafka.address));
      assert.match(error.message, /timed out|no answer/i);
      return true;
    });
    assert.ok(kafka.requestCount(API.ApiVersions) > 0, 'the request reached the server');
    await stop(kafka);
  });

  test('no server on the port: the delivery fails, naming the brokers and the cause', { timeout: 15_000 }, async () => {
    const gone = await server();
    const address = gone.address;
    await stop(gone);
    await assert.rejects(sink({ brokers: [address], topic: 't', timeout_ms: 2000 }).deliver(activities.final()), (error: Error) => {
      assert.match(error.message, new RegExp(`brokers ${address}`));
      assert.match(error.message, /ECONNREFUSED|connect/i);
      return true;
    });
  });

  test('server down, then back: through a Reporter, every event arrives once it is back', { timeout: 30_000 }, async () => {
    const topic = topicName();
    const first = await server({ topics: { [topic]: 2 } });
    const port = first.port;
    const s = sink({ brokers: [first.address], topic, timeout_ms: 1000 });
    const reporter = new Reporter([s], { spillDir: path.join(home, `spill-${topic}`), retry: { initialMs: 50, maxMs: 200 }, warnEveryMs: 0 });
    try {
      const early = activities.final();
      reporter.report(early);
      await eventually(() => first.records.length === 1, 'the first event on the first server', 10_000);
      await stop(first);
      const late = Array.from({ length: 4 }, () => activities.final());
      for (const event of late) reporter.report(event);
      await eventually(() => reporter.stats().kafka!.failed_attempts >= 2, 'deliveries failing while the server is down', 10_000);
      const back = await server({ port, topics: { [topic]: 2 } });
      await eventually(() => new Set(back.records.map((r) => r.headers.execution_id)).size === late.length, 'every late event on the server that came back', 15_000);
      assert.deepEqual(new Set(back.records.map((r) => r.headers.execution_id)), new Set(late.map((e) => e.execution_id)));
      const { drained } = await reporter.drain(5000);
      assert.equal(drained, true);
      assert.equal(reporter.stats().kafka!.delivered, 1 + late.length);
    } finally {
      await reporter.drain(0);
    }
  });
});

describe('a real Kafka broker (KAFKA_BROKERS)', { skip: process.env.KAFKA_BROKERS ? false : 'set KAFKA_BROKERS=host:port,... to run against a real broker' }, () => {
  test('creates a topic, produces, and a consumer reads the activities back', { timeout: 90_000 }, async () => {
    const brokers = process.env.KAFKA_BROKERS!.split(',').map((b) => b.trim()).filter(Boolean);
    const topic = topicName();
    const s = sink({ brokers, topic, create_topic: true, partitions: 2, timeout_ms: 15_000, key: 'lope' });
    const events = [activities.final(), activities.final({ status: 'failed' }), activities.final({ note: 'x'.repeat(2000) })];
    await s.deliverBatch!(events);
    const client = new kafkajs.Kafka({ clientId: 'cafkit-test', brokers, logLevel: kafkajs.logLevel.NOTHING });
    const admin = client.admin();
    await admin.connect();
    try {
      const metadata = await admin.fetchTopicMetadata({ topics: [topic] });
      assert.equal(metadata.topics[0]!.partitions.length, 2);
    } finally {
      await admin.disconnect();
    }
    const consumer = client.consumer({ groupId: `cafkit-test-${randomUUID()}` });
    const seen = new Map<string, { key: string; value: string; headers: Record<string, string> }>();
    await consumer.connect();
    try {
      await consumer.subscribe({ topic, fromBeginning: true });
      await consumer.run({
        eachMessage: async ({ message }) => {
          const headers = Object.fromEntries(Object.entries(message.headers ?? {}).map(([k, v]) => [k, String(v)]));
          seen.set(headers.execution_id!, { key: String(message.key), value: String(message.value), headers });
        },
      });
      await eventually(() => seen.size === events.length, 'every activity consumed', 60_000);
    } finally {
      await consumer.disconnect();
    }
    for (const event of events) {
      const got = seen.get(event.execution_id)!;
      assert.equal(got.key, 'lope');
      assert.equal(got.value, canonicalRecordText(event.record!));
      assert.equal(got.headers.status, event.record!.status);
    }
    const cleanup = client.admin();
    await cleanup.connect();
    await cleanup.deleteTopics({ topics: [topic] }).catch(() => {});
    await cleanup.disconnect();
  });
});
