import type { RestClient } from '../rest/client.js';
import { checkReferences, type ActionDefinition, type Declared, type Definitions, type DestinationDefinition, type FieldDefinition } from './definitions.js';
import { readPlatform, type PlatformState } from './platform.js';
import { actionProperties, destinationProperties, differences, fieldProperties, type Change, type ConditionTypes, type PlatformObject, type Property } from './properties.js';

export type { Change } from './properties.js';

/** What a step is about. */
export type StepKind = 'destination' | 'field' | 'action';
/** What a step does. */
export type StepOp = 'create' | 'update' | 'unchanged';

interface StepBase {
  /** Programmatic name of a destination, name of a field or an action. */
  name: string;
  op: StepOp;
  /**
   * For `update`: the declared keys whose platform value differs. For
   * `create`: every declared key (`from` undefined). Empty for `unchanged`.
   */
  changes: Change[];
  /** The platform's id of the object, when it exists. */
  id?: number;
  /** Things the platform is known to refuse about this step, said before trying. */
  warnings: string[];
}

/** One step of a {@link Plan}, with the definition it comes from. */
export type PlanStep =
  | (StepBase & { kind: 'destination'; declared: Declared<DestinationDefinition> })
  | (StepBase & { kind: 'field'; declared: Declared<FieldDefinition> })
  | (StepBase & { kind: 'action'; declared: Declared<ActionDefinition> });

/**
 * What `cafkit install` would do: destinations first, then action fields,
 * then actions (which refer to both), each created, updated or left as it is.
 */
export interface Plan {
  steps: PlanStep[];
  /** Object types the conditions refer to, for turning select labels into ids when applying. */
  types: ConditionTypes;
}

/**
 * Reads the platform and plans: checks that every reference resolves (to a
 * definition or to an object already on the platform; a
 * {@link DefinitionError} otherwise), then compares.
 *
 * @example
 * const plan = await planInstall(rest, loadDefinitions());
 * plan.steps.filter((s) => s.op !== 'unchanged');
 */
export async function planInstall(rest: RestClient, definitions: Definitions): Promise<Plan> {
  const platform = await readPlatform(rest, definitions);
  checkReferences(definitions, { destinations: platform.destinations.map((d) => d.programmatic_name), fields: platform.fields.map((f) => f.name) });
  return buildPlan(definitions, platform);
}

/**
 * Compares definitions with the platform's objects: an object is found by
 * its programmatic name (destinations) or name (fields, actions), and only
 * the keys a definition sets are compared, so what the platform adds never
 * shows as a change and a second install is all `unchanged`.
 *
 * @example
 * buildPlan(definitions, { destinations: [], fields: [], actions: [], types: {} }).steps.every((s) => s.op === 'create'); // true
 */
export function buildPlan(definitions: Definitions, platform: PlatformState): Plan {
  const steps: PlanStep[] = [];
  for (const declared of definitions.destinations) {
    const d = declared.definition;
    const existing = platform.destinations.find((p) => p.programmatic_name === d.programmatic_name);
    steps.push({ kind: 'destination', declared, ...compare(d.programmatic_name, destinationProperties(d), existing, []) });
  }
  for (const declared of definitions.fields) {
    const f = declared.definition;
    const existing = platform.fields.find((p) => p.name === f.name);
    const warnings: string[] = [];
    if (existing && existing.input_type !== f.input_type) {
      warnings.push(`the platform does not let a field's input_type change (${existing.input_type} → ${f.input_type}): it will refuse this update; delete the field on the platform first, or keep its input_type`);
    }
    steps.push({ kind: 'field', declared, ...compare(f.name, fieldProperties(f), existing, warnings) });
  }
  for (const declared of definitions.actions) {
    const a = declared.definition;
    const existing = platform.actions.find((p) => p.name === a.name);
    const warnings: string[] = [];
    const type = a.type === 'manual' ? 1 : 0;
    if (existing && existing.type !== type) {
      warnings.push(`the platform does not turn an ${existing.type === 0 ? 'automatic' : 'manual'} action into a ${a.type} one: it will refuse this update`);
    }
    if (existing && String(existing.object_type) !== a.object_type) {
      warnings.push(`the platform does not move an action to another object type (${String(existing.object_type)} → ${a.object_type}): it will refuse this update`);
    }
    steps.push({ kind: 'action', declared, ...compare(a.name, actionProperties(a, platform.types), existing, warnings) });
  }
  return { steps, types: platform.types };
}

/** How many steps of each kind of operation a plan holds. */
export function countSteps(plan: Plan): Record<StepOp, number> {
  const counts: Record<StepOp, number> = { create: 0, update: 0, unchanged: 0 };
  for (const step of plan.steps) counts[step.op]++;
  return counts;
}

/** The properties of a step's definition (what apply writes). */
export function stepProperties(step: PlanStep, types: ConditionTypes): Property[] {
  switch (step.kind) {
    case 'destination':
      return destinationProperties(step.declared.definition);
    case 'field':
      return fieldProperties(step.declared.definition);
    case 'action':
      return actionProperties(step.declared.definition, types);
  }
}

function compare(name: string, props: Property[], existing: (PlatformObject & { id: number }) | undefined, warnings: string[]): StepBase {
  if (!existing) return { name, op: 'create', changes: props.map((p) => ({ key: p.key, from: undefined, to: p.show(p.want) })), warnings: [] };
  const changes = differences(props, existing);
  return { name, op: changes.length > 0 ? 'update' : 'unchanged', changes, id: existing.id, warnings: changes.length > 0 ? warnings : [] };
}
