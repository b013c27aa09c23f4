import net from 'node:net';
import type { ConnectionOptions } from 'node:tls';

/** TLS material for a broker, REST or channel connection. PEM contents, not paths. */
export interface TlsMaterial {
  ca?: string | Buffer;
  cert?: string | Buffer;
  key?: string | Buffer;
  passphrase?: string;
  /** Host name to verify the certificate against, when it differs from the host dialled. */
  servername?: string;
  /** Skips verification. Development only; the caller logs it loudly. */
  insecure?: boolean;
}

/**
 * Node TLS client options that verify the peer (chain, expiry, host name)
 * unless `insecure`: one definition for the broker transports and the alert
 * channels. The name checked is `servername`, else the host dialled; an IP
 * address sends no SNI and is checked against the certificate's IP entries.
 *
 * @example
 * tls.connect({ host, port, ...tlsClientOptions(material, host) }, onSecure);
 */
export function tlsClientOptions(material: TlsMaterial, host: string): ConnectionOptions {
  return {
    ca: material.ca,
    cert: material.cert,
    key: material.key,
    passphrase: material.passphrase,
    servername: material.servername ?? (net.isIP(host) ? undefined : host),
    rejectUnauthorized: !material.insecure,
    minVersion: 'TLSv1.2',
  };
}
