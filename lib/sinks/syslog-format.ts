import type { ActivityStatus } from '../activity/record.js';
import type { SyslogChannel } from '../config/alerting.js';

/**
 * Syslog messages as bytes: PRI, the RFC 5424 and RFC 3164 headers, the
 * RFC 5424 structured data, the size limit with its cut marker, and the
 * RFC 6587 octet-counting frame of TCP and TLS (RFC 5425). Pure functions:
 * the transports in `syslog.ts` only move what these return.
 */

/** A severity name as the channel's `severities` take it (`err`, `info`…). */
export type SyslogSeverity = NonNullable<SyslogChannel['severities'][ActivityStatus]>;
/** A facility name as the channel's `facility` takes it (`user`, `local4`…). */
export type SyslogFacility = SyslogChannel['facility'];
/** `rfc5424` or `rfc3164`. */
export type SyslogFormat = SyslogChannel['format'];

/** RFC 5424 §6.2.1, table 2. */
export const SEVERITY_CODES: Readonly<Record<SyslogSeverity, number>> = {
  emerg: 0, alert: 1, crit: 2, err: 3, warning: 4, notice: 5, info: 6, debug: 7,
};

/** RFC 5424 §6.2.1, table 1 (`authpriv` 10, `ftp` 11, `local0`… 16…). */
export const FACILITY_CODES: Readonly<Record<SyslogFacility, number>> = {
  kern: 0, user: 1, mail: 2, daemon: 3, auth: 4, syslog: 5, lpr: 6, news: 7, uucp: 8, cron: 9, authpriv: 10, ftp: 11,
  local0: 16, local1: 17, local2: 18, local3: 19, local4: 20, local5: 21, local6: 22, local7: 23,
};

/** The severity of an activity by its status, unless the channel's `severities` says otherwise. */
export const DEFAULT_SEVERITIES: Readonly<Record<ActivityStatus, SyslogSeverity>> = {
  succeeded: 'info',
  failed: 'err',
  dead_lettered: 'err',
  timed_out: 'warning',
  received: 'notice',
  running: 'notice',
};

/**
 * The PRI value: facility × 8 + severity.
 *
 * @example
 * syslogPri('local4', 'err') // 163
 */
export function syslogPri(facility: SyslogFacility, severity: SyslogSeverity): number {
  return FACILITY_CODES[facility] * 8 + SEVERITY_CODES[severity];
}

/** The severity of an activity that ended with `status`: the channel's override, else the default. */
export function severityFor(status: ActivityStatus, overrides: SyslogChannel['severities']): SyslogSeverity {
  return overrides[status] ?? DEFAULT_SEVERITIES[status];
}

/**
 * An RFC 5424 SD-PARAM value with `"`, `\` and `]` escaped (§6.3.3).
 *
 * @example
 * escapeSdParam('a "b" [c]') // 'a \\"b\\" [c\\]'
 */
