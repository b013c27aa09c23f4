import type { RestClient } from '../rest/client.js';
import { ConflictError, RestError } from '../rest/errors.js';
import { PATHS } from './platform.js';
import { stepProperties, type Plan, type PlanStep } from './plan.js';
import { created, patched, type PlatformObject } from './properties.js';

/** A step that went through. */
export interface AppliedStep {
  step: PlanStep;
  /** The object's id on the platform. */
  id: number;
  /** False when an update found the object already as declared on re-reading it (someone else made the change). */
  wrote: boolean;
}

/** The step the platform refused (or that could not reach it). */
export interface StepFailure {
  step: PlanStep;
  /** The HTTP status, when the platform answered. */
  status?: number;
  /** The platform's own message, or what went wrong. */
  message: string;
}

/** What {@link applyPlan} did. */
export interface ApplyResult {
  applied: AppliedStep[];
  /** Steps that needed nothing. */
  unchanged: PlanStep[];
  /** The first refusal; nothing after it was tried. */
  failed?: StepFailure;
  /** Steps after the failure that would have changed something. */
  notAttempted: PlanStep[];
}

/** Progress of {@link applyPlan}, one event as each step starts and ends. */
export type ApplyEvent =
  | { type: 'start'; step: PlanStep; index: number; total: number }
  | { type: 'applied'; applied: AppliedStep; index: number; total: number }
  | { type: 'failed'; failure: StepFailure; index: number; total: number };

/** Options of {@link applyPlan}. */
export interface ApplyOptions {
  onProgress?: (event: ApplyEvent) => void;
}

/**
 * Applies a plan in its order (destinations, fields, actions). Creates with
 * POST; updates through `rest.getPut`, so the object is re-read and the
 * declared keys re-applied when another user changed it meanwhile (409),
 * keeping that user's other changes. Stops at the first refusal: what was
 * applied, what failed (object, HTTP status, the platform's message) and what
 * was not attempted are all in the result; nothing is half-applied silently.
 *
 * @example
 * const result = await applyPlan(rest, plan, { onProgress: (e) => console.log(renderProgress(e)) });
 * if (result.failed) process.exitCode = 1;
 */
export async function applyPlan(rest: RestClient, plan: Plan, options: ApplyOptions = {}): Promise<ApplyResult> {
  const result: ApplyResult = { applied: [], unchanged: [], notAttempted: [] };
  const work = plan.steps.filter((s) => s.op !== 'unchanged');
  result.unchanged = plan.steps.filter((s) => s.op === 'unchanged');
  for (const [index, step] of work.entries()) {
    if (result.failed) {
      result.notAttempted.push(step);
      continue;
    }
    const at = { index: index + 1, total: work.length };
    options.onProgress?.({ type: 'start', step, ...at });
    try {
      const applied = step.op === 'create' ? await create(rest, plan, step) : await update(rest, plan, step);
      result.applied.push(applied);
      options.onProgress?.({ type: 'applied', applied, ...at });
    } catch (error) {
      result.failed = failure(step, error);
      options.onProgress?.({ type: 'failed', failure: result.failed, ...at });
    }
  }
  return result;
}

async function create(rest: RestClient, plan: Plan, step: PlanStep): Promise<AppliedStep> {
  const body = created(stepProperties(step, plan.types), identity(step));
  const answer = await rest.post<{ id: number }>(collection(step), body);
  return { step, id: answer.id, wrote: true };
}

async function update(rest: RestClient, plan: Plan, step: PlanStep): Promise<AppliedStep> {
  if (step.id === undefined) throw new Error(`no platform id for ${step.kind} ${step.name}`);
  const props = stepProperties(step, plan.types);
  let wrote = false;
  // Re-run on every 409: the object is read again, so the patch lands on the other user's version.
  const answer = await rest.getPut<PlatformObject>(member(step, step.id), (current) => {
    const next = patched(props, current);
    wrote = next !== undefined;
    return next;
  });
  return { step, id: typeof answer['id'] === 'number' ? answer['id'] : step.id, wrote };
}

/** What a new object is known by, before its declared keys are written. */
function identity(step: PlanStep): PlatformObject {
  switch (step.kind) {
    case 'destination':
      return { programmatic_name: step.declared.definition.programmatic_name };
    case 'field':
      return { name: step.declared.definition.name };
    case 'action':
      return { name: step.declared.definition.name, view_items: [] };
  }
}

function collection(step: PlanStep): string {
  return step.kind === 'destination' ? PATHS.destinations : step.kind === 'field' ? PATHS.fields : PATHS.actions;
}

function member(step: PlanStep, id: number): string {
  return step.kind === 'destination' ? PATHS.destination(id) : step.kind === 'field' ? PATHS.field(id) : PATHS.action(id);
}

function failure(step: PlanStep, error: unknown): StepFailure {
  if (error instanceof RestError) return { step, status: error.status, message: error.detail || error.message };
  if (error instanceof ConflictError) return { step, status: 409, message: error.message };
  return { step, message: error instanceof Error ? error.message : String(error) };
}
