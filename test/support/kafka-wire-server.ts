/**
 * A single-broker Kafka server, on 127.0.0.1, that speaks the wire protocol
 * far enough for a producer: the requests kafkajs 2.2.4 sends to connect,
 * authenticate, read metadata, create a topic and produce.
 *
 * What it implements (api key: versions advertised in ApiVersions; kafkajs
 * takes the highest it also knows):
 * - ApiVersions (18): 0-2. A higher version is answered the way Kafka does,
 *   UNSUPPORTED_VERSION in the v0 layout, and the client retries lower.
 * - Metadata (3): 0-6. One broker (node 1, itself, also the controller);
 *   every topic it holds, or those asked for; UNKNOWN_TOPIC_OR_PARTITION for
 *   the others. Never creates a topic (auto-create is off, whatever
 *   allow_auto_topic_creation says).
 * - Produce (0): 3-7 (the versions that carry RecordBatch v2). Decodes each
 *   batch (magic 2, CRC-32C checked, attributes, varint records, headers),
 *   refuses compressed batches (UNSUPPORTED_COMPRESSION_TYPE), a bad CRC or
 *   a malformed record (CORRUPT_MESSAGE), and an unknown topic or partition
 *   (UNKNOWN_TOPIC_OR_PARTITION); answers per partition with the base offset.
 *   acks 0 gets no answer, as in Kafka.
 * - CreateTopics (19): 0-3. TOPIC_ALREADY_EXISTS, INVALID_PARTITIONS,
 *   INVALID_REPLICATION_FACTOR (above 1: one broker), validate_only.
 * - SaslHandshake (17): 1 only (v0's raw SASL frames are not implemented).
 * - SaslAuthenticate (36): 0-1. PLAIN (RFC 4616) and SCRAM-SHA-256 /
 *   SCRAM-SHA-512 (RFC 5802 / 7677: the server keeps only the salt, the
 *   iteration count, StoredKey and ServerKey; it checks the client proof and
 *   sends its signature). A wrong password or unknown user gets
 *   SASL_AUTHENTICATION_FAILED with Kafka's message. With users configured,
 *   any other request before authentication closes the connection, as Kafka
 *   does.
 * - TLS (`tls: { cert, key }`), any request header v1 (no flexible versions).
 *
 * kafkajs 2.2.4 negotiates (and test/e2e/alert-kafka.test.ts pins):
 * ApiVersions v2, SaslHandshake v1, SaslAuthenticate v1, Metadata v6,
 * CreateTopics v3, Produce v7; a non-idempotent producer sends nothing else.
 *
 * What it does not: replication, more than one broker, leader epochs,
 * consumers (Fetch, ListOffsets, the group protocol), idempotent or
 * transactional producers (InitProducerId...), compression, quotas, ACLs,
 * SASLprep of passwords, SASL re-authentication. Any other request (api
 * key or version) is counted in `unsupported`, logged, and the connection
 * closed (what Kafka does with a request it cannot parse).
 *
 * `silent: true` accepts connections and reads requests but never answers:
 * a broker that hangs.
 */
import { createHash, createHmac, pbkdf2Sync, randomBytes, timingSafeEqual } from 'node:crypto';
import net from 'node:net';
import tls from 'node:tls';

/** One record as the server stored it. */
export interface ReceivedRecord {
  topic: string;
  partition: number;
  offset: number;
  key: Buffer | null;
  value: Buffer | null;
  headers: Record<string, string>;
  timestamp: number;
}

export interface KafkaWireServerOptions {
  /** Port to listen on (0: any free one). */
  port?: number;
  /** Topics that exist at start, with their partition count. */
  topics?: Record<string, number>;
  /** Server certificate and key (PEM): the server speaks TLS. */
  tls?: { cert: string | Buffer; key: string | Buffer };
  /** SASL users (name → password): authentication is then required. */
  users?: Record<string, string>;
  /** Accept and read, never answer. */
  silent?: boolean;
  /** Where unsupported requests are reported (default: stderr). */
  log?: (line: string) => void;
}

