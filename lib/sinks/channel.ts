import { readFileSync } from 'node:fs';
import type { ConnectionOptions } from 'node:tls';
import type { ChannelTls } from '../config/alerting.js';
import type { Log } from '../log/log.js';
import type { ActivityEvent, ActivityRecord, ActivityStatus } from '../activity/record.js';
import { canonicalRecordText } from '../activity/signer.js';
import { tlsClientOptions } from '../net/tls-client.js';

/**
 * What most alert channels want: final events (those carrying the signed
 * record), optionally only for some statuses. TheHive, which follows an
 * execution as it runs, takes every event instead.
 *
 * @example
 * accepts: finalRecords(config.statuses)
 */
export function finalRecords(statuses?: readonly ActivityStatus[]): (event: ActivityEvent) => boolean {
  return (event) => event.record !== undefined && (statuses === undefined || statuses.includes(event.record.status));
}

/**
 * The activity as a channel sends it: the exact canonical JSON that was
 * signed (so a receiver can verify the signature), base64-encoded when the
 * channel's `base64` option (Lope's `encode_activity_base64`) is on.
 */
export function activityText(record: ActivityRecord, base64: boolean): string {
  const text = canonicalRecordText(record);
  return base64 ? Buffer.from(text, 'utf8').toString('base64') : text;
}

/**
 * Node TLS options for a channel's `tls` section: the CA, client
 * certificate and key files read now (a missing file names the channel and
 * key), verification on unless `insecure`, which is logged loudly.
 *
 * @example
 * tls.connect({ host, port, ...tlsConnectOptions('syslog', config.tls, host, log) })
 */
export function tlsConnectOptions(channel: string, tls: ChannelTls, host: string, log: Log): ConnectionOptions {
  if (tls.insecure) log.warn(`INSECURE: ${channel} certificate verification is OFF; anyone on the path can read what is sent`, { channel, host });
  const material = { ca: readTlsFile(channel, 'ca', tls.ca), cert: readTlsFile(channel, 'cert', tls.cert), key: readTlsFile(channel, 'key', tls.key), passphrase: tls.passphrase, servername: tls.servername, insecure: tls.insecure };
  return tlsClientOptions(material, host);
}

function readTlsFile(channel: string, key: string, file: string | undefined): string | undefined {
  if (file === undefined) return undefined;
  try {
    return readFileSync(file, 'utf8');
  } catch (error) {
    throw new Error(`alerting.${channel}.tls.${key}: cannot read ${file}: ${(error as Error).message}`);
  }
}
