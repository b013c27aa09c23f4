/**
 * # severity-rule: the organisation's own severity logic
 *
 * The CAF guide's third use case: every time an incident is created or
 * changed, the automatic action **Apply Severity Rules** works out the
 * severity from the incident's built-in and custom fields and sets
 * `severity_code` accordingly.
 *
 * - Rules are checked in order and the first whose conditions all hold wins.
 *   No match leaves the severity as it is.
 * - The incident is read fresh and the rules are applied inside
 *   `ctx.rest.getPut`, so a 409 re-reads and decides again on the new data.
 * - The write is made only when the severity differs. Running again on a
 *   settled incident makes no write.
 * - By default rules only raise the severity: an analyst who set High by hand
 *   is not overruled by a rule saying Medium (`allow_lowering: true` changes that).
 * - Every write goes through `ctx.rest`, so it carries the message's context
 *   token. The platform then does not fire this action again for its own
 *   change; without that token, the guide's infinite loop would follow.
 *
 * Conditions name a field of the incident (`name`, `description`,
 * `severity_code`, `plan_status`, a custom field as `properties.<name>` or by
 * name) and compare with `equals`, `contains` (text, case-insensitive, or an
 * element of a multi-select), `in` (one of a list), `gte` or `lte`
 * (numbers, dates in ms). Select fields are compared by their label, through
 * the message's `type_info` (`ctx.label`), so rules say `plan_status equals
 * Active` rather than an id.
 *
 * - Destination `severity_rule`; platform objects in `destinations/severity-rule.yaml`.
 * - Results: `{rule, severity, previous, changed}` (`rule` is 1-based, null when none matched).
 *
 * Settings (`settings.severity-rule`); without a section the defaults below apply:
 *
 * ```yaml
 * severity-rule:
 *   allow_lowering: false
 *   rules:
 *     - when: [{ field: name, operator: contains, value: ransomware }]
 *       severity: High
 *     - when: [{ field: properties.business_unit, operator: in, value: [Finance, HR] },
 *              { field: severity_code, operator: equals, value: Low }]
 *       severity: Medium
 * ```
 */
import { z } from 'zod';
import { ActionError, defineProcessor, type ActionData, type HandlerContext } from '../../lib/index.js';
import { incidentOf } from '../_shared/action-objects.js';

/** Severities the rules may set, lowest first. */
export const SEVERITIES = ['Low', 'Medium', 'High'] as const;
type Severity = (typeof SEVERITIES)[number];

const scalar = z.union([z.string(), z.number(), z.boolean()]);
const ConditionSchema = z
  .object({
    field: z.string().min(1),
    operator: z.enum(['equals', 'contains', 'gte', 'lte', 'in']),
    value: z.union([scalar, z.array(scalar)]),
  })
  .refine((c) => (c.operator === 'in') === Array.isArray(c.value), {
    error: 'operator in takes a list of values; the other operators take one value',
    path: ['value'],
  })
  .refine((c) => !['gte', 'lte'].includes(c.operator) || Number.isFinite(Number(c.value)), {
    error: 'operators gte and lte compare numbers',
    path: ['value'],
  });
const RuleSchema = z.object({
  when: z.array(ConditionSchema).min(1, { error: 'a rule needs at least one condition' }),
  severity: z.enum(SEVERITIES, { error: `must be one of ${SEVERITIES.join(', ')}` }),
});
/** One rule: when every condition holds, the incident gets `severity`. */
export type Rule = z.infer<typeof RuleSchema>;
type Condition = Rule['when'][number];

/** The rules used when the settings name none. */
export const DEFAULT_RULES: Rule[] = [
  { when: [{ field: 'name', operator: 'contains', value: 'ransomware' }], severity: 'High' },
  { when: [{ field: 'description', operator: 'contains', value: 'ransomware' }], severity: 'High' },
  { when: [{ field: 'name', operator: 'contains', value: 'data breach' }], severity: 'High' },
  { when: [{ field: 'name', operator: 'contains', value: 'phishing' }], severity: 'Medium' },
];

const settings = z.object({
  rules: z.array(RuleSchema).default(DEFAULT_RULES),
  allow_lowering: z.boolean().default(false),
});
type Settings = z.infer<typeof settings>;

interface Incident {
  id: number;
  vers: number;
  severity_code: number | string | null;
  properties?: Record<string, unknown>;
  [field: string]: unknown;
}

/** What the rules decided for the incident as last read. */
interface Decision {
  rule: number | null;
  target: Severity | undefined;
  previous: string | undefined;
  write: boolean;
  /** Why a matching rule made no change. */
  kept?: string;
}

