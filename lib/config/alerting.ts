import { z } from 'zod';
import { ActivityStatus } from '../activity/record.js';

/**
 * Alerting: activities reported to other systems (syslog, email, an HTTP
 * webhook, Slack, Kafka, TheHive), with the options and defaults of Lope's
 * "Activity Alerting" chapter. Every channel is off until `enable: true`;
 * which activities reach it is chosen by `alert_all` or by `rules`.
 */

/**
 * TLS towards a channel's server: files, read at start. Verification is
 * always on unless `insecure` (Lope's `skip_certificate_verification`), which
 * is logged loudly.
 */
export const ChannelTlsSchema = z.strictObject({
  /** CA bundle (PEM) for a private CA; the system store otherwise. */
  ca: z.string().min(1).optional(),
  /** Client certificate and key (PEM) for client authentication. */
  cert: z.string().min(1).optional(),
  key: z.string().min(1).optional(),
  /** Passphrase of an encrypted `key` (Lope's `engine_client_key_protected_password`). */
  passphrase: z.string().optional(),
  /** Host name the certificate must carry, when it is not the host dialled. */
  servername: z.string().min(1).optional(),
  /** Turns verification off. Development only; logged loudly at start. */
  insecure: z.boolean().default(false),
});
export type ChannelTls = z.infer<typeof ChannelTlsSchema>;

/** The channel names, as rules and `alert_all` know them. */
export const ALERT_CHANNELS = ['syslog', 'email', 'http', 'slack', 'kafka', 'thehive'] as const;
export type AlertChannel = (typeof ALERT_CHANNELS)[number];

/** Options every channel has. */
const channelBase = {
  /** Lope's `enable`: the channel is off unless this is true. */
  enable: z.boolean().default(false),
  /** Lope's `encode_activity_base64`: the activity's JSON is sent base64-encoded. */
  base64: z.boolean().default(false),
  /** Only activities that ended with one of these statuses (default: all). */
  statuses: z.array(ActivityStatus).min(1).optional(),
};

/** Body text around the rendered activity (Lope's `body_intro` / `body_end`). */
const bodyWrap = {
  body_intro: z.string().default(''),
  body_end: z.string().default(''),
};

const Severity = z.enum(['emerg', 'alert', 'crit', 'err', 'warning', 'notice', 'info', 'debug']);
const Facility = z.enum([
  'kern', 'user', 'mail', 'daemon', 'auth', 'syslog', 'lpr', 'news', 'uucp', 'cron', 'authpriv', 'ftp',
  'local0', 'local1', 'local2', 'local3', 'local4', 'local5', 'local6', 'local7',
]);

/** Syslog: RFC 5424 (or 3164), to the local socket or a remote server over UDP, TCP or TLS (RFC 5425). */
export const SyslogChannelSchema = z.strictObject({
  ...channelBase,
  /** Lope's `remote_flag`: false sends to the local socket (`socket`), true to `host:port`. */
  remote: z.boolean().default(false),
  /** Local socket path (the host's syslog daemon). */
  socket: z.string().min(1).default('/dev/log'),
  /** Lope's `remote_syslog_protocol` (udp default); `tls` is TCP with TLS (RFC 5425). */
  protocol: z.enum(['udp', 'tcp', 'tls']).default('udp'),
  host: z.string().min(1).default('localhost'),
  /** Default 514 (udp, tcp) or 6514 (tls). */
  port: z.number().int().min(1).max(65535).optional(),
  /** APP-NAME (RFC 5424) or TAG (RFC 3164). */
  tag: z.string().min(1).max(48).default('cafkit'),
  facility: Facility.default('user'),
  format: z.enum(['rfc5424', 'rfc3164']).default('rfc5424'),
  /** Severity by activity status; the ones not given keep their default. */
  severities: z.partialRecord(ActivityStatus, Severity).default({}),
  /** Longest message sent; a longer activity is cut (and marked so). rsyslog's own default limit is 8 KiB. */
  max_message_bytes: z.number().int().min(480).default(8192),
  /** Connect timeout for TCP and TLS. */
  timeout_ms: z.number().int().min(100).default(10_000),
  tls: ChannelTlsSchema.default(ChannelTlsSchema.parse({})),
});
export type SyslogChannel = z.infer<typeof SyslogChannelSchema>;

const EmailList = z.array(z.string().min(3)).default([]);

