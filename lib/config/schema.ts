import { z } from 'zod';
import { AlertingConfigSchema } from './alerting.js';

const port = z.number().int().min(1).max(65535);

/** TLS material given as file paths; loaded by the config loader. */
const TlsFilesSchema = {
  /** CA bundle (PEM) that signed the server certificate. */
  ca: z.string().min(1).optional(),
  /** Client certificate (PEM), when the server asks for one. */
  cert: z.string().min(1).optional(),
  key: z.string().min(1).optional(),
  passphrase: z.string().optional(),
  /** Turns verification off. Development only; logged loudly at start. */
  insecure: z.boolean().default(false),
};

/** The broker connection. */
export const BrokerConfigSchema = z.strictObject({
  /** `stomp+ssl://host:port`, `wss://host:port/path` (STOMP over WebSocket) or `amqps://host:port` (AMQP 1.0); `stomp://`, `ws://`, `amqp://` unencrypted, for development. */
  url: z.string().regex(/^((stomp\+ssl|stomp\+tls|stomp|amqps|amqp):\/\/[^/]+|(wss|ws):\/\/[^/]+(\/\S*)?)$/, 'must look like stomp+ssl://host:port, wss://host:port/path or amqps://host:port'),
  /** Virtual host: STOMP's `host` header (default: the URL's host; RabbitMQ wants `/`), AMQP's `vhost:<name>` open hostname. */
  vhost: z.string().min(1).optional(),
  user: z.string().min(1),
  password: z.string().min(1),
  ...TlsFilesSchema,
  /** Host name the certificate must carry, when it is not the URL's host. */
  servername: z.string().optional(),
  heartbeat_ms: z.number().int().min(0).default(10_000),
  reconnect_initial_ms: z.number().int().min(1).default(1_000),
  reconnect_max_ms: z.number().int().min(1).default(60_000),
  connect_timeout_ms: z.number().int().min(100).default(15_000),
});

/** The platform's REST API. */
export const RestConfigSchema = z
  .strictObject({
    url: z.string().url(),
    ...TlsFilesSchema,
    api_key_id: z.string().min(1).optional(),
    api_key_secret: z.string().min(1).optional(),
    email: z.string().min(1).optional(),
    password: z.string().min(1).optional(),
    timeout_ms: z.number().int().min(100).default(30_000),
    /** Retries for idempotent calls on network errors and 5xx. */
    retries: z.number().int().min(0).max(20).default(4),
    /** Tries of a GET/apply/PUT before giving up on 409s. */
    conflict_tries: z.number().int().min(1).max(100).default(10),
  })
  .superRefine((rest, ctx) => {
    const hasKey = rest.api_key_id !== undefined || rest.api_key_secret !== undefined;
    const hasSession = rest.email !== undefined || rest.password !== undefined;
    if (hasKey && (!rest.api_key_id || !rest.api_key_secret)) {
      ctx.addIssue({ code: 'custom', path: [rest.api_key_id ? 'api_key_secret' : 'api_key_id'], message: 'an API key needs both api_key_id and api_key_secret' });
    }
    if (hasSession && (!rest.email || !rest.password)) {
      ctx.addIssue({ code: 'custom', path: [rest.email ? 'password' : 'email'], message: 'a session login needs both email and password' });
    }
    if (!hasKey && !hasSession) {
      ctx.addIssue({ code: 'custom', path: ['api_key_id'], message: 'give an API key (api_key_id, api_key_secret) or a login (email, password)' });
    }
  });

/** How messages are run. */
export const RuntimeConfigSchema = z.strictObject({
  /** Handlers in flight at once; also the broker prefetch. */
  concurrency: z.number().int().min(1).max(10_000).default(25),
  /** Run one handler at a time per incident, so a processor does not conflict with itself. */
  serialize_per_incident: z.boolean().default(false),
  /** Bodies larger than this are dead-lettered unread. */
  max_body_bytes: z.number().int().min(1024).default(5 * 1024 * 1024),
  /** On SIGTERM, how long in-flight handlers may take to finish. */
  shutdown_timeout_ms: z.number().int().min(0).default(30_000),
  /** Dead-letter queue name prefix: `DLQ.` gives `DLQ.actions.<org>.<name>`. */
  dead_letter_prefix: z.string().min(1).default('DLQ.'),
  /** A handler still running after this long is aborted with an error reply (0: never). */
  handler_timeout_ms: z.number().int().min(0).default(0),
  /** How many completed replies are remembered for redeliveries (in memory). */
  completed_memory: z.number().int().min(0).default(10_000),
  /**
   * With a shared completed-reply store, how long an instance's claim on a
   * running invocation holds without renewal (renewed every third of it).
   * After a crash, a redelivered invocation waits this long before another
   * instance takes it over.
   */
  claim_lease_ms: z.number().int().min(1000).default(60_000),
});

