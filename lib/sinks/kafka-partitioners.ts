import kafkajs from 'kafkajs';
import type { ICustomPartitioner, PartitionerArgs, PartitionMetadata } from 'kafkajs';
import type { KafkaChannel } from '../config/alerting.js';

/**
 * How the Kafka channel spreads messages over a topic's partitions, Lope's
 * `distribution`, named after segmentio/kafka-go's balancers:
 * - `LEAST_BYTES`: the partition that has received the fewest bytes (key +
 *   value, as kafka-go counts them) from this producer so far; ties go to the
 *   lowest partition number.
 * - `ROUND_ROBIN`: each partition in turn, lowest first.
 * - `HASH`: murmur2 of the key, modulo the partition count: kafkajs's
 *   default partitioner, the same partition the Java client picks.
 *
 * The choices are pure functions ({@link leastBytesPartition},
 * {@link roundRobinPartition}); the partitioners below hold their state
 * (bytes or turn per topic) for one sink, across producer reconnections.
 */

/** The partitions a message may go to: those with a leader, ascending; all of them when none has one. */
export function availablePartitions(metadata: readonly Pick<PartitionMetadata, 'partitionId' | 'leader'>[]): number[] {
  const led = metadata.filter((p) => p.leader >= 0);
  return (led.length > 0 ? led : metadata).map((p) => p.partitionId).sort((a, b) => a - b);
}

/**
 * The partition among `partitions` that has received the fewest bytes so
 * far (`sent`, by partition id; absent means none); ties go to the lowest id.
 *
 * @example
 * leastBytesPartition([0, 1, 2], new Map([[0, 120], [1, 40]])) // 2
 */
export function leastBytesPartition(partitions: readonly number[], sent: ReadonlyMap<number, number>): number {
  let best: number | undefined;
  let bestBytes = Infinity;
  for (const partition of [...partitions].sort((a, b) => a - b)) {
    const bytes = sent.get(partition) ?? 0;
    if (bytes < bestBytes) {
      best = partition;
      bestBytes = bytes;
    }
  }
  if (best === undefined) throw new Error('no partition to choose from');
  return best;
}

/**
 * The partition for turn number `turn` (0, 1, 2...) in a rotation over
 * `partitions`, lowest id first.
 *
 * @example
 * roundRobinPartition([0, 1, 2], 4) // 1
 */
export function roundRobinPartition(partitions: readonly number[], turn: number): number {
  if (partitions.length === 0) throw new Error('no partition to choose from');
  const sorted = [...partitions].sort((a, b) => a - b);
  return sorted[turn % sorted.length]!;
}

/** Bytes a message weighs for `LEAST_BYTES`: its key and value, as kafka-go's LeastBytes counts them. */
export function messageBytes(message: Pick<PartitionerArgs['message'], 'key' | 'value'>): number {
  return sizeOf(message.key) + sizeOf(message.value);
}

function sizeOf(data: Buffer | string | null | undefined): number {
  if (data === null || data === undefined) return 0;
  return typeof data === 'string' ? Buffer.byteLength(data, 'utf8') : data.length;
}

type Partition = (args: PartitionerArgs) => number;

/** A `LEAST_BYTES` partitioner: bytes counted per topic and partition for as long as it lives. */
export function leastBytesPartitioner(): Partition {
  const sentByTopic = new Map<string, Map<number, number>>();
  return ({ topic, partitionMetadata, message }) => {
    let sent = sentByTopic.get(topic);
    if (!sent) sentByTopic.set(topic, (sent = new Map()));
    const partition = leastBytesPartition(availablePartitions(partitionMetadata), sent);
    sent.set(partition, (sent.get(partition) ?? 0) + messageBytes(message));
    return partition;
  };
}

/** A `ROUND_ROBIN` partitioner: a turn counter per topic. */
export function roundRobinPartitioner(): Partition {
  const turns = new Map<string, number>();
  return ({ topic, partitionMetadata }) => {
    const turn = turns.get(topic) ?? 0;
    turns.set(topic, turn + 1);
    return roundRobinPartition(availablePartitions(partitionMetadata), turn);
  };
}

/**
 * kafkajs's `createPartitioner` for a distribution. The partitioner is made
 * once, here, so the bytes and turns it counts survive the producer being
 * made anew after a failure.
 *
 * @example
 * kafka.producer({ createPartitioner: partitionerFor(config.distribution) })
 */
export function partitionerFor(distribution: KafkaChannel['distribution']): ICustomPartitioner {
  if (distribution === 'HASH') return kafkajs.Partitioners.DefaultPartitioner;
  const partition = distribution === 'ROUND_ROBIN' ? roundRobinPartitioner() : leastBytesPartitioner();
  return () => partition;
}
