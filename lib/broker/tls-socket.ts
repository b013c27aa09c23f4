import net from 'node:net';
import tls from 'node:tls';
import type { IStompSocket } from '@stomp/stompjs';
import { StompSocketState } from '@stomp/stompjs';
import { tlsClientOptions, type TlsMaterial } from '../net/tls-client.js';


/** Where and how to open the socket. */
export interface SocketTarget {
  host: string;
  port: number;
  secure: boolean;
  tls?: TlsMaterial;
}

/**
 * A TCP or TLS socket dressed as the WebSocket-like object stompjs drives.
 *
 * `onopen` fires only after the TLS handshake has verified the broker's
 * chain, expiry and host name (Node does all three when
 * `rejectUnauthorized` is set), so stompjs cannot send CONNECT, and with it
 * the credentials, to an unverified peer.
 */
export class SocketAdapter implements IStompSocket {
  url: string;
  onclose: ((ev?: unknown) => unknown) | null = null;
  onerror: ((ev: unknown) => unknown) | null = null;
  onmessage: ((ev: { data: ArrayBuffer }) => unknown) | null = null;
  onopen: ((ev?: unknown) => unknown) | null = null;
  binaryType = 'arraybuffer';
  readyState: number = StompSocketState.CONNECTING;
  /** The last socket error, e.g. a certificate failure. */
  lastError: Error | undefined;
  private readonly socket: net.Socket;
  private corked = false;

  constructor(target: SocketTarget) {
    this.url = `${target.secure ? 'stomp+ssl' : 'stomp'}://${target.host}:${target.port}`;
    if (target.secure) {
      this.socket = tls.connect({ host: target.host, port: target.port, ...tlsClientOptions(target.tls ?? {}, target.host) });
      this.socket.once('secureConnect', () => this.opened());
    } else {
      this.socket = net.connect({ host: target.host, port: target.port });
      this.socket.once('connect', () => this.opened());
    }
    this.socket.setNoDelay(true);
    this.socket.on('data', (chunk: Buffer) => {
      // Socket chunks may be views into a shared pool: hand stompjs its own copy.
      const data = chunk.buffer.slice(chunk.byteOffset, chunk.byteOffset + chunk.byteLength) as ArrayBuffer;
      this.onmessage?.({ data });
    });
    this.socket.on('error', (error) => {
      this.lastError = error;
      this.onerror?.(error);
    });
    this.socket.once('close', () => {
      this.readyState = StompSocketState.CLOSED;
      this.onclose?.({ code: 1006, reason: this.lastError?.message ?? 'socket closed', wasClean: false });
    });
  }

  private opened(): void {
    this.readyState = StompSocketState.OPEN;
    this.onopen?.();
  }

  send(data: string | ArrayBufferLike | Blob | ArrayBufferView): void {
    if (this.readyState !== StompSocketState.OPEN) return;
    // Frames written in the same tick (a reply and its ACK, say) leave in one
    // TLS record and one system call instead of one each.
    if (!this.corked) {
      this.corked = true;
      this.socket.cork();
      process.nextTick(() => {
        this.corked = false;
        this.socket.uncork();
      });
    }
    if (typeof data === 'string') this.socket.write(data, 'utf8');
    else if (ArrayBuffer.isView(data)) this.socket.write(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    else if (data instanceof ArrayBuffer) this.socket.write(new Uint8Array(data));
    else throw new TypeError('unsupported frame data');
  }

  close(): void {
    if (this.readyState === StompSocketState.CLOSED) return;
    const wasOpen = this.readyState === StompSocketState.OPEN;
    this.readyState = StompSocketState.CLOSING;
    if (!wasOpen) {
      this.socket.destroy();
      return;
    }
    this.socket.end();
    // A peer that never closes its side must not keep us waiting.
    setTimeout(() => this.socket.destroy(), 2000).unref();
  }

  terminate(): void {
    this.socket.destroy();
  }
}
