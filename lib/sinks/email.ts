import nodemailer from 'nodemailer';
import type { SMTPTransportOptions } from 'nodemailer';
import type { ActivityEvent, ActivityRecord } from '../activity/record.js';
import type { ActivitySink } from '../activity/sink.js';
import type { EmailChannel } from '../config/alerting.js';
import type { Log } from '../log/log.js';
import { registerSecret } from '../log/redact.js';
import { finalRecords, tlsConnectOptions } from './channel.js';
import { composeEmail } from './email-message.js';

/**
 * The email channel: activities mailed over SMTP (STARTTLS required by
 * default, implicit TLS, or plain towards a loopback relay), authenticated
 * with PLAIN, LOGIN or CRAM-MD5 when a `user` is given. With
 * `batch_window_ms`, the activities ending within the window go in one mail
 * (at most `batch_max`); without, one mail each.
 *
 * Each mail opens its own SMTP connection (nodemailer's non-pooled
 * transport): alert mails are rare, a pooled connection would sit idle until
 * the server drops it, and a fresh connection makes every retry start clean
 * (new TLS handshake, new AUTH). A failed mail throws (the reporter retries
 * it, the same activities again), with a message naming the server and never
 * the password.
 *
 * @example
 * const email = createEmailSink(config.alerting.email, { log, home });
 * const reporter = new Reporter([fileStore, email], { spillDir, log });
 * // ... at shutdown, after reporter.drain():
 * await email.close();
 */
export function createEmailSink(config: EmailChannel, deps: { log: Log; home: string }): ActivitySink & { close(): Promise<void> } {
  const { log } = deps;
  const server = `${config.host}:${smtpPort(config)}`;
  registerSecret(config.password);
  if (config.user && config.security === 'none' && !isLoopback(config.host)) {
    throw new Error(`alerting.email: credentials would cross the network in clear to ${config.host}: use security starttls or tls`);
  }
  const transport = nodemailer.createTransport(transportOptions(config, log));
  // Aborts mails in flight when the sink is closed.
  const closing = new AbortController();
  // connectionTimeout, greetingTimeout and socketTimeout bound each phase;
  // this bounds the whole mail, which a server answering slowly but steadily
  // could otherwise stretch without end.
  const mailDeadlineMs = 3 * config.timeout_ms;

  async function send(events: readonly ActivityEvent[]): Promise<void> {
    const records = events.map((event) => event.record).filter((record): record is ActivityRecord => record !== undefined);
    if (records.length === 0) return;
    const content = composeEmail(config, records);
    try {
      const info = await transport.sendMail({
        from: config.from,
        to: config.to,
        cc: config.cc,
        bcc: config.bcc,
        subject: content.subject,
        html: content.html,
        text: content.text,
        messageId: content.messageId,
        headers: { 'X-Cafkit-Execution': content.executionIds },
        signal: AbortSignal.any([closing.signal, AbortSignal.timeout(mailDeadlineMs)]),
      });
      // Some recipients refused but others accepted: retrying would mail the accepted ones twice.
      if (info.rejected.length > 0) log.warn('email: the SMTP server refused some recipients', { server, rejected: info.rejected });
      log.debug('email: activities mailed', { server, activities: records.length, messageId: info.messageId });
    } catch (error) {
      throw new Error(`email: mail to SMTP server ${server} failed: ${describe(error, config.password)}`);
    }
  }

  return {
    name: 'email',
    accepts: finalRecords(config.statuses),
    // The schema's "0: one mail each": without a window nothing is gathered, not even a backlog.
    batchWindowMs: config.batch_window_ms,
    maxBatch: config.batch_window_ms > 0 ? config.batch_max : 1,
    deliver: (event) => send([event]),
    deliverBatch: (events) => send(events),
    async close() {
      closing.abort(new Error('email sink closed'));
      transport.close();
    },
  };
}

/** nodemailer's options for `config`: security, authentication, TLS and timeouts. */
export function transportOptions(config: EmailChannel, log: Log): SMTPTransportOptions {
  const options: SMTPTransportOptions = {
    host: config.host,
    port: smtpPort(config),
    connectionTimeout: config.timeout_ms,
    greetingTimeout: config.timeout_ms,
    socketTimeout: config.timeout_ms,
    dnsTimeout: config.timeout_ms,
  };
  if (config.security === 'tls') {
    options.secure = true;
  } else if (config.security === 'starttls') {
    // STARTTLS or nothing: a server that does not offer it (or a stripped
    // offer) fails the mail instead of getting it, and the password, in clear.
    options.requireTLS = true;
  } else {
    options.ignoreTLS = true;
  }
  if (config.security !== 'none') options.tls = tlsConnectOptions('email', config.tls, config.host, log);
  if (config.user) {
    options.auth = { user: config.user, pass: config.password ?? '' };
    options.authMethod = config.auth_mechanism;
    // nodemailer's own PLAIN leaves the authorisation identity empty.
    if (config.auth_mechanism === 'PLAIN' && config.plain_identity !== '') options.customAuth = { PLAIN: plainWithIdentity(config.plain_identity) };
  }
  return options;
}

/** AUTH PLAIN with an authorisation identity (RFC 4616: `authzid NUL authcid NUL passwd`). */
function plainWithIdentity(authzid: string): NonNullable<SMTPTransportOptions['customAuth']>[string] {
  return async (ctx) => {
    const { user, pass } = ctx.auth.credentials;
    const token = Buffer.from(`${authzid}\0${user}\0${pass}`, 'utf8').toString('base64');
    const reply = await ctx.sendCommand(`AUTH PLAIN ${token}`);
    if (reply.status !== 235) throw new Error(`Invalid login: ${reply.response.trim()}`);
  };
}

function describe(error: unknown, password: string | undefined): string {
  const e = error as { message?: string; code?: string; name?: string } | undefined;
  let message = e?.message ?? String(error);
  if (e?.name === 'AbortError') message = `no answer within the mail's deadline, or the sink was closed (${message})`;
  if (e?.code && !message.includes(e.code)) message = `${e.code}: ${message}`;
  // nodemailer masks credentials in what it logs; make sure none reaches an error either.
  return password && password.length >= 4 ? message.split(password).join('[redacted]') : message;
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\./.test(host);
}

/** The configured port, else the usual one for the security mode (465 implicit TLS, 587 submission). */
export function smtpPort(config: Pick<EmailChannel, 'port' | 'security'>): number {
  return config.port ?? (config.security === 'tls' ? 465 : 587);
}