export interface KafkaWireServer {
  readonly port: number;
  /** `127.0.0.1:<port>`, for a client's broker list. */
  readonly address: string;
  /** Every record produced, in the order received. */
  readonly records: ReceivedRecord[];
  /** Requests received, by api key, then by version. */
  readonly requests: Map<number, Map<number, number>>;
  /** Requests it could not answer (`apiKey/version`). */
  readonly unsupported: string[];
  /** Successful and failed SASL authentications, by mechanism. */
  readonly authentications: { mechanism: string; user: string; ok: boolean }[];
  /** Partition count of each topic. */
  topics(): Record<string, number>;
  /** Records per partition of `topic`. */
  countsByPartition(topic: string): number[];
  /** Requests received with this api key (all versions). */
  requestCount(apiKey: number): number;
  /** Adds a topic (as if created by an operator). */
  createTopic(name: string, partitions: number): void;
  /** Client connections open now. */
  connectionCount(): number;
  stop(): Promise<void>;
}

export const API = {
  Produce: 0,
  Metadata: 3,
  SaslHandshake: 17,
  ApiVersions: 18,
  CreateTopics: 19,
  SaslAuthenticate: 36,
} as const;

const SUPPORTED: Record<number, [min: number, max: number]> = {
  [API.Produce]: [3, 7],
  [API.Metadata]: [0, 6],
  [API.SaslHandshake]: [1, 1],
  [API.ApiVersions]: [0, 2],
  [API.CreateTopics]: [0, 3],
  [API.SaslAuthenticate]: [0, 1],
};

const ERROR = {
  NONE: 0,
  CORRUPT_MESSAGE: 2,
  UNKNOWN_TOPIC_OR_PARTITION: 3,
  UNSUPPORTED_SASL_MECHANISM: 33,
  ILLEGAL_SASL_STATE: 34,
  UNSUPPORTED_VERSION: 35,
  TOPIC_ALREADY_EXISTS: 36,
  INVALID_PARTITIONS: 37,
  INVALID_REPLICATION_FACTOR: 38,
  SASL_AUTHENTICATION_FAILED: 58,
  UNSUPPORTED_COMPRESSION_TYPE: 76,
} as const;

const NODE_ID = 1;
const HOST = '127.0.0.1';
const SCRAM_ITERATIONS = 4096;
const SCRAM_HASHES = { 'SCRAM-SHA-256': 'sha256', 'SCRAM-SHA-512': 'sha512' } as const;
type ScramMechanism = keyof typeof SCRAM_HASHES;

/** What the server keeps of a SCRAM password (RFC 5802 §3): never the password itself. */
interface ScramCredential {
  salt: Buffer;
  iterations: number;
  storedKey: Buffer;
  serverKey: Buffer;
}

function scramCredential(password: string, hash: string): ScramCredential {
  const salt = randomBytes(16);
  const salted = pbkdf2Sync(password, salt, SCRAM_ITERATIONS, createHash(hash).digest().length, hash);
  const clientKey = createHmac(hash, salted).update('Client Key').digest();
  return {
    salt,
    iterations: SCRAM_ITERATIONS,
    storedKey: createHash(hash).update(clientKey).digest(),
    serverKey: createHmac(hash, salted).update('Server Key').digest(),
  };
}