/** Activities: the signed record of every execution, and where it is stored (every store gets every record; `alerting` chooses what else gets it). */
export const ActivityConfigSchema = z.strictObject({
  /**
   * Stores of signed records, by URL: `sqlite:<file>`, `file:<activities.jsonl>`,
   * `mysql://user:password@host:port/db` (or `mariadb://`). `[]` turns activities off.
   * Default: SQLite in `<CAFKIT_HOME>/activities.db`.
   */
  stores: z.array(z.string().min(1)).optional(),
  /** Signing keys folder (private key 0600). Default `<CAFKIT_HOME>/keys`. */
  keys_dir: z.string().min(1).optional(),
  /** Add a snapshot of the handler's context variables to each record (Lope's `report_memory`). */
  report_memory: z.boolean().default(false),
  /** Base64 the memory snapshot (Lope's `encode_b64_memory_reported`). */
  encode_b64_memory: z.boolean().default(false),
  /** JSON Lines store: each line base64 instead of JSON. */
  file_base64: z.boolean().default(false),
  file_max_size_mb: z.number().positive().default(100),
  file_max_files: z.number().int().min(1).default(10),
  /** Events queued per channel before the overflow policy applies. */
  queue_size: z.number().int().min(1).default(10_000),
  /** A full queue spills to a local file and replays later, or drops the oldest (counted). */
  overflow: z.enum(['spill', 'drop_oldest']).default('spill'),
  /** Where spill files go. Default `<CAFKIT_HOME>/spill`. */
  spill_dir: z.string().min(1).optional(),
  /** Remember completed replies in the first SQL store, so a restart or another instance does not run an action twice. */
  durable_replies: z.boolean().default(true),
  /** On shutdown, how long the reporter may take to deliver what is queued. */
  drain_timeout_ms: z.number().int().min(0).default(10_000),
});

/** A bearer token of the operator API and what it may read. */
export const ApiTokenSchema = z.strictObject({
  /** Names the token in logs (never the token itself). */
  name: z.string().min(1),
  token: z.string().min(16, 'must be at least 16 characters'),
  /** `read`: everything, with secrets and memory snapshots redacted; `read:sensitive`: unredacted too. */
  scopes: z.array(z.enum(['read', 'read:sensitive'])).min(1).default(['read']),
});

/** The operator API, live feed and dashboard served by `cafkit run`. */
export const ApiConfigSchema = z.strictObject({
  enable: z.boolean().default(true),
  /** Loopback by default: expose it deliberately. */
  host: z.string().min(1).default('127.0.0.1'),
  port: z.number().int().min(0).max(65535).default(8686),
  /**
   * `false` serves everything without a token: development only, logged
   * loudly at start. With `true` and no `tokens`, a token (both scopes) is
   * generated once into `<CAFKIT_HOME>/api-token` (mode 0600).
   */
  auth: z.boolean().default(true),
  tokens: z.array(ApiTokenSchema).default([]),
  /** Executions kept in memory (running ones and the latest finished). */
  cache_executions: z.number().int().min(100).default(10_000),
  /** Events kept for the live feed, so a client that reconnects with its cursor misses nothing. */
  stream_buffer: z.number().int().min(100).default(10_000),
});

/** Logging. */
export const LogConfigSchema = z.strictObject({
  level: z.enum(['error', 'warn', 'info', 'debug']).default('info'),
  /** Rotating log file; none when absent. */
  file: z.string().min(1).optional(),
  max_size_mb: z.number().min(1).default(10),
  max_files: z.number().int().min(1).default(5),
  /** `json` for machines, `text` for people. */
  format: z.enum(['text', 'json']).default('text'),
});

/**
 * The whole configuration file (`cafkit.yaml`).
 *
 * @example
 * org_id: 201
 * broker: { url: stomp+ssl://co3.example.com:65001, user: svc, password: ${BROKER_PASSWORD}, ca: /etc/cafkit/ca.pem }
 * rest: { url: https://co3.example.com, api_key_id: abc, api_key_secret: ${API_SECRET} }
 */
export const ConfigSchema = z.strictObject({
  org_id: z.number().int().positive(),
  broker: BrokerConfigSchema,
  rest: RestConfigSchema,
  runtime: RuntimeConfigSchema.default(RuntimeConfigSchema.parse({})),
  log: LogConfigSchema.default(LogConfigSchema.parse({})),
  activity: ActivityConfigSchema.default(ActivityConfigSchema.parse({})),
  /** The operator API (executions, health, metrics, live feed, dashboard). */
  api: ApiConfigSchema.default(ApiConfigSchema.parse({})),
  /** Activities reported to other systems: syslog, email, webhook, Slack, Kafka, TheHive. */
  alerting: AlertingConfigSchema.default(AlertingConfigSchema.parse({})),
  /** Folder of processors to load; the bundled examples when absent. */
  processors: z.string().min(1).optional(),
  /** Each processor's own settings, by processor name, validated by the processor's schema. */
  settings: z.record(z.string(), z.unknown()).default({}),
});

/** A validated configuration. */
export type Config = z.infer<typeof ConfigSchema>;
/** A configuration as written in a file. */
export type ConfigInput = z.input<typeof ConfigSchema>;