export default defineProcessor({
  name: 'severity-rule',
  destination: 'severity_rule',
  settings,
  actions: {
    'Apply Severity Rules': async (message, ctx) => {
      const incidentId = incidentOf(message);
      let decision: Decision = { rule: null, target: undefined, previous: undefined, write: false };
      await ctx.rest.getPut<Incident>(
        `/incidents/${incidentId}`,
        (incident) => {
          decision = decide(incident, message, ctx);
          return decision.write ? { ...incident, severity_code: severityId(message, decision.target!) } : undefined;
        },
        { signal: ctx.signal },
      );
      const { rule, target, previous, write } = decision;
      const results = { rule, severity: target ?? previous ?? null, previous: previous ?? null, changed: write };
      if (rule === null) return { message: `No severity rule matched incident ${incidentId}; severity left at ${previous ?? 'none'}`, results };
      const because = `Rule ${rule} (${describeRule(ctx.settings.rules[rule - 1]!)})`;
      if (write) return { message: `${because}: severity of incident ${incidentId} set from ${previous ?? 'none'} to ${target}`, results };
      return { message: `${because} says ${target}: ${decision.kept ?? `incident ${incidentId} already has that severity`}`, results };
    },
  },
});

/** Applies the rules to the incident as read. */
function decide(incident: Incident, message: ActionData, ctx: HandlerContext<Settings>): Decision {
  const previous = ctx.label('incident', 'severity_code', incident.severity_code);
  const index = ctx.settings.rules.findIndex((rule) => rule.when.every((condition) => holds(condition, incident, ctx)));
  if (index < 0) return { rule: null, target: undefined, previous, write: false };
  const target = ctx.settings.rules[index]!.severity;
  const decision: Decision = { rule: index + 1, target, previous, write: false };
  if (previous === target) return decision;
  if (!ctx.settings.allow_lowering && rank(previous, incident.severity_code) > SEVERITIES.indexOf(target)) {
    return { ...decision, kept: `incident ${incident.id} is already ${previous ?? `severity ${incident.severity_code}`}, and rules do not lower a severity (allow_lowering is false)` };
  }
  severityId(message, target); // fails here, before any write, if the platform lacks the severity
  return { ...decision, write: true };
}

/** Where a severity stands: none is lowest; a label the rules do not know (a custom "Critical") is never lowered. */
function rank(label: string | undefined, id: unknown): number {
  if (id === null || id === undefined) return -1;
  const index = SEVERITIES.indexOf(label as Severity);
  return index >= 0 ? index : Number.POSITIVE_INFINITY;
}

/** The platform's id of a severity label, from the message's `type_info`. */
function severityId(message: ActionData, label: Severity): number | string {
  const values = message.type_info['incident']?.fields['severity_code']?.values ?? {};
  const found = Object.entries(values).find(([, v]) => v.label === label);
  if (!found) {
    const known = Object.values(values).map((v) => v.label);
    throw new ActionError(`severity ${label} is not one of the platform's severities (${known.join(', ') || 'none in the message type_info'})`);
  }
  const [id, value] = found;
  return value.value ?? (Number.isNaN(Number(id)) ? id : Number(id));
}

/** Whether one condition holds for the incident. */
function holds(condition: Condition, incident: Incident, ctx: HandlerContext<Settings>): boolean {
  const { name, raw } = read(incident, condition.field);
  if (raw === undefined || raw === null) return false;
  const items = Array.isArray(raw) ? raw : [raw];
  // A select value is compared by its label (and, failing that, by its id).
  const texts = items.flatMap((item) => {
    const label = ctx.label('incident', name, item);
    return label === undefined ? [text(item)] : [label, text(item)];
  });
  const same = (wanted: unknown) => texts.some((t) => t.toLowerCase() === String(wanted).toLowerCase());
  switch (condition.operator) {
    case 'equals':
      return same(condition.value);
    case 'in':
      return (condition.value as unknown[]).some(same);
    case 'contains':
      return Array.isArray(raw) ? same(condition.value) : texts.some((t) => t.toLowerCase().includes(String(condition.value).toLowerCase()));
    case 'gte':
    case 'lte': {
      const n = Number(raw);
      const limit = Number(condition.value);
      if (Array.isArray(raw) || typeof raw === 'boolean' || !Number.isFinite(n)) return false;
      return condition.operator === 'gte' ? n >= limit : n <= limit;
    }
  }
}

/** A field's value: `properties.x` is a custom field; a plain name is built-in, else custom. */
function read(incident: Incident, field: string): { name: string; raw: unknown } {
  const name = field.replace(/^incident\./, '');
  if (name.startsWith('properties.')) {
    const custom = name.slice('properties.'.length);
    return { name: custom, raw: incident.properties?.[custom] };
  }
  return { name, raw: name in incident ? incident[name] : incident.properties?.[name] };
}

/** Text of a value; rich text (`{format, content}`) is its content. */
function text(value: unknown): string {
  if (value !== null && typeof value === 'object' && typeof (value as { content?: unknown }).content === 'string') return (value as { content: string }).content;
  return String(value);
}

function describeRule(rule: Rule): string {
  return rule.when.map((c) => `${c.field} ${c.operator} ${JSON.stringify(c.value)}`).join(' and ');
}
