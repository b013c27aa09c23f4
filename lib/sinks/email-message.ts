import { createHash } from 'node:crypto';
import type { ActivityRecord } from '../activity/record.js';
import type { EmailChannel } from '../config/alerting.js';
import { activityText } from './channel.js';
import { activityTitle, escapeHtml, renderHtml, renderText } from './render.js';

/** What one alert mail says, before addressing: the parts of the message that come from the activities. */
export interface EmailContent {
  subject: string;
  /** `body_intro`, each activity rendered (with its signed JSON in base64 when `base64` is on), `body_end`. */
  html: string;
  /** The plain-text alternative of `html`. */
  text: string;
  /** The same for every attempt at these activities, so a mail sent twice (a retry after a lost reply) can be recognised. */
  messageId: string;
  /** Execution ids, one `X-Cafkit-Execution` header each. */
  executionIds: string[];
}

/**
 * The subject and bodies of one mail holding `records` (one activity, or a
 * batch). `body_intro` and `body_end` are the operator's HTML, inserted as
 * given; everything taken from a record is escaped by {@link renderHtml}.
 *
 * @example
 * const { subject, html, text } = composeEmail(config, [record]);
 * // subject: '[cafkit][Activity Report] Add Note on incident 2095: succeeded (120 ms)'
 */
export function composeEmail(config: Pick<EmailChannel, 'subject' | 'body_intro' | 'body_end' | 'base64'>, records: readonly ActivityRecord[]): EmailContent {
  if (records.length === 0) throw new RangeError('an alert mail needs at least one activity');
  const about = records.length === 1 ? activityTitle(records[0]!) : `${records.length} activities`;
  const html = [
    '<!DOCTYPE html><html><head><meta charset="utf-8"></head><body>',
    config.body_intro,
    records.map((record) => htmlPart(record, config.base64)).join('<hr>'),
    config.body_end,
    '</body></html>',
  ].join('\n');
  const text = [htmlToText(config.body_intro), records.map((record) => textPart(record, config.base64)).join('\n\n----\n\n'), htmlToText(config.body_end)]
    .filter((part) => part !== '')
    .join('\n\n');
  const ids = records.map((record) => record.id);
  return {
    subject: `${config.subject} ${about}`,
    html,
    text: `${text}\n`,
    messageId: `<${createHash('sha256').update(ids.join(',')).digest('hex').slice(0, 40)}@cafkit>`,
    executionIds: [...new Set(records.map((record) => record.execution_id))],
  };
}

function htmlPart(record: ActivityRecord, base64: boolean): string {
  if (!base64) return renderHtml(record);
  // Under its rendering, so a receiver can take the exact signed bytes and verify them.
  return `${renderHtml(record)}<p style="font-size:11px;margin:8px 0 2px">Signed activity (base64 of its canonical JSON):</p><pre class="cafkit-signed" style="white-space:pre-wrap;word-break:break-all;font-size:11px">${escapeHtml(activityText(record, true))}</pre>`;
}

function textPart(record: ActivityRecord, base64: boolean): string {
  const rendered = renderText(record);
  return base64 ? `${rendered}\n\nSigned activity (base64 of its canonical JSON):\n${activityText(record, true)}` : rendered;
}

const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', '#39': "'", nbsp: ' ' };

/**
 * The operator's intro/end HTML as text for the plain alternative: line
 * breaks at block ends, tags dropped, the common entities decoded. A
 * readable approximation, not an HTML renderer.
 */
export function htmlToText(html: string): string {
  return html
    .replace(/<(br|\/p|\/div|\/h[1-6]|\/li|\/tr)\b[^>]*>/gi, '\n')
    .replace(/<[^>]*>/g, '')
    .replace(/&(amp|lt|gt|quot|#39|nbsp);/g, (_, name: string) => ENTITIES[name]!)
    .replace(/[ \t]+\n/g, '\n')
    .replace(/\n{3,}/g, '\n\n')
    .trim();
}
