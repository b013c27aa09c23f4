import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import kafkajs from 'kafkajs';
import type { PartitionMetadata } from 'kafkajs';
import { KafkaChannelSchema } from '../../lib/config/alerting.js';
import { canonicalRecordText } from '../../lib/activity/signer.js';
import {
  availablePartitions,
  leastBytesPartition,
  leastBytesPartitioner,
  messageBytes,
  partitionerFor,
  roundRobinPartition,
  roundRobinPartitioner,
} from '../../lib/sinks/kafka-partitioners.js';
import { kafkaClientConfig, kafkaMessage, saslOptions } from '../../lib/sinks/kafka.js';
import { silentLog } from '../../lib/log/log.js';
import { kafkaActivities } from '../support/kafka-activities.js';

const activities = kafkaActivities();
after(() => activities.dispose());

function partitions(count: number, leaderless: number[] = []): PartitionMetadata[] {
  return Array.from({ length: count }, (_, id) => ({ partitionErrorCode: 0, partitionId: id, leader: leaderless.includes(id) ? -1 : 1, replicas: [1], isr: [1] }));
}

describe('LEAST_BYTES', () => {
  test('picks the partition with the fewest bytes, the lowest id on a tie', () => {
    assert.equal(leastBytesPartition([0, 1, 2], new Map()), 0);
    assert.equal(leastBytesPartition([0, 1, 2], new Map([[0, 10]])), 1);
    assert.equal(leastBytesPartition([2, 1, 0], new Map([[0, 10], [1, 5], [2, 5]])), 1);
    assert.equal(leastBytesPartition([0, 1, 2], new Map([[0, 120], [1, 40]])), 2);
    assert.throws(() => leastBytesPartition([], new Map()), /no partition/);
  });

  test('counts key and value bytes (UTF-8), as kafka-go does', () => {
    assert.equal(messageBytes({ key: 'ab', value: 'é' }), 4);
    assert.equal(messageBytes({ key: null, value: Buffer.alloc(7) }), 7);
  });

  test('a stateful partitioner balances bytes: each message goes where the fewest bytes went', () => {
    const partition = leastBytesPartitioner();
    const sizes = [100, 10, 10, 10, 50, 200, 5, 5];
    const chosen = sizes.map((size) => partition({ topic: 't', partitionMetadata: partitions(3), message: { key: null, value: 'x'.repeat(size) } }));
    // 100→0; 10→1; 10→2; 10→1 (10 vs 10: lowest); 50→2 (20 vs 10 → 2 has 10); 200→1 (0:100,1:20,2:60); 5→2; 5→2 (0:100,1:220,2:65→70)
    assert.deepEqual(chosen, [0, 1, 2, 1, 2, 1, 2, 2]);
  });

  test('counts per topic, and skips partitions without a leader', () => {
    const partition = leastBytesPartitioner();
    assert.equal(partition({ topic: 'a', partitionMetadata: partitions(2), message: { value: 'xxxx' } }), 0);
    assert.equal(partition({ topic: 'b', partitionMetadata: partitions(2), message: { value: 'x' } }), 0, 'topic b has its own counts');
    assert.equal(partition({ topic: 'a', partitionMetadata: partitions(2, [1]), message: { value: 'x' } }), 0, 'partition 1 has no leader');
  });
});

describe('ROUND_ROBIN', () => {
  test('rotates over the partitions, lowest first', () => {
    assert.deepEqual([0, 1, 2, 3, 4].map((turn) => roundRobinPartition([2, 0, 1], turn)), [0, 1, 2, 0, 1]);
    const partition = roundRobinPartitioner();
    const chosen = Array.from({ length: 7 }, () => partition({ topic: 't', partitionMetadata: partitions(3), message: { value: 'x' } }));
    assert.deepEqual(chosen, [0, 1, 2, 0, 1, 2, 0]);
  });

  test('only over partitions that have a leader (all of them if none has)', () => {
    assert.deepEqual(availablePartitions(partitions(4, [1, 3])), [0, 2]);
    assert.deepEqual(availablePartitions(partitions(2, [0, 1])), [0, 1]);
  });
});

