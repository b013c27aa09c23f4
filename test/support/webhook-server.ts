// Test support: a webhook receiver on loopback HTTPS (the dev server
// certificate unless told otherwise). It records every request (method,
// path, query, headers, body, the client certificate's CN), answers as the
// test says (a status and body, or never: 'hang'), and can be closed and
// reopened on the same port to play a webhook that goes down and comes back.
//
//   const hook = await startWebhookServer();
//   after(() => hook.stop());
//   hook.answer = () => ({ status: 503, body: 'busy' });
import https from 'node:https';
import type { IncomingHttpHeaders, ServerResponse } from 'node:http';
import { readFileSync } from 'node:fs';
import type { TLSSocket } from 'node:tls';
import { cert } from './signed-activities.js';

export interface SeenRequest {
  method: string;
  path: string;
  /** The raw query string, without `?`. */
  search: string;
  query: URLSearchParams;
  headers: IncomingHttpHeaders;
  body: string;
  /** CN of the client certificate, when one was presented. */
  clientCn: string | undefined;
  clientAuthorized: boolean;
  /** Date.now() when the request arrived. */
  at: number;
}

export type Answer = { status: number; body?: string; headers?: Record<string, string> } | 'hang';

/** What a fresh server answers: 200 `{"status":"ok"}`. */
export const okAnswer = (): Answer => ({ status: 200, body: '{"status":"ok"}', headers: { 'content-type': 'application/json' } });

export interface WebhookServer {
  /** `https://127.0.0.1:<port>/hook`. */
  readonly url: string;
  readonly port: number;
  readonly requests: SeenRequest[];
  /** How to answer a request; default 200 `{"status":"ok"}`. */
  answer: (request: SeenRequest) => Answer | Promise<Answer>;
  /** Stops listening and cuts every connection (hanging ones included). */
  close(): Promise<void>;
  /** Listens again on the same port. */
  reopen(): Promise<void>;
  /** Final stop. */
  stop(): Promise<void>;
}

export interface WebhookServerOptions {
  /** Server certificate and key file names in the certs folder (default broker.pem / broker-key.pem). */
  certName?: string;
  keyName?: string;
  /** Ask for a client certificate (checked against the dev CA, but not required). */
  requestCert?: boolean;
}

export async function startWebhookServer(options: WebhookServerOptions = {}): Promise<WebhookServer> {
  const requests: SeenRequest[] = [];
  const hanging = new Set<ServerResponse>();
  const server = https.createServer({
    cert: readFileSync(cert(options.certName ?? 'broker.pem')),
    key: readFileSync(cert(options.keyName ?? 'broker-key.pem')),
    ca: readFileSync(cert('ca.pem')),
    requestCert: options.requestCert ?? false,
    rejectUnauthorized: false,
  });
  let listening = false;
  const hook: WebhookServer = {
    url: '',
    port: 0,
    requests,
    answer: okAnswer,
    async close() {
      if (!listening) return;
      listening = false;
      for (const res of hanging) res.destroy();
      hanging.clear();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
    },
    async reopen() {
      if (listening) return;
      await listen(hook.port);
    },
    async stop() {
      await hook.close();
    },
  };
  server.on('request', (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const socket = req.socket as TLSSocket;
      const peer = socket.getPeerCertificate?.();
      const target = new URL(req.url ?? '/', 'https://127.0.0.1');
      const seen: SeenRequest = {
        method: req.method ?? '',
        path: target.pathname,
        search: target.search.replace(/^\?/, ''),
        query: target.searchParams,
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
        clientCn: peer && typeof peer.subject?.CN === 'string' ? peer.subject.CN : undefined,
        clientAuthorized: socket.authorized === true,
        at: Date.now(),
      };
      requests.push(seen);
      void Promise.resolve(hook.answer(seen)).then((answer) => {
        if (answer === 'hang') {
          hanging.add(res);
          return;
        }
        res.writeHead(answer.status, answer.headers ?? {});
        res.end(answer.body ?? '');
      }, (error: unknown) => {
        res.writeHead(500);
        res.end(String(error));
      });
    });
  });
  async function listen(port: number): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
    listening = true;
  }
  await listen(0);
  const port = (server.address() as { port: number }).port;
  Object.assign(hook, { port, url: `https://127.0.0.1:${port}/hook` });
  return hook;
}