/** Email over SMTP, with STARTTLS or implicit TLS, one mail per activity or several batched. */
export const EmailChannelSchema = z.strictObject({
  ...channelBase,
  ...bodyWrap,
  /** Lope's `smtp_ip`. */
  host: z.string().min(1),
  /** Default 587, or 465 with `security: tls`. */
  port: z.number().int().min(1).max(65535).optional(),
  /** `starttls` (default, port 587), `tls` (implicit, port 465), `none` (only towards a loopback server). */
  security: z.enum(['starttls', 'tls', 'none']).default('starttls'),
  /** Lope's `authentication_mechanism` (PLAIN default); no `user` means no AUTH. */
  auth_mechanism: z.enum(['PLAIN', 'LOGIN', 'CRAM-MD5']).default('PLAIN'),
  user: z.string().min(1).optional(),
  password: z.string().optional(),
  /** Lope's `smtp_plain_auth_identity`: the PLAIN authorisation identity (usually empty). */
  plain_identity: z.string().default(''),
  from: z.string().min(3),
  to: EmailList,
  cc: EmailList,
  bcc: EmailList,
  subject: z.string().min(1).default('[cafkit][Activity Report]'),
  /** Activities ending within this window go in one mail (0: one mail each). */
  batch_window_ms: z.number().int().min(0).default(0),
  /** Most activities in one mail. */
  batch_max: z.number().int().min(1).max(500).default(50),
  timeout_ms: z.number().int().min(100).default(10_000),
  tls: ChannelTlsSchema.default(ChannelTlsSchema.parse({})),
});
export type EmailChannel = z.infer<typeof EmailChannelSchema>;

/** An HTTP webhook. */
export const HttpChannelSchema = z.strictObject({
  ...channelBase,
  ...bodyWrap,
  url: z.string().url(),
  method: z.enum(['POST', 'PUT', 'GET']).default('POST'),
  timeout_ms: z.number().int().min(100).default(10_000),
  headers: z.record(z.string().min(1), z.string()).default({}),
  /** Query parameters; `{{ACTIVITY}}` in a value is replaced by the activity. */
  query: z.record(z.string().min(1), z.string()).default({}),
  /** Lope's `use_body_flag` (default off, as there): send the activity in the body. */
  use_body: z.boolean().default(false),
  /** A 2xx answer counts only if its body matches this regular expression. */
  success_pattern: z.string().min(1).optional(),
  /** Requests in flight at once (Lope's `max_number_alert_workers`; ≤ 0 means 200). Order is not kept above 1. */
  workers: z.number().int().default(1),
  tls: ChannelTlsSchema.default(ChannelTlsSchema.parse({})),
});
export type HttpChannel = z.infer<typeof HttpChannelSchema>;

