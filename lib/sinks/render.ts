import type { ActivityRecord } from '../activity/record.js';

/** One line naming the execution: `Add Note on incident 2095: succeeded (120 ms)`. */
export function activityTitle(record: ActivityRecord): string {
  const action = record.action_name ?? `action ${record.action_id ?? '?'}`;
  const object = record.object_type ? ` on ${record.object_type} ${record.object_ids[record.object_type]}` : '';
  const took = durationMs(record);
  return `${action}${object}: ${record.status.replace('_', ' ')}${took === undefined ? '' : ` (${took} ms)`}`;
}

/** Milliseconds from start (or receipt) to end, when both are known. */
export function durationMs(record: ActivityRecord): number | undefined {
  const from = record.started_at ?? record.received_at;
  if (!record.ended_at || !from) return undefined;
  return Date.parse(record.ended_at) - Date.parse(from);
}

/** The facts of a record as label/value pairs, in reading order; empty values left out. */
export function activityFacts(record: ActivityRecord): Array<[string, string]> {
  const facts: Array<[string, string | null | undefined]> = [
    ['Status', record.status],
    ['Action', record.action_name],
    ['Processor', record.processor.name],
    ['Destination', record.destination],
    ['Objects', Object.entries(record.object_ids).map(([kind, id]) => `${kind} ${id}`).join(', ')],
    ['User', record.user?.email ?? (record.user?.id != null ? String(record.user.id) : null)],
    ['Received', record.received_at],
    ['Started', record.started_at],
    ['Ended', record.ended_at],
    ['Error', record.error],
    ['Re-run', record.rerun ? 'yes: an earlier run of this invocation did not finish' : null],
    ['Execution', record.execution_id],
    ['Correlation', record.correlation_id],
    ['Host', `${record.processor.host} (cafkit ${record.processor.version})`],
    ['Record', `${record.chain_id} #${record.seq}`],
  ];
  return facts.filter((f): f is [string, string] => typeof f[1] === 'string' && f[1] !== '');
}

function stepLine(step: ActivityRecord['steps'][number]): string {
  const took = step.started_at && step.ended_at ? ` (${Date.parse(step.ended_at) - Date.parse(step.started_at)} ms)` : '';
  return `${step.name}: ${step.status}${took}${step.error ? `: ${step.error}` : ''}`;
}

function replyLine(reply: ActivityRecord['replies'][number]): string {
  const kind = reply.message_type === 0 ? 'info' : reply.message_type === 1 ? 'warning' : 'error';
  return `${reply.at} ${kind}${reply.complete ? ' (final)' : ''}: ${reply.message}`;
}

/**
 * The record for people, as plain text: a title, the facts, the steps and
 * the replies. What Slack and a text webhook body show.
 */
export function renderText(record: ActivityRecord): string {
  const lines = [activityTitle(record), ''];
  for (const [label, value] of activityFacts(record)) lines.push(`${label}: ${value}`);
  if (record.steps.length > 0) lines.push('', 'Steps:', ...record.steps.map((s) => `  - ${stepLine(s)}`));
  if (record.replies.length > 0) lines.push('', 'Replies:', ...record.replies.map((r) => `  - ${replyLine(r)}`));
  return lines.join('\n');
}

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** `text` safe inside HTML element content and quoted attributes. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ESCAPES[c]!);
}

const STATUS_COLOUR: Record<string, string> = { succeeded: '#2e7d32', failed: '#c62828', dead_lettered: '#c62828', timed_out: '#ef6c00' };

/**
 * The record for people, as an HTML fragment (a heading, a table of facts,
 * the steps and the replies), every value escaped. What an email shows
 * between the configured intro and end.
 */
export function renderHtml(record: ActivityRecord): string {
  const colour = STATUS_COLOUR[record.status] ?? '#455a64';
  const rows = activityFacts(record)
    .map(([label, value]) => `<tr><th align="left" style="padding:2px 12px 2px 0">${escapeHtml(label)}</th><td>${escapeHtml(value)}</td></tr>`)
    .join('');
  const parts = [
    `<div class="cafkit-activity">`,
    `<h3 style="color:${colour};margin:12px 0 6px">${escapeHtml(activityTitle(record))}</h3>`,
    `<table style="border-collapse:collapse;font-family:sans-serif;font-size:13px">${rows}</table>`,
  ];
  if (record.steps.length > 0) parts.push(`<p><b>Steps</b></p><ol>${record.steps.map((s) => `<li>${escapeHtml(stepLine(s))}</li>`).join('')}</ol>`);
  if (record.replies.length > 0) parts.push(`<p><b>Replies</b></p><ul>${record.replies.map((r) => `<li>${escapeHtml(replyLine(r))}</li>`).join('')}</ul>`);
  parts.push('</div>');
  return parts.join('');
}
