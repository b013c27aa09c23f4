import type { ActivityRecord, ExecutionSummary, StepRecord } from '../activity/record.js';
import { activityText } from './channel.js';
import { renderText } from './render.js';

/*
 * What the TheHive sink writes: case titles, tags and descriptions, and the
 * Markdown of its task logs (TheHive renders Markdown in both).
 */

/** `cafkit: Add Note on incident 2095`: what the execution is about, without its outcome. */
export function caseTitle(about: Pick<ExecutionSummary, 'action_name' | 'action_id' | 'object_type' | 'object_ids'>): string {
  const action = about.action_name ?? `action ${about.action_id ?? '?'}`;
  const object = about.object_type ? ` on ${about.object_type} ${about.object_ids[about.object_type]}` : '';
  return `cafkit: ${action}${object}`;
}

/**
 * The case's tags: `cafkit`, the execution, the correlation id when there is one, then the configured ones.
 *
 * @example
 * caseTags('0190…', 'invid:7', ['soc']); // ['cafkit', 'execution:0190…', 'correlation:invid:7', 'soc']
 */
export function caseTags(executionId: string, correlationId: string | null, extra: readonly string[]): string[] {
  const tags = ['cafkit', `execution:${executionId}`];
  if (correlationId !== null) tags.push(`correlation:${correlationId}`);
  for (const tag of extra) if (!tags.includes(tag)) tags.push(tag);
  return tags;
}

/** The facts of a started execution, as label/value pairs (empty values left out). */
export function summaryFacts(executionId: string, correlationId: string | null, about: ExecutionSummary): Array<[string, string]> {
  const facts: Array<[string, string | null | undefined]> = [
    ['Action', about.action_name ?? (about.action_id !== null ? `action ${about.action_id}` : null)],
    ['Destination', about.destination],
    ['Processor', about.processor],
    ['Objects', Object.entries(about.object_ids).map(([kind, id]) => `${kind} ${id}`).join(', ')],
    ['User', about.user?.email ?? (about.user?.id != null ? String(about.user.id) : null)],
    ['Organisation', String(about.org_id)],
    ['Received', about.received_at],
    ['Execution', executionId],
    ['Correlation', correlationId],
    ['Re-run', about.rerun ? 'yes: an earlier run of this invocation did not finish' : null],
  ];
  return facts.filter((f): f is [string, string] => typeof f[1] === 'string' && f[1] !== '');
}

/** The facts of a finished execution, from its record. */
export function recordFacts(record: ActivityRecord): Array<[string, string]> {
  return summaryFacts(record.execution_id, record.correlation_id, {
    org_id: record.org_id,
    destination: record.destination,
    action_id: record.action_id,
    action_name: record.action_name,
    processor: record.processor.name,
    object_type: record.object_type,
    object_ids: record.object_ids,
    user: record.user,
    received_at: record.received_at,
    ...(record.rerun ? { rerun: true as const } : {}),
  });
}

/** Facts as a Markdown list, values in code spans so ids and addresses read as they are. */
export function markdownFacts(facts: ReadonlyArray<readonly [string, string]>): string {
  return ['Activity of a cafkit action processor.', '', ...facts.map(([label, value]) => `- **${label}:** ${codeSpan(value)}`)].join('\n');
}

/**
 * A step's log: its outcome, with the output variables as a JSON code block or the error.
 *
 * @example
 * stepOutcome({ name: 'lookup', status: 'succeeded', output: { ip: '10.0.0.1' } });
 * // 'Step **lookup** succeeded.\n\nOutput variables:\n\n```json\n{ "ip": "10.0.0.1" }…'
 */
export function stepOutcome(step: StepRecord): string {
  const took = step.started_at && step.ended_at ? ` in ${Date.parse(step.ended_at) - Date.parse(step.started_at)} ms` : '';
  if (step.status === 'failed') return [`Step **${step.name}** failed${took}:`, '', fence(step.error ?? 'no error given', 'text')].join('\n');
  const lines = [`Step **${step.name}** succeeded${took}.`];
  if (step.output !== undefined) lines.push('', 'Output variables:', '', fence(JSON.stringify(step.output, null, 2), 'json'));
  return lines.join('\n');
}

/** The final log: the readable summary, then the signed record as sent by the other channels. */
export function outcomeLog(record: ActivityRecord, base64: boolean): string {
  return [
    fence(renderText(record), 'text'),
    '',
    base64 ? 'Signed activity record (canonical JSON, base64):' : 'Signed activity record (canonical JSON):',
    '',
    fence(activityText(record, base64), base64 ? 'text' : 'json'),
  ].join('\n');
}

/** A fenced code block longer than any run of backticks inside `text`, so the text cannot end it. */
function fence(text: string, lang: string): string {
  const longest = Math.max(2, ...[...text.matchAll(/`+/g)].map((m) => m[0].length));
  const bar = '`'.repeat(longest + 1);
  return `${bar}${lang}\n${text}\n${bar}`;
}

function codeSpan(text: string): string {
  const longest = Math.max(0, ...[...text.matchAll(/`+/g)].map((m) => m[0].length));
  const ticks = '`'.repeat(longest + 1);
  return longest > 0 ? `${ticks} ${text} ${ticks}` : `${ticks}${text}${ticks}`;
}
