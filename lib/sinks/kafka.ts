import kafkajs from 'kafkajs';
import type { Admin, KafkaConfig, logCreator, Message, Producer, RetryOptions, SASLOptions } from 'kafkajs';
import type { ConnectionOptions } from 'node:tls';
import type { ActivityEvent, ActivityRecord } from '../activity/record.js';
import type { ActivitySink } from '../activity/sink.js';
import type { ChannelTls, KafkaChannel } from '../config/alerting.js';
import type { Log } from '../log/log.js';
import { redact, registerSecret, scrub } from '../log/redact.js';
import { activityText, finalRecords, tlsConnectOptions } from './channel.js';
import { partitionerFor } from './kafka-partitioners.js';

const { Kafka, logLevel } = kafkajs;

/**
 * kafkajs's own retries, kept short: the reporter retries a failed delivery
 * as a whole (the same events again, with its own backoff), and a delivery
 * must fail within `timeout_ms`.
 */
const RETRY: RetryOptions = { retries: 2, initialRetryTime: 100, maxRetryTime: 1000 };

/**
 * Most activities in one produce request. A record is a few KiB; 100 stay
 * well under the 1 MiB a broker accepts in one batch by default
 * (`message.max.bytes`).
 */
const MAX_BATCH = 100;

/**
 * The Kafka channel: each final activity produced as one message to `topic`
 * (key `key`, Lope's `event_key`; value the signed canonical JSON, base64 with
 * `base64`; headers `execution_id`, `status` and `content-type`), spread over
 * the partitions by `distribution` (see kafka-partitioners.ts), acknowledged by
 * all in-sync replicas (acks -1). TLS when `tls` is given, SASL PLAIN or
 * SCRAM-SHA-256/512 with `auth_mechanism`.
 *
 * The producer connects on the first delivery, not at start, so a broker
 * that is down at start only delays the activities. With `create_topic`, the
 * topic is created then (`partitions`, `replication_factor`) unless it
 * exists; without, a missing topic fails every delivery with an error naming
 * it. A delivery fails within `timeout_ms` (the broker list and the cause in
 * the error, never a password), and the producer is then dropped, so the
 * reporter's retry starts on fresh connections.
 *
 * @example
 * const kafka = createKafkaSink(config.alerting.kafka, { log, home });
 * const reporter = new Reporter([fileStore, kafka], { spillDir, log });
 * // ... at shutdown, after reporter.drain():
 * await kafka.close();
 */
export function createKafkaSink(config: KafkaChannel, deps: { log: Log; home: string }): ActivitySink & { close(): Promise<void> } {
  const { log } = deps;
  registerSecret(config.password);
  registerSecret(config.tls?.passphrase);
  const brokers = config.brokers.join(',');
  const kafka = new Kafka(kafkaClientConfig(config, log));
  // Made once: LEAST_BYTES and ROUND_ROBIN keep counting across new producers.
  const createPartitioner = partitionerFor(config.distribution);
  let session: { producer: Producer; admin?: Admin; ready: boolean } | undefined;
  let topicReady = !config.create_topic;
  let closed = false;

  async function connected(): Promise<Producer> {
    if (session?.ready) return session.producer;
    const current: NonNullable<typeof session> = {
      producer: kafka.producer({ createPartitioner, allowAutoTopicCreation: false, retry: RETRY }),
      ready: false,
    };
    session = current;
    if (!topicReady) {
      current.admin = kafka.admin({ retry: RETRY });
      await current.admin.connect();
      await ensureTopic(current.admin);
      await current.admin.disconnect();
      current.admin = undefined;
      topicReady = true;
    }
    await current.producer.connect();
    // An attempt that outlived its deadline must not install its producer.
    if (session !== current) throw new Error('superseded by a newer attempt');
    current.ready = true;
    return current.producer;
  }

  async function ensureTopic(admin: Admin): Promise<void> {
    const topics = await admin.listTopics();
    if (topics.includes(config.topic)) return;
    const created = await admin.createTopics({
      topics: [{ topic: config.topic, numPartitions: config.partitions, replicationFactor: config.replication_factor }],
      waitForLeaders: true,
      timeout: config.timeout_ms,
    });
    // false: someone else created it in between, which is just as good.
    if (created) log.info('kafka: topic created', { topic: config.topic, partitions: config.partitions, replication_factor: config.replication_factor, brokers });
  }

  /** Drops the current producer (and admin), disconnecting them: the next delivery starts afresh. */
  async function reset(): Promise<void> {
    const old = session;
    session = undefined;
    if (!old) return;
    await Promise.all([old.producer.disconnect(), old.admin?.disconnect()].map((p) => withDeadline(Promise.resolve(p), config.timeout_ms).catch(() => {})));
  }

  async function send(events: readonly ActivityEvent[]): Promise<void> {
    const messages = events.flatMap((event) => (event.record ? [kafkaMessage(event.record, config)] : []));
    if (messages.length === 0) return;
    if (closed) throw new Error(`kafka: the sink is closed; ${messages.length} activities not sent to topic "${config.topic}"`);
    try {
      await withDeadline(
        connected().then((producer) => producer.send({ topic: config.topic, acks: -1, timeout: config.timeout_ms, messages })),
        config.timeout_ms,
      );
      log.debug('kafka: activities produced', { topic: config.topic, activities: messages.length, brokers });
    } catch (error) {
      await reset();
      throw new Error(`kafka: cannot deliver ${messages.length === 1 ? 'an activity' : `${messages.length} activities`} to topic "${config.topic}" on brokers ${brokers}: ${describe(error, config)}`);
    }
  }

  return {
    name: 'kafka',
    accepts: finalRecords(config.statuses),
    maxBatch: MAX_BATCH,
    deliver: (event) => send([event]),
    deliverBatch: (events) => send(events),
    async close() {
      closed = true;
      await reset();
    },
  };
}