export function escapeSdParam(value: string): string {
  return value.replace(/["\\\]]/g, (c) => `\\${c}`);
}

/**
 * An RFC 5424 SD-ELEMENT: `[id name="value" …]`, values escaped.
 *
 * @example
 * sdElement('origin', { software: 'cafkit', swVersion: '0.1.0' }) // '[origin software="cafkit" swVersion="0.1.0"]'
 */
export function sdElement(id: string, params: Readonly<Record<string, string>>): string {
  const parts = Object.entries(params).map(([name, value]) => ` ${name}="${escapeSdParam(value)}"`);
  return `[${id}${parts.join('')}]`;
}

const pad = (n: number, width = 2): string => String(n).padStart(width, '0');

/**
 * RFC 5424 TIMESTAMP (RFC 3339): local time with milliseconds and the UTC
 * offset, e.g. `2024-05-06T09:08:07.123+02:00`. `offsetMinutes` east of UTC
 * (default: this host's offset at that instant).
 */
export function rfc5424Timestamp(date: Date, offsetMinutes = -date.getTimezoneOffset()): string {
  const local = new Date(date.getTime() + offsetMinutes * 60_000);
  const sign = offsetMinutes < 0 ? '-' : '+';
  const abs = Math.abs(offsetMinutes);
  return `${local.getUTCFullYear()}-${pad(local.getUTCMonth() + 1)}-${pad(local.getUTCDate())}T`
    + `${pad(local.getUTCHours())}:${pad(local.getUTCMinutes())}:${pad(local.getUTCSeconds())}.${pad(local.getUTCMilliseconds(), 3)}`
    + `${sign}${pad(Math.floor(abs / 60))}:${pad(abs % 60)}`;
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'] as const;

/**
 * RFC 3164 TIMESTAMP: `Mmm dd hh:mm:ss` in local time, the day padded with a
 * space (`May  6 09:08:07`); no year, no zone, as the RFC has it.
 */
export function rfc3164Timestamp(date: Date, offsetMinutes = -date.getTimezoneOffset()): string {
  const local = new Date(date.getTime() + offsetMinutes * 60_000);
  return `${MONTHS[local.getUTCMonth()]!} ${String(local.getUTCDate()).padStart(2, ' ')} `
    + `${pad(local.getUTCHours())}:${pad(local.getUTCMinutes())}:${pad(local.getUTCSeconds())}`;
}

/**
 * A header field as RFC 5424 allows it: printable US-ASCII without spaces,
 * at most `max` characters, `-` when empty. RFC 3164's HOSTNAME and TAG take
 * the same treatment (a space would end the field early).
 */
export function headerField(value: string, max: number): string {
  const clean = value.replace(/[^\x21-\x7e]/g, '_').slice(0, max);
  return clean === '' ? '-' : clean;
}

/** What goes in front of the MSG. */
export interface SyslogHeaderFields {
  format: SyslogFormat;
  facility: SyslogFacility;
  severity: SyslogSeverity;
  /** When the activity happened (the event's time). */
  date: Date;
  /** Offset of the timestamp's local time, minutes east of UTC (default: this host's). */
  offsetMinutes?: number;
  hostname: string;
  /** APP-NAME (5424) or TAG (3164). */
  appName: string;
  procId: string;
  /** RFC 5424 only. */
  msgId: string;
  /** RFC 5424 only: SD-ELEMENTs, or '' for none (NILVALUE). */
  structuredData: string;
}

/**
 * The header up to and including the space before the MSG.
 *
 * RFC 5424: `<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID SD `.
 * RFC 3164: `<PRI>Mmm dd hh:mm:ss HOSTNAME TAG[PID]: `.
 */
export function syslogHeader(h: SyslogHeaderFields): string {
  const pri = `<${syslogPri(h.facility, h.severity)}>`;
  if (h.format === 'rfc3164') {
    return `${pri}${rfc3164Timestamp(h.date, h.offsetMinutes)} ${headerField(h.hostname, 255)} ${headerField(h.appName, 32)}[${headerField(h.procId, 128)}]: `;
  }
  const sd = h.structuredData === '' ? '-' : h.structuredData;
  return `${pri}1 ${rfc5424Timestamp(h.date, h.offsetMinutes)} ${headerField(h.hostname, 255)} ${headerField(h.appName, 48)} `
    + `${headerField(h.procId, 128)} ${headerField(h.msgId, 32)} ${sd} `;
}

/**
 * `msg` cut to at most `budget` UTF-8 bytes, on a character boundary, ending
 * with `…[cut: N bytes]` (N: the bytes of `msg` left out) so the receiver
 * knows it is not whole; `msg` itself when it fits.
 *
 * @example
 * cutMessage('x'.repeat(100), 40) // 22 × 'x' + '…[cut: 78 bytes]' (40 bytes)
 */
export function cutMessage(msg: string, budget: number): string {
  const bytes = Buffer.from(msg, 'utf8');
  if (bytes.length <= budget) return msg;
  // The marker's length depends on the digits of N, and N on the marker's length: try each width.
  for (let digits = 1; digits <= 16; digits++) {
    const markerBytes = Buffer.byteLength(cutMarker(0), 'utf8') - 1 + digits;
    const keep = utf8Boundary(bytes, budget - markerBytes);
    const cut = bytes.length - keep;
    if (String(cut).length <= digits) return bytes.toString('utf8', 0, keep) + cutMarker(cut);
  }
  throw new RangeError(`cannot cut a message of ${bytes.length} bytes to ${budget}`);
}

/** The suffix of a cut message. */
export function cutMarker(cutBytes: number): string {
  return `…[cut: ${cutBytes} bytes]`;
}

/** The largest length ≤ `limit` (≥ 0) that does not split a UTF-8 character of `bytes`. */
function utf8Boundary(bytes: Buffer, limit: number): number {
  let end = Math.max(0, Math.min(limit, bytes.length));
  // 10xxxxxx is a continuation byte: step back to the start of its character.
  while (end > 0 && end < bytes.length && (bytes[end]! & 0xc0) === 0x80) end--;
  return end;
}

/**
 * A whole syslog message, header and MSG, at most `maxBytes` UTF-8 bytes:
 * the MSG is cut (and marked) when it would not fit.
 *
 * @throws {RangeError} the header alone leaves no room for the cut marker.
 */
export function syslogMessage(header: string, msg: string, maxBytes: number): string {
  const budget = maxBytes - Buffer.byteLength(header, 'utf8');
  if (budget < Buffer.byteLength(cutMarker(0), 'utf8') + 8) {
    throw new RangeError(`syslog header of ${maxBytes - budget} bytes leaves no room for a message within max_message_bytes ${maxBytes}`);
  }
  return header + cutMessage(msg, budget);
}

/**
 * RFC 6587 octet-counting frame (`MSG-LEN SP SYSLOG-MSG`), the framing of
 * syslog over TCP and of RFC 5425 over TLS: the receiver needs no delimiter,
 * so a message may hold any byte.
 *
 * @example
 * octetFrame('<14>1 - - - - - - hi').toString() // '20 <14>1 - - - - - - hi'
 */
export function octetFrame(message: string): Buffer {
  const body = Buffer.from(message, 'utf8');
  return Buffer.concat([Buffer.from(`${body.length} `, 'ascii'), body]);
}
