// Test harness: a real SMTP server (smtp-server) on a free loopback port,
// recording what each client did (TLS, client certificate, AUTH) and every
// mail that arrived, envelope and all, parsed with mailparser.
//
//   const smtp = await startSmtpServer({ users: { alerts: 'pw-123456' } });
//   after(() => smtp.stop());
//   ... await smtp.waitForMails(1);
import { EventEmitter } from 'node:events';
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import type { TLSSocket } from 'node:tls';
import { simpleParser, type ParsedMail } from 'mailparser';
import { SMTPServer, type SMTPServerOptions } from 'smtp-server';
import { eventually } from './stack.js';

/** The dev certificates (`bash scripts/certs`). */
import { cert, certsDir } from './certs.js';
export { cert, certsDir };

export interface SmtpServerOptions {
  /**
   * `starttls` (default): STARTTLS offered. `tls`: implicit TLS.
   * `none`: STARTTLS neither offered nor accepted, AUTH allowed in clear.
   */
  security?: 'starttls' | 'tls' | 'none';
  /** Accepted logins; none means AUTH is optional (and refused if tried). */
  users?: Record<string, string>;
  /** The server's certificate and key files in certsDir (default broker.pem / broker-key.pem). */
  certificate?: { cert: string; key: string };
  /** Ask for a client certificate, verified against the dev CA. */
  requestCert?: boolean;
  /** Refuse the first N AUTH attempts (535), whatever the password. */
  refuseAuth?: number;
}

export interface AuthAttempt {
  method: string;
  username: string | undefined;
  /** PLAIN only: the authorisation identity the client sent. */
  authzid: string | undefined;
  ok: boolean;
  /** The connection was encrypted when AUTH came. */
  secure: boolean;
}

export interface ReceivedMail {
  /** MAIL FROM and RCPT TO: the only place Bcc recipients appear. */
  envelope: { from: string | false; to: string[] };
  raw: Buffer;
  parsed: ParsedMail;
  secure: boolean;
  user: string | undefined;
}

export interface SmtpTestServer {
  host: string;
  port: number;
  mails: ReceivedMail[];
  auths: AuthAttempt[];
  /** Connections that completed TLS, with the client certificate's CN if one was sent. */
  tlsSessions: Array<{ clientCN: string | undefined; clientAuthorized: boolean }>;
  /** TCP connections accepted. */
  connections(): number;
  /** Resolves once at least `count` mails arrived. */
  waitForMails(count: number, timeoutMs?: number): Promise<ReceivedMail[]>;
  stop(): Promise<void>;
}

export async function startSmtpServer(options: SmtpServerOptions = {}): Promise<SmtpTestServer> {
  const security = options.security ?? 'starttls';
  const users = options.users ?? {};
  const certificate = options.certificate ?? { cert: 'broker.pem', key: 'broker-key.pem' };
  const mails: ReceivedMail[] = [];
  const auths: AuthAttempt[] = [];
  const tlsSessions: SmtpTestServer['tlsSessions'] = [];
  const changes = new EventEmitter();
  let connections = 0;
  let refuseAuth = options.refuseAuth ?? 0;

  const serverOptions: SMTPServerOptions = {
    logger: false,
    disableReverseLookup: true,
    secure: security === 'tls',
    key: readFileSync(cert(certificate.key)),
    cert: readFileSync(cert(certificate.cert)),
    authMethods: ['PLAIN', 'LOGIN', 'CRAM-MD5'],
    authOptional: Object.keys(users).length === 0,
    closeTimeout: 2_000,
    ...(security === 'none' ? { disabledCommands: ['STARTTLS'], hideSTARTTLS: true, allowInsecureAuth: true } : {}),
    ...(options.requestCert ? { requestCert: true, rejectUnauthorized: false, ca: readFileSync(cert('ca.pem')) } : {}),
    onSecure(socket, _session, callback) {
      const tls = socket as TLSSocket;
      const peer = options.requestCert ? tls.getPeerCertificate() : undefined;
      const cn = peer?.subject?.CN;
      tlsSessions.push({ clientCN: Array.isArray(cn) ? cn[0] : cn, clientAuthorized: tls.authorized });
      callback();
    },
    onAuth(auth, session, callback) {
      const expected = auth.username === undefined ? undefined : users[auth.username];
      let ok = expected !== undefined && (auth.method === 'CRAM-MD5' ? auth.validatePassword(expected) : auth.password === expected);
      if (refuseAuth > 0) {
        refuseAuth--;
        ok = false;
      }
      auths.push({ method: auth.method, username: auth.username, authzid: auth.authzid, ok, secure: session.secure });
      changes.emit('change');
      if (!ok) return callback(Object.assign(new Error('Invalid username or password'), { responseCode: 535 }));
      callback(null, { user: auth.username });
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('error', callback);
      stream.on('end', () => {
        const raw = Buffer.concat(chunks);
        simpleParser(raw).then(
          (parsed) => {
            mails.push({
              envelope: { from: session.envelope.mailFrom && session.envelope.mailFrom.address, to: session.envelope.rcptTo.map((r) => r.address) },
              raw,
              parsed,
              secure: session.secure,
              user: session.user as string | undefined,
            });
            changes.emit('change');
            callback();
          },
          (error: Error) => callback(error),
        );
      });
    },
  };
  const server = new SMTPServer(serverOptions);
  server.on('error', () => {}); // a client dropping mid-handshake (the rogue-CA test) is expected
  await new Promise<void>((resolve, reject) => {
    server.server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  // Counted at TCP accept: an implicit-TLS handshake that fails never reaches onConnect.
  server.server.on('connection', () => connections++);
  const port = (server.server.address() as AddressInfo).port;

  return {
    host: '127.0.0.1',
    port,
    mails,
    auths,
    tlsSessions,
    connections: () => connections,
    waitForMails(count, timeoutMs = 15_000) {
      return eventually(() => (mails.length >= count ? mails : undefined), `${count} mail(s) at the SMTP server (have ${mails.length})`, timeoutMs, (wake) => {
        changes.on('change', wake);
        return () => changes.off('change', wake);
      });
    },
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