/** Slack, through `chat.postMessage`. */
export const SlackChannelSchema = z.strictObject({
  ...channelBase,
  ...bodyWrap,
  /** Bot token (xoxb-…) with `chat:write`. */
  oauth_token: z.string().min(1),
  /** Lope's `app_level_token`: accepted for compatibility; posting does not need it. */
  app_level_token: z.string().min(1).optional(),
  /** Slack's Web API base URL (a proxy or a test double). */
  url: z.string().url().default('https://slack.com/api/'),
  channel_id: z.string().min(1),
  /** Lope's `debug_flag`: the Slack client logs its requests at debug level. */
  debug: z.boolean().default(false),
  pretext: z.string().default(''),
  /** Attachment colour; by status (good, warning, danger) when absent. */
  text_color: z.string().regex(/^#?[0-9a-fA-F]{6}$/, 'must be a hex colour like #36a64f').optional(),
  timeout_ms: z.number().int().min(100).default(10_000),
  tls: ChannelTlsSchema.default(ChannelTlsSchema.parse({})),
});
export type SlackChannel = z.infer<typeof SlackChannelSchema>;

/** A Kafka producer. */
export const KafkaChannelSchema = z
  .strictObject({
    ...channelBase,
    /** `host:port` of one or more brokers. */
    brokers: z.array(z.string().regex(/^[^:\s]+:\d+$/, 'must be host:port')).min(1),
    topic: z.string().min(1).default('cafkit'),
    /** Lope's `create_topic_if_not_exist`. */
    create_topic: z.boolean().default(false),
    partitions: z.number().int().min(1).default(1),
    replication_factor: z.number().int().min(1).default(1),
    /** Lope's `distribution`: how messages spread over partitions. */
    distribution: z.enum(['LEAST_BYTES', 'ROUND_ROBIN', 'HASH']).default('LEAST_BYTES'),
    /** Lope's `authentication_mechanism`. */
    auth_mechanism: z.enum(['NONE', 'PLAIN', 'SCRAM']).default('NONE'),
    /** Lope's `auth_scram_hash`. */
    scram_hash: z.enum(['SHA256', 'SHA512']).default('SHA512'),
    user: z.string().default(''),
    password: z.string().default(''),
    /** Lope's `event_key`: the message key. */
    key: z.string().default('cafkit'),
    timeout_ms: z.number().int().min(100).default(10_000),
    /** TLS on when given (`tls: {}` for the system CAs). */
    tls: ChannelTlsSchema.optional(),
  })
  .superRefine((kafka, ctx) => {
    if (kafka.auth_mechanism !== 'NONE' && !kafka.user) ctx.addIssue({ code: 'custom', path: ['user'], message: `auth_mechanism ${kafka.auth_mechanism} needs a user and password` });
  });
export type KafkaChannel = z.infer<typeof KafkaChannelSchema>;

/** TheHive (v1 API, TheHive 5): a case per execution, a task per step. */
export const TheHiveChannelSchema = z.strictObject({
  ...channelBase,
  url: z.string().url(),
  api_key: z.string().min(1),
  /** Sent as `X-Organisation` when the key's user belongs to several. */
  organisation: z.string().min(1).optional(),
  /** Case severity (1 low … 4 critical), TLP (0–4) and PAP (0–3). */
  severity: z.number().int().min(1).max(4).default(2),
  tlp: z.number().int().min(0).max(4).default(2),
  pap: z.number().int().min(0).max(3).default(2),
  /** Tags added to every case, beside the execution and correlation ids. */
  tags: z.array(z.string().min(1)).default([]),
  timeout_ms: z.number().int().min(100).default(10_000),
  tls: ChannelTlsSchema.default(ChannelTlsSchema.parse({})),
});
export type TheHiveChannel = z.infer<typeof TheHiveChannelSchema>;

/** Lope's per-rule alert fields: `all` overrides the per-channel choice. */
export const AlertRuleSchema = z.strictObject({
  all: z.boolean().default(false),
  syslog: z.boolean().default(false),
  email: z.boolean().default(false),
  http: z.boolean().default(false),
  slack: z.boolean().default(false),
  kafka: z.boolean().default(false),
  thehive: z.boolean().default(false),
});
export type AlertRule = z.infer<typeof AlertRuleSchema>;

/** The `alerting` section. */
export const AlertingConfigSchema = z
  .strictObject({
    /** Lope's `alert_all_flag`: every enabled channel gets every activity; rules are then ignored. */
    alert_all: z.boolean().default(false),
    /** By processor name, or `processor/action` (which wins): the channels its activities go to. */
    rules: z.record(z.string().min(1), AlertRuleSchema).default({}),
    syslog: SyslogChannelSchema.optional(),
    email: EmailChannelSchema.optional(),
    http: HttpChannelSchema.optional(),
    slack: SlackChannelSchema.optional(),
    kafka: KafkaChannelSchema.optional(),
    thehive: TheHiveChannelSchema.optional(),
  })
  .superRefine((alerting, ctx) => {
    const email = alerting.email;
    if (email?.enable) {
      if (email.to.length + email.cc.length + email.bcc.length === 0) ctx.addIssue({ code: 'custom', path: ['email', 'to'], message: 'give at least one recipient (to, cc or bcc)' });
      if (email.user && email.security === 'none' && !isLoopback(email.host)) {
        ctx.addIssue({ code: 'custom', path: ['email', 'security'], message: `credentials would cross the network in clear to ${email.host}: use starttls or tls` });
      }
    }
    const http = alerting.http;
    if (http?.enable && !http.use_body && !Object.values(http.query).some((v) => v.includes('{{ACTIVITY}}'))) {
      ctx.addIssue({ code: 'custom', path: ['http', 'use_body'], message: 'the activity would be sent nowhere: set use_body: true or put {{ACTIVITY}} in a query parameter' });
    }
  });
export type AlertingConfig = z.infer<typeof AlertingConfigSchema>;

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\./.test(host);
}