describe('HASH', () => {
  test("is kafkajs's murmur2 partitioner: the same key always lands on the same partition", () => {
    assert.equal(partitionerFor('HASH'), kafkajs.Partitioners.DefaultPartitioner);
    const partition = partitionerFor('HASH')();
    const metadata = partitions(6);
    const forKey = (key: string) => partition({ topic: 't', partitionMetadata: metadata, message: { key, value: 'v' } });
    assert.equal(forKey('cafkit'), forKey('cafkit'));
    // murmur2 values from Kafka's own Java tests (UtilsTest.testMurmur2): the Java client's partition is positive(hash) % count.
    const java: Record<string, number> = { '21': -973932308, foobar: -790332482, 'a-little-bit-long-string': -985981536, 'a-little-bit-longer-string': -1486304829, abc: 479470107 };
    for (const [key, hash] of Object.entries(java)) assert.equal(forKey(key), (hash & 0x7fffffff) % 6, `key ${key}`);
  });
});

describe('partitionerFor', () => {
  test('LEAST_BYTES and ROUND_ROBIN partitioners keep their state across producers', () => {
    const create = partitionerFor('ROUND_ROBIN');
    const first = create()({ topic: 't', partitionMetadata: partitions(2), message: { value: 'x' } });
    const second = create()({ topic: 't', partitionMetadata: partitions(2), message: { value: 'x' } });
    assert.deepEqual([first, second], [0, 1]);
  });
});

describe('the message of an activity', () => {
  test('key, canonical JSON value, execution_id, status and content-type headers', () => {
    const record = activities.record({ status: 'failed' });
    const message = kafkaMessage(record, { key: 'lope', base64: false });
    assert.equal(message.key, 'lope');
    assert.equal(message.value, canonicalRecordText(record));
    assert.deepEqual(message.headers, { execution_id: record.execution_id, status: 'failed', 'content-type': 'application/json' });
  });

  test('base64: the same text encoded, and said so in content-type', () => {
    const record = activities.record();
    const message = kafkaMessage(record, { key: 'lope', base64: true });
    assert.equal(Buffer.from(String(message.value), 'base64').toString('utf8'), canonicalRecordText(record));
    assert.equal(message.headers['content-type'], 'text/plain; encoding=base64');
  });

  test('an empty key sends no key', () => {
    assert.equal(kafkaMessage(activities.record(), { key: '', base64: false }).key, null);
  });
});

describe('client options', () => {
  const base = { brokers: ['127.0.0.1:9092'], user: 'alice', password: 'pw-123456' };

  test('SASL mechanism from auth_mechanism and scram_hash', () => {
    assert.equal(saslOptions(KafkaChannelSchema.parse({ brokers: ['h:1'] })), undefined);
    assert.deepEqual(saslOptions(KafkaChannelSchema.parse({ ...base, auth_mechanism: 'PLAIN' })), { mechanism: 'plain', username: 'alice', password: 'pw-123456' });
    assert.equal(saslOptions(KafkaChannelSchema.parse({ ...base, auth_mechanism: 'SCRAM', scram_hash: 'SHA256' }))?.mechanism, 'scram-sha-256');
    assert.equal(saslOptions(KafkaChannelSchema.parse({ ...base, auth_mechanism: 'SCRAM' }))?.mechanism, 'scram-sha-512', 'SHA512 is the default');
  });

  test('timeouts from timeout_ms, clientId cafkit, TLS only when configured', () => {
    const plain = kafkaClientConfig(KafkaChannelSchema.parse({ ...base, timeout_ms: 1234 }), silentLog);
    assert.equal(plain.clientId, 'cafkit');
    assert.equal(plain.connectionTimeout, 1234);
    assert.equal(plain.requestTimeout, 1234);
    assert.equal(plain.ssl, undefined);
    const secure = kafkaClientConfig(KafkaChannelSchema.parse({ ...base, brokers: ['kafka-1.example:9093', 'kafka-2.example:9093'], tls: {} }), silentLog);
    assert.equal(typeof secure.ssl, 'object');
    const ssl = secure.ssl as Record<string, unknown>;
    assert.equal(ssl.rejectUnauthorized, true);
    // Each broker is checked against its own name, not the first one's.
    assert.equal('servername' in ssl, false);
  });
});
