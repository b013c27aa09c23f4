import net from 'node:net';
import tls from 'node:tls';
import type { Log } from '../log/log.js';

/** Where and how a {@link SyslogStream} connects. */
export interface SyslogStreamOptions {
  protocol: 'tcp' | 'tls';
  host: string;
  port: number;
  /** Connect timeout, and the longest a write may wait for the kernel to take it. */
  timeoutMs: number;
  /** Node TLS options (from `tlsConnectOptions`), for `tls`. */
  tls?: tls.ConnectionOptions;
  log: Log;
}

/**
 * One persistent TCP or TLS connection to a syslog server, opened on demand.
 * The connection is dropped as soon as the server ends or resets it, so the
 * next write opens a new one instead of writing into a dead socket (a
 * server's graceful stop loses nothing). Frames are written as given (the
 * caller frames them, RFC 6587 octet counting).
 *
 * A write resolves once the kernel has taken the bytes: syslog over TCP has
 * no acknowledgement, so a server that crashes after that point loses them.
 *
 * @example
 * const stream = new SyslogStream({ protocol: 'tcp', host: '127.0.0.1', port: 514, timeoutMs: 10_000, log });
 * await stream.write(octetFrame(message));
 * await stream.close();
 */
export class SyslogStream {
  private socket: net.Socket | undefined;
  private connecting: Promise<net.Socket> | undefined;
  private closed = false;
  private readonly where: string;

  constructor(private readonly options: SyslogStreamOptions) {
    this.where = `syslog ${options.protocol} ${options.host}:${options.port}`;
  }

  /** Writes `data`, connecting first when there is no live connection; throws when it cannot. */
  async write(data: Buffer): Promise<void> {
    if (this.closed) throw new Error(`${this.where}: the sink is closed`);
    const socket = await this.connect();
    await new Promise<void>((resolve, reject) => {
      if (socket.destroyed || !socket.writable) {
        this.drop(socket);
        reject(new Error(`${this.where}: the connection is gone`));
        return;
      }
      const timer = setTimeout(() => {
        this.drop(socket);
        reject(new Error(`${this.where}: write not taken within ${this.options.timeoutMs} ms`));
      }, this.options.timeoutMs);
      socket.write(data, (error) => {
        clearTimeout(timer);
        if (error) {
          this.drop(socket);
          reject(new Error(`${this.where}: write failed: ${error.message}`));
        } else resolve();
      });
    });
  }

  /** Ends the connection (waits at most the timeout for the server to take what was written). */
  async close(): Promise<void> {
    this.closed = true;
    const socket = this.socket ?? (await this.connecting?.catch(() => undefined));
    this.socket = undefined;
    if (!socket || socket.destroyed) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        socket.destroy();
        resolve();
      }, Math.min(this.options.timeoutMs, 5_000));
      socket.once('close', () => {
        clearTimeout(timer);
        resolve();
      });
      socket.end();
    });
  }

  private connect(): Promise<net.Socket> {
    if (this.socket && !this.socket.destroyed && this.socket.writable) return Promise.resolve(this.socket);
    this.socket = undefined;
    this.connecting ??= this.open().finally(() => (this.connecting = undefined));
    return this.connecting;
  }

  private open(): Promise<net.Socket> {
    const { protocol, host, port, timeoutMs } = this.options;
    return new Promise((resolve, reject) => {
      const socket = protocol === 'tls'
        // TLS 1.2, as RFC 5425 specifies: under TLS 1.3 a server that refuses
        // our client certificate says so only after the handshake, so the
        // first write "succeeds" and the message is lost; under 1.2 the
        // handshake itself fails and delivery throws.
        ? tls.connect({ ...this.options.tls, maxVersion: 'TLSv1.2', host, port })
        : net.connect({ host, port });
      const ready = protocol === 'tls' ? 'secureConnect' : 'connect';
      const timer = setTimeout(() => fail(new Error(`no connection within ${timeoutMs} ms`)), timeoutMs);
      const fail = (error: Error): void => {
        clearTimeout(timer);
        socket.destroy();
        reject(new Error(`${this.where}: ${describeConnectError(error)}`));
      };
      socket.once('error', fail);
      socket.once(ready, () => {
        clearTimeout(timer);
        socket.removeListener('error', fail);
        this.adopt(socket);
        resolve(socket);
      });
    });
  }

  /** Watches a fresh connection: any sign that the server is gone drops it. */
  private adopt(socket: net.Socket): void {
    this.socket = socket;
    socket.setNoDelay(true);
    socket.setKeepAlive(true, 30_000);
    socket.on('error', (error) => {
      this.options.log.debug('syslog connection failed', { where: this.where, error: error.message });
      this.drop(socket);
    });
    // A syslog server never sends; an 'end' (FIN) means it is going away.
    socket.on('end', () => this.drop(socket));
    socket.on('close', () => this.drop(socket));
    socket.resume();
  }

  private drop(socket: net.Socket): void {
    if (this.socket === socket) this.socket = undefined;
    if (!socket.destroyed) socket.destroy();
  }
}

/** Node's codes for a certificate that does not verify (chain, name, dates). */
const CERT_ERROR = /CERT|SIGNATURE|ALTNAME|ISSUER|CHAIN/;

function describeConnectError(error: Error): string {
  const code = (error as NodeJS.ErrnoException).code ?? '';
  if (CERT_ERROR.test(code)) return `the server's TLS certificate does not verify (${code}): ${error.message}; nothing was sent`;
  return `cannot connect: ${error.message}`;
}