/**
 * The message for one activity.
 *
 * @example
 * kafkaMessage(record, { key: 'cafkit', base64: false })
 * // { key: 'cafkit', value: '{"action_id":12,...}', headers: { execution_id, status, 'content-type': 'application/json' } }
 */
export function kafkaMessage(record: ActivityRecord, config: Pick<KafkaChannel, 'key' | 'base64'>): Message & { headers: Record<string, string> } {
  return {
    // An empty event_key means no key: HASH then spreads like kafkajs does for keyless messages.
    key: config.key === '' ? null : config.key,
    value: activityText(record, config.base64),
    headers: {
      execution_id: record.execution_id,
      status: record.status,
      'content-type': config.base64 ? 'text/plain; encoding=base64' : 'application/json',
    },
  };
}

/** kafkajs's client options for `config`: brokers, timeouts, TLS, SASL, logging. */
export function kafkaClientConfig(config: KafkaChannel, log: Log): KafkaConfig {
  return {
    clientId: 'cafkit',
    brokers: config.brokers,
    connectionTimeout: config.timeout_ms,
    authenticationTimeout: config.timeout_ms,
    requestTimeout: config.timeout_ms,
    retry: RETRY,
    ssl: config.tls ? kafkaTls(config.tls, config.brokers, log) : undefined,
    sasl: saslOptions(config),
    logLevel: log.isLevelEnabled?.('debug') ? logLevel.DEBUG : logLevel.WARN,
    logCreator: kafkaLogCreator(log),
  };
}

/** SASL options for `auth_mechanism` (and `scram_hash`); undefined for NONE. */
export function saslOptions(config: Pick<KafkaChannel, 'auth_mechanism' | 'scram_hash' | 'user' | 'password'>): SASLOptions | undefined {
  const credentials = { username: config.user, password: config.password };
  switch (config.auth_mechanism) {
    case 'NONE':
      return undefined;
    case 'PLAIN':
      return { mechanism: 'plain', ...credentials };
    case 'SCRAM':
      return config.scram_hash === 'SHA256' ? { mechanism: 'scram-sha-256', ...credentials } : { mechanism: 'scram-sha-512', ...credentials };
  }
}

/** Node TLS options for every broker kafkajs dials (seed brokers and those metadata names). */
function kafkaTls(tls: ChannelTls, brokers: readonly string[], log: Log): ConnectionOptions {
  const firstHost = brokers[0]!.slice(0, brokers[0]!.lastIndexOf(':'));
  const options = tlsConnectOptions('kafka', tls, firstHost, log);
  // kafkajs names each broker it dials (SNI and the certificate check) unless
  // servername is set: set it only when configured, or every broker would be
  // checked against the first one's name. Undefined keys are left out, as
  // kafkajs merges these over its own.
  if (tls.servername === undefined) delete options.servername;
  return Object.fromEntries(Object.entries(options).filter(([, value]) => value !== undefined)) as ConnectionOptions;
}

/**
 * kafkajs's log lines into ours. Its errors are the details of a failed
 * delivery, which the reporter already reports (once per interval, with the
 * cause), so they go to debug rather than repeating at every retry; its
 * warnings (configuration) stay warnings. Secrets are scrubbed.
 */
function kafkaLogCreator(log: Log): logCreator {
  return () => ({ namespace, level, log: entry }) => {
    // Raw response bytes (`payload`) say nothing a reader can use.
    const { message, timestamp: _timestamp, logger: _logger, stack: _stack, payload: _payload, ...extra } = entry;
    const meta = redact({ kafkajs: namespace, ...extra }) as Record<string, unknown>;
    const text = `kafka: ${scrub(String(message))}`;
    if (level === logLevel.WARN) log.warn(text, meta);
    else log.debug(text, meta);
  };
}

/** `promise`, or a rejection once `ms` have passed. The loser's outcome is ignored. */
function withDeadline<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  promise.catch(() => {});
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}

/** An error's message with its causes, a hint for a missing topic, never a password. */
function describe(error: unknown, config: Pick<KafkaChannel, 'create_topic'>): string {
  const parts: string[] = [];
  let missingTopic = false;
  const visit = (e: unknown, depth: number): void => {
    if (e === undefined || e === null || depth > 5) return;
    const message = e instanceof Error ? e.message : String(e);
    if (message && !parts.includes(message)) parts.push(message);
    if ((e as { type?: unknown }).type === 'UNKNOWN_TOPIC_OR_PARTITION') missingTopic = true;
    // kafkajs's KafkaJSAggregateError (topic creation) keeps the reasons in `errors`.
    const errors = (e as { errors?: unknown }).errors;
    if (Array.isArray(errors)) for (const inner of errors) visit(inner, depth + 1);
    if (e instanceof Error) visit(e.cause, depth + 1);
  };
  visit(error, 0);
  if (missingTopic && !config.create_topic) parts.push('the topic does not exist (create it, or set create_topic: true)');
  return scrub(parts.join(': '));
}
