import type { ApplyEvent, ApplyResult, StepFailure } from './apply.js';
import { countSteps, type Plan, type PlanStep, type StepKind } from './plan.js';

/** What people call each kind of object. */
const KIND: Record<StepKind, string> = { destination: 'message destination', field: 'action field', action: 'action' };

/**
 * A plan for people, one line a step and a summary:
 *
 * ```
 * + create action field priority (select: Low, Medium, High, Critical)
 * ~ update action Add Note: layout.header 'a' → 'b'
 * = unchanged message destination incident_ops
 * 1 to create, 1 to update, 1 unchanged
 * ```
 */
export function renderPlan(plan: Plan): string {
  const lines = plan.steps.flatMap((step) => [renderStep(step), ...step.warnings.map((w) => `    ! ${w}`)]);
  return [...lines, renderSummary(plan)].join('\n');
}

/** One step: `+ create …`, `~ update …: key 'from' → 'to'`, `= unchanged …`. */
export function renderStep(step: PlanStep): string {
  const what = `${KIND[step.kind]} ${step.name}`;
  switch (step.op) {
    case 'create':
      return `+ create ${what} (${describe(step)})`;
    case 'update':
      return `~ update ${what}: ${step.changes.map((c) => `${c.key} ${show(c.from)} → ${show(c.to)}`).join('; ')}`;
    case 'unchanged':
      return `= unchanged ${what}`;
  }
}

/** `2 to create, 1 to update, 5 unchanged`. */
export function renderSummary(plan: Plan): string {
  const n = countSteps(plan);
  return `${n.create} to create, ${n.update} to update, ${n.unchanged} unchanged`;
}

/** A progress line while applying (empty for a step that is just starting). */
export function renderProgress(event: ApplyEvent): string {
  const at = `[${event.index}/${event.total}]`;
  if (event.type === 'start') return '';
  if (event.type === 'failed') return `${at} ✗ ${renderFailure(event.failure)}`;
  const { step, id, wrote } = event.applied;
  const verb = step.op === 'create' ? 'created' : wrote ? 'updated' : 'already up to date:';
  return `${at} ✓ ${verb} ${KIND[step.kind]} ${step.name} (id ${id})`;
}

/** `update action field severity refused: HTTP 400: <the platform's message>`. */
export function renderFailure(failure: StepFailure): string {
  const { step } = failure;
  return `${step.op} ${KIND[step.kind]} ${step.name} refused: ${failure.status !== undefined ? `HTTP ${failure.status}: ` : ''}${failure.message}`;
}

/** The outcome of applying: counts, the refusal with its reason, and what was not attempted. */
export function renderResult(result: ApplyResult): string {
  const lines: string[] = [];
  if (!result.failed) {
    lines.push(`Applied ${result.applied.length} change${result.applied.length === 1 ? '' : 's'}; ${result.unchanged.length} unchanged.`);
    return lines.join('\n');
  }
  lines.push(
    `Stopped: ${result.applied.length} applied, 1 refused, ${result.notAttempted.length} not attempted, ${result.unchanged.length} unchanged.`,
    `Refused: ${renderFailure(result.failed)}`,
  );
  if (result.notAttempted.length > 0) {
    lines.push('Not attempted:');
    for (const step of result.notAttempted) lines.push(`  - ${step.op} ${KIND[step.kind]} ${step.name}`);
  }
  return lines.join('\n');
}

/** The declared keys of a new object, briefly. */
function describe(step: PlanStep): string {
  switch (step.kind) {
    case 'destination': {
      const d = step.declared.definition;
      return [quote(d.name), d.destination_type, d.expect_ack === undefined ? undefined : d.expect_ack ? 'expects acks' : 'no acks']
        .filter((p) => p !== undefined)
        .join(', ');
    }
    case 'field': {
      const f = step.declared.definition;
      const kind = f.values ? `${f.input_type}: ${f.values.map((v) => v.label).join(', ')}` : f.input_type;
      return f.required ? `${kind}; required` : kind;
    }
    case 'action': {
      const a = step.declared.definition;
      const parts = [`${a.type} on ${a.object_type} → ${a.destinations.join(', ')}`];
      const conditions = step.changes.find((c) => c.key === 'conditions')?.to;
      if (Array.isArray(conditions) && conditions.length > 0) parts.push(`when ${conditions.join(a.logic === 'any' ? ' or ' : ' and ')}`);
      if (a.layout?.header !== undefined) parts.push(`header ${quote(a.layout.header)}`);
      if (a.layout?.fields?.length) parts.push(`fields: ${a.layout.fields.join(', ')}`);
      return parts.join('; ');
    }
  }
}

/** A value in a change line: strings quoted, lists in brackets, nothing as `(none)`. */
function show(value: unknown): string {
  if (value === undefined || value === null) return '(none)';
  if (typeof value === 'string') return quote(value);
  if (Array.isArray(value)) return `[${value.map((v) => (typeof v === 'string' ? v : show(v))).join(', ')}]`;
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}

function quote(text: string): string {
  return `'${text}'`;
}