/** Starts a server; stop it with `stop()`. */
export async function startKafkaWireServer(options: KafkaWireServerOptions = {}): Promise<KafkaWireServer> {
  const partitions = new Map<string, { nextOffset: number }[]>();
  const records: ReceivedRecord[] = [];
  const requests = new Map<number, Map<number, number>>();
  const unsupported: string[] = [];
  const authentications: KafkaWireServer['authentications'] = [];
  const report = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const users = options.users;
  const plainUsers = new Map(Object.entries(users ?? {}));
  const scramUsers = new Map<ScramMechanism, Map<string, ScramCredential>>();
  for (const [mechanism, hash] of Object.entries(SCRAM_HASHES) as [ScramMechanism, string][]) {
    scramUsers.set(mechanism, new Map(Object.entries(users ?? {}).map(([user, password]) => [user, scramCredential(password, hash)])));
  }
  const mechanisms = users ? ['PLAIN', ...Object.keys(SCRAM_HASHES)] : [];

  function createTopic(name: string, count: number): void {
    partitions.set(name, Array.from({ length: count }, () => ({ nextOffset: 0 })));
  }
  for (const [name, count] of Object.entries(options.topics ?? {})) createTopic(name, count);

  const sockets = new Set<net.Socket>();
  let port = 0;

  function onConnection(socket: net.Socket): void {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    const connection = new Connection(socket);
    let pending = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      pending = Buffer.concat([pending, chunk]);
      while (pending.length >= 4) {
        const size = pending.readInt32BE(0);
        if (size < 0 || size > 100 * 1024 * 1024) return void socket.destroy();
        if (pending.length < 4 + size) break;
        const frame = pending.subarray(4, 4 + size);
        pending = pending.subarray(4 + size);
        try {
          connection.handle(frame);
        } catch (error) {
          report(`kafka-wire-server: bad request: ${(error as Error).message}`);
          socket.destroy();
          return;
        }
      }
    });
  }

  /** One client connection: its SASL state and its requests. */
  class Connection {
    private authenticated = !users;
    private mechanism: string | undefined;
    private scram: { mechanism: ScramMechanism; user: string; credential: ScramCredential; nonce: string; clientFirstBare: string; serverFirst: string } | undefined;

    constructor(private readonly socket: net.Socket) {}

    handle(frame: Buffer): void {
      const reader = new Reader(frame);
      const apiKey = reader.int16();
      const version = reader.int16();
      const correlationId = reader.int32();
      reader.string(); // client id
      const byVersion = requests.get(apiKey) ?? new Map<number, number>();
      byVersion.set(version, (byVersion.get(version) ?? 0) + 1);
      requests.set(apiKey, byVersion);
      if (options.silent) return;
      const range = SUPPORTED[apiKey];
      if (apiKey === API.ApiVersions && range && version > range[1]) {
        // Kafka's answer to a too-new ApiVersions: v0 layout, so any client can read it.
        return this.reply(correlationId, apiVersionsBody(0, ERROR.UNSUPPORTED_VERSION));
      }
      if (!range || version < range[0] || version > range[1]) {
        unsupported.push(`${apiKey}/${version}`);
        report(`kafka-wire-server: unsupported request api key ${apiKey} version ${version}; closing the connection`);
        return void this.socket.destroy();
      }
      const preAuth = apiKey === API.ApiVersions || apiKey === API.SaslHandshake || apiKey === API.SaslAuthenticate;
      if (!this.authenticated && !preAuth) {
        report(`kafka-wire-server: api key ${apiKey} before SASL authentication; closing the connection`);
        return void this.socket.destroy();
      }
      switch (apiKey) {
        case API.ApiVersions:
          return this.reply(correlationId, apiVersionsBody(version, ERROR.NONE));
        case API.Metadata:
          return this.reply(correlationId, metadata(version, reader));
        case API.Produce: {
          const answer = produce(version, reader);
          if (answer) this.reply(correlationId, answer);
          return;
        }
        case API.CreateTopics:
          return this.reply(correlationId, createTopics(version, reader));
        case API.SaslHandshake:
          return this.reply(correlationId, this.handshake(reader));
        case API.SaslAuthenticate:
          return this.saslAuthenticate(correlationId, version, reader);
      }
    }

    private reply(correlationId: number, body: Writer): void {
      const payload = body.buffer();
      const head = Buffer.alloc(8);
      head.writeInt32BE(payload.length + 4, 0);
      head.writeInt32BE(correlationId, 4);
      this.socket.write(Buffer.concat([head, payload]));
    }

    private handshake(reader: Reader): Writer {
      const mechanism = reader.string() ?? '';
      const out = new Writer();
      if (!users) return out.int16(ERROR.ILLEGAL_SASL_STATE).array(mechanisms, (w, m) => w.string(m));
      if (!mechanisms.includes(mechanism)) return out.int16(ERROR.UNSUPPORTED_SASL_MECHANISM).array(mechanisms, (w, m) => w.string(m));
      this.mechanism = mechanism;
      this.scram = undefined;
      return out.int16(ERROR.NONE).array(mechanisms, (w, m) => w.string(m));
    }

    private saslAuthenticate(correlationId: number, version: number, reader: Reader): void {
      const token = reader.bytes() ?? Buffer.alloc(0);
      const answer = (errorCode: number, message: string | null, bytes: Buffer) => {
        const out = new Writer().int16(errorCode).string(message).bytes(bytes);
        if (version >= 1) out.int64(0n); // session_lifetime_ms: no re-authentication
        this.reply(correlationId, out);
      };
      const refuse = (user: string, message: string) => {
        authentications.push({ mechanism: this.mechanism ?? '', user, ok: false });
        answer(ERROR.SASL_AUTHENTICATION_FAILED, message, Buffer.alloc(0));
        // Kafka closes the connection after a failed authentication.
        this.socket.end();
      };
      if (!this.mechanism || this.authenticated) return answer(ERROR.ILLEGAL_SASL_STATE, 'SaslAuthenticate without a SaslHandshake first', Buffer.alloc(0));
      if (this.mechanism === 'PLAIN') {
        const [, user = '', password = ''] = token.toString('utf8').split('\0');
        const expected = plainUsers.get(user);
        if (expected === undefined || !sameBytes(Buffer.from(password), Buffer.from(expected))) {
          return refuse(user, 'Authentication failed: Invalid username or password');
        }
        this.authenticated = true;
        authentications.push({ mechanism: 'PLAIN', user, ok: true });
        return answer(ERROR.NONE, null, Buffer.alloc(0));
      }
      const mechanism = this.mechanism as ScramMechanism;
      const hash = SCRAM_HASHES[mechanism];
      const failed = `Authentication failed during authentication due to invalid credentials with SASL mechanism ${mechanism}`;
      if (!this.scram) {
        // client-first-message: gs2-header "n,," (no channel binding, no authzid), then n=user,r=nonce.
        const text = token.toString('utf8');
        const match = /^[ny],,(n=([^,]*),r=([^,]+)(?:,.*)?)$/.exec(text);
        if (!match) return refuse('', `${failed}: malformed client-first-message`);
        const user = match[2]!.replace(/=2C/g, ',').replace(/=3D/g, '=');
        const credential = scramUsers.get(mechanism)?.get(user);
        if (!credential) return refuse(user, failed);
        const nonce = match[3]! + randomBytes(18).toString('base64url');
        const serverFirst = `r=${nonce},s=${credential.salt.toString('base64')},i=${credential.iterations}`;
        this.scram = { mechanism, user, credential, nonce, clientFirstBare: match[1]!, serverFirst };
        return answer(ERROR.NONE, null, Buffer.from(serverFirst, 'utf8'));
      }
      // client-final-message: c=base64(gs2-header),r=nonce,p=proof.
      const { user, credential, nonce, clientFirstBare, serverFirst } = this.scram;
      this.scram = undefined;
      const text = token.toString('utf8');
      const match = /^(c=([^,]*),r=([^,]*)),p=([^,]+)$/.exec(text);
      if (!match || match[3] !== nonce || !['n,,', 'y,,'].includes(Buffer.from(match[2]!, 'base64').toString('utf8'))) return refuse(user, failed);
      const authMessage = `${clientFirstBare},${serverFirst},${match[1]}`;
      const clientSignature = createHmac(hash, credential.storedKey).update(authMessage).digest();
      const proof = Buffer.from(match[4]!, 'base64');
      if (proof.length !== clientSignature.length) return refuse(user, failed);
      const clientKey = Buffer.from(proof.map((byte, i) => byte ^ clientSignature[i]!));
      if (!sameBytes(createHash(hash).update(clientKey).digest(), credential.storedKey)) return refuse(user, failed);
      this.authenticated = true;
      authentications.push({ mechanism, user, ok: true });
      const serverSignature = createHmac(hash, credential.serverKey).update(authMessage).digest('base64');
      return answer(ERROR.NONE, null, Buffer.from(`v=${serverSignature}`, 'utf8'));
    }
  }

  function apiVersionsBody(version: number, errorCode: number): Writer {
    const out = new Writer().int16(errorCode).array(Object.entries(SUPPORTED), (w, [key, [min, max]]) => w.int16(Number(key)).int16(min).int16(max));
    if (version >= 1) out.int32(0); // throttle_time_ms
    return out;
  }

  function metadata(version: number, reader: Reader): Writer {
    const asked = reader.nullableArray((r) => r.string() ?? '');
    if (version >= 4) reader.boolean(); // allow_auto_topic_creation: ignored, auto-create is off
    // v0: an empty list means every topic; v1+: null does.
    const names = asked === null || (version === 0 && asked.length === 0) ? [...partitions.keys()] : asked;
    const out = new Writer();
    if (version >= 3) out.int32(0); // throttle_time_ms
    out.array([0], (w) => {
      w.int32(NODE_ID).string(HOST).int32(port);
      if (version >= 1) w.string(null); // rack
    });
    if (version >= 2) out.string('cafkit-wire-server'); // cluster_id
    if (version >= 1) out.int32(NODE_ID); // controller_id
    out.array(names, (w, name) => {
      const topic = partitions.get(name);
      w.int16(topic ? ERROR.NONE : ERROR.UNKNOWN_TOPIC_OR_PARTITION).string(name);
      if (version >= 1) w.boolean(false); // is_internal
      w.array(topic ?? [], (p, _partition, index) => {
        p.int16(ERROR.NONE).int32(index).int32(NODE_ID).array([NODE_ID], (x, id) => x.int32(id)).array([NODE_ID], (x, id) => x.int32(id));
        if (version >= 5) p.array([], () => {}); // offline_replicas
      });
    });
    return out;
  }

  function produce(version: number, reader: Reader): Writer | undefined {
    reader.string(); // transactional_id
    const acks = reader.int16();
    reader.int32(); // timeout
    const answers = reader.array((topicReader) => {
      const topic = topicReader.string() ?? '';
      const perPartition = topicReader.array((r) => {
        const partition = r.int32();
        const recordSet = r.bytes() ?? Buffer.alloc(0);
        const log = partitions.get(topic)?.[partition];
        if (!log) return { partition, errorCode: ERROR.UNKNOWN_TOPIC_OR_PARTITION, baseOffset: -1 };
        let decoded: DecodedRecord[];
        try {
          decoded = decodeRecordBatches(recordSet);
        } catch (error) {
          const errorCode = error instanceof BatchError ? error.code : ERROR.CORRUPT_MESSAGE;
          report(`kafka-wire-server: produce to ${topic}/${partition} refused: ${(error as Error).message}`);
          return { partition, errorCode, baseOffset: -1 };
        }
        // Offsets are given only once the whole record set decoded: all or nothing, as Kafka appends a batch.
        const baseOffset = log.nextOffset;
        for (const record of decoded) {
          records.push({ topic, partition, offset: log.nextOffset++, key: record.key, value: record.value, headers: record.headers, timestamp: record.timestamp });
        }
        return { partition, errorCode: ERROR.NONE, baseOffset };
      });
      return { topic, perPartition };
    });
    if (acks === 0) return undefined;
    const out = new Writer().array(answers, (w, { topic, perPartition }) => {
      w.string(topic).array(perPartition, (p, { partition, errorCode, baseOffset }) => {
        p.int32(partition).int16(errorCode).int64(BigInt(baseOffset)).int64(-1n); // log_append_time: -1 (CreateTime topics)
        if (version >= 5) p.int64(0n); // log_start_offset
      });
    });
    return out.int32(0); // throttle_time_ms
  }

  function createTopics(version: number, reader: Reader): Writer {
    const wanted = reader.array((r) => {
      const topic = r.string() ?? '';
      const numPartitions = r.int32();
      const replicationFactor = r.int16();
      r.array((a) => {
        a.int32();
        a.array((x) => x.int32());
      });
      r.array((c) => {
        c.string();
        c.string();
      });
      return { topic, numPartitions, replicationFactor };
    });
    reader.int32(); // timeout
    const validateOnly = version >= 1 ? reader.boolean() : false;
    const results = wanted.map(({ topic, numPartitions, replicationFactor }) => {
      if (partitions.has(topic)) return { topic, errorCode: ERROR.TOPIC_ALREADY_EXISTS, message: `Topic '${topic}' already exists.` };
      if (numPartitions === 0 || numPartitions < -1) return { topic, errorCode: ERROR.INVALID_PARTITIONS, message: 'Number of partitions must be larger than 0.' };
      if (replicationFactor > 1) return { topic, errorCode: ERROR.INVALID_REPLICATION_FACTOR, message: `Replication factor: ${replicationFactor} larger than available brokers: 1.` };
      if (!validateOnly) createTopic(topic, numPartitions === -1 ? 1 : numPartitions);
      return { topic, errorCode: ERROR.NONE, message: null };
    });
    const out = new Writer();
    if (version >= 2) out.int32(0); // throttle_time_ms
    return out.array(results, (w, { topic, errorCode, message }) => {
      w.string(topic).int16(errorCode);
      if (version >= 1) w.string(message);
    });
  }

  const server = options.tls ? tls.createServer({ cert: options.tls.cert, key: options.tls.key }, onConnection) : net.createServer(onConnection);
  if (options.tls) server.on('tlsClientError', () => {});
  // Every TCP connection, TLS handshakes in progress included, so stop() ends them all.
  const raw = new Set<net.Socket>();
  server.on('connection', (socket: net.Socket) => {
    raw.add(socket);
    socket.on('close', () => raw.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, HOST, () => {
      server.off('error', reject);
      resolve();
    });
  });
  port = (server.address() as net.AddressInfo).port;

  return {
    port,
    address: `${HOST}:${port}`,
    records,
    requests,
    unsupported,
    authentications,
    topics: () => Object.fromEntries([...partitions].map(([name, list]) => [name, list.length])),
    countsByPartition: (topic) => (partitions.get(topic) ?? []).map((_, index) => records.filter((r) => r.topic === topic && r.partition === index).length),
    requestCount: (apiKey) => [...(requests.get(apiKey)?.values() ?? [])].reduce((a, b) => a + b, 0),
    createTopic,
    connectionCount: () => sockets.size,
    stop: () =>
      new Promise<void>((resolve) => {
        for (const socket of [...sockets, ...raw]) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

// --- RecordBatch v2 (magic 2) ---

interface DecodedRecord {
  key: Buffer | null;
  value: Buffer | null;
  headers: Record<string, string>;
  timestamp: number;
}

class BatchError extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

/**
 * The records of a record set: one or more RecordBatch v2, each
 *   baseOffset int64, batchLength int32, partitionLeaderEpoch int32, magic int8,
 *   crc uint32 (CRC-32C of everything after it), attributes int16,
 *   lastOffsetDelta int32, firstTimestamp int64, maxTimestamp int64,
 *   producerId int64, producerEpoch int16, baseSequence int32, records [Record]
 * and each Record
 *   length varint, attributes int8, timestampDelta varlong, offsetDelta varint,
 *   key varint-bytes, value varint-bytes, headers [varint-string varint-bytes].
 */
export function decodeRecordBatches(recordSet: Buffer): DecodedRecord[] {
  const out: DecodedRecord[] = [];
  const reader = new Reader(recordSet);
  while (reader.remaining() > 0) {
    reader.int64(); // baseOffset, set by the broker
    const batchLength = reader.int32();
    const batch = new Reader(reader.take(batchLength));
    batch.int32(); // partitionLeaderEpoch
    const magic = batch.int8();
    if (magic !== 2) throw new BatchError(ERROR.CORRUPT_MESSAGE, `magic ${magic}, only RecordBatch v2 (magic 2) is implemented`);
    const crc = batch.uint32();
    const body = batch.rest();
    const actual = crc32c(body);
    if (actual !== crc) throw new BatchError(ERROR.CORRUPT_MESSAGE, `CRC-32C mismatch: batch says ${crc.toString(16)}, content is ${actual.toString(16)}`);
    const b = new Reader(body);
    const attributes = b.int16();
    if ((attributes & 0x07) !== 0) throw new BatchError(ERROR.UNSUPPORTED_COMPRESSION_TYPE, `compression ${attributes & 0x07} is not implemented`);
    const lastOffsetDelta = b.int32();
    const firstTimestamp = Number(b.int64());
    b.int64(); // maxTimestamp
    b.int64(); // producerId
    b.int16(); // producerEpoch
    b.int32(); // baseSequence
    const count = b.int32();
    for (let i = 0; i < count; i++) {
      const length = b.varint();
      const r = new Reader(b.take(length));
      r.int8(); // attributes (unused)
      const timestampDelta = Number(r.varlong());
      const offsetDelta = r.varint();
      if (offsetDelta !== i) throw new BatchError(ERROR.CORRUPT_MESSAGE, `record ${i} has offset delta ${offsetDelta}`);
      const key = r.varbytes();
      const value = r.varbytes();
      const headers: Record<string, string> = {};
      const headerCount = r.varint();
      for (let h = 0; h < headerCount; h++) {
        const name = r.varbytes()?.toString('utf8') ?? '';
        headers[name] = r.varbytes()?.toString('utf8') ?? '';
      }
      if (r.remaining() !== 0) throw new BatchError(ERROR.CORRUPT_MESSAGE, `record ${i} has ${r.remaining()} bytes past its headers`);
      out.push({ key, value, headers, timestamp: firstTimestamp + timestampDelta });
    }
    if (count !== lastOffsetDelta + 1) throw new BatchError(ERROR.CORRUPT_MESSAGE, `${count} records but last offset delta ${lastOffsetDelta}`);
    if (b.remaining() !== 0) throw new BatchError(ERROR.CORRUPT_MESSAGE, `${b.remaining()} bytes past the last record`);
  }
  return out;
}

const CRC32C_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0x82f63b78 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/** CRC-32C (Castagnoli), as RecordBatch v2 uses it. */
export function crc32c(data: Buffer): number {
  let crc = 0xffffffff;
  for (const byte of data) crc = CRC32C_TABLE[(crc ^ byte) & 0xff]! ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

function sameBytes(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

// --- primitive types (big-endian, as the Kafka protocol guide defines them) ---

class Reader {
  private offset = 0;
  constructor(private readonly data: Buffer) {}

  remaining(): number {
    return this.data.length - this.offset;
  }
  private need(n: number): void {
    if (n < 0 || this.offset + n > this.data.length) throw new BatchError(ERROR.CORRUPT_MESSAGE, `truncated: need ${n} bytes at ${this.offset} of ${this.data.length}`);
  }
  take(n: number): Buffer {
    this.need(n);
    const out = this.data.subarray(this.offset, this.offset + n);
    this.offset += n;
    return out;
  }
  rest(): Buffer {
    return this.take(this.remaining());
  }
  int8(): number {
    return this.take(1).readInt8(0);
  }
  int16(): number {
    return this.take(2).readInt16BE(0);
  }
  int32(): number {
    return this.take(4).readInt32BE(0);
  }
  uint32(): number {
    return this.take(4).readUInt32BE(0);
  }
  int64(): bigint {
    return this.take(8).readBigInt64BE(0);
  }
  boolean(): boolean {
    return this.int8() !== 0;
  }
  string(): string | null {
    const length = this.int16();
    return length < 0 ? null : this.take(length).toString('utf8');
  }
  bytes(): Buffer | null {
    const length = this.int32();
    return length < 0 ? null : Buffer.from(this.take(length));
  }
  array<T>(item: (reader: Reader) => T): T[] {
    return this.nullableArray(item) ?? [];
  }
  nullableArray<T>(item: (reader: Reader) => T): T[] | null {
    const length = this.int32();
    if (length < 0) return null;
    return Array.from({ length }, () => item(this));
  }
  /** Unsigned LEB128 of up to 64 bits. */
  private uvarlong(): bigint {
    let result = 0n;
    for (let shift = 0n; shift < 70n; shift += 7n) {
      const byte = this.take(1)[0]!;
      result |= BigInt(byte & 0x7f) << shift;
      if ((byte & 0x80) === 0) return result;
    }
    throw new BatchError(ERROR.CORRUPT_MESSAGE, 'varint longer than 10 bytes');
  }
  /** Zig-zag varlong (signed 64 bits). */
  varlong(): bigint {
    const raw = this.uvarlong();
    return (raw >> 1n) ^ -(raw & 1n);
  }
  /** Zig-zag varint (signed 32 bits). */
  varint(): number {
    const value = this.varlong();
    if (value < -(2n ** 31n) || value >= 2n ** 31n) throw new BatchError(ERROR.CORRUPT_MESSAGE, `varint ${value} out of 32-bit range`);
    return Number(value);
  }
  varbytes(): Buffer | null {
    const length = this.varint();
    return length < 0 ? null : Buffer.from(this.take(length));
  }
}

class Writer {
  private readonly parts: Buffer[] = [];

  buffer(): Buffer {
    return Buffer.concat(this.parts);
  }
  private fixed(size: number, write: (b: Buffer) => void): this {
    const b = Buffer.alloc(size);
    write(b);
    this.parts.push(b);
    return this;
  }
  int8(value: number): this {
    return this.fixed(1, (b) => b.writeInt8(value));
  }
  int16(value: number): this {
    return this.fixed(2, (b) => b.writeInt16BE(value));
  }
  int32(value: number): this {
    return this.fixed(4, (b) => b.writeInt32BE(value));
  }
  int64(value: bigint): this {
    return this.fixed(8, (b) => b.writeBigInt64BE(value));
  }
  boolean(value: boolean): this {
    return this.int8(value ? 1 : 0);
  }
  string(value: string | null): this {
    if (value === null) return this.int16(-1);
    const data = Buffer.from(value, 'utf8');
    this.int16(data.length);
    this.parts.push(data);
    return this;
  }
  bytes(value: Buffer | null): this {
    if (value === null) return this.int32(-1);
    this.int32(value.length);
    this.parts.push(value);
    return this;
  }
  array<T>(items: readonly T[], item: (writer: Writer, value: T, index: number) => void): this {
    this.int32(items.length);
    items.forEach((value, index) => item(this, value, index));
    return this;
  }
}
