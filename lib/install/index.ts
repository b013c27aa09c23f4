/**
 * `cafkit install`: puts the message destinations, action fields and actions
 * declared in `destinations/*.yaml` on the platform, and checks they are there.
 *
 * @example
 * const definitions = loadDefinitions();
 * const plan = await planInstall(rest, definitions);
 * console.log(renderPlan(plan));
 * const result = await applyPlan(rest, plan);
 */
export {
  ActionDefinitionSchema,
  ConditionDefinitionSchema,
  DefinitionFileSchema,
  DestinationDefinitionSchema,
  FieldDefinitionSchema,
  LayoutDefinitionSchema,
  SelectValueDefinitionSchema,
  DefinitionError,
  parseDefinitions,
  referenceProblems,
  checkReferences,
  type ActionDefinition,
  type ConditionDefinition,
  type Declared,
  type DefinitionFile,
  type Definitions,
  type DestinationDefinition,
  type FieldDefinition,
  type KnownOnPlatform,
  type LayoutDefinition,
  type SelectValueDefinition,
} from './definitions.js';
export { loadDefinitions, DEFAULT_DEFINITIONS_DIR } from './load.js';
export { readPlatform, type PlatformState } from './platform.js';
export { planInstall, buildPlan, countSteps, type Plan, type PlanStep, type StepKind, type StepOp, type Change } from './plan.js';
export { applyPlan, type ApplyEvent, type ApplyOptions, type ApplyResult, type AppliedStep, type StepFailure } from './apply.js';
export { renderPlan, renderStep, renderSummary, renderProgress, renderFailure, renderResult } from './render.js';
export { checkInstalled } from './check.js';
export { loadRestConfig, RestOnlyConfigSchema, type RestOnlyConfig } from './rest-config.js';
