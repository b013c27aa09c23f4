import { ConfigError, describeIssues } from '../config/load.js';
import type { ProcessorDefinition } from './processor.js';

/** A processor's settings, or why it cannot run. */
export interface ResolvedSettings {
  settings: unknown;
  /** Set when the config file has no section for a processor that needs one: its actions answer with this error. */
  problem?: string;
}

/**
 * Validates `settings.<name>` from the config with the processor's schema.
 * A section that is present but wrong is a config error naming the key. A
 * section that is missing does not stop the other processors: this one's
 * actions reply with an error naming what to configure.
 */
export function resolveSettings(processor: ProcessorDefinition<unknown>, name: string, section: unknown): ResolvedSettings {
  if (!processor.settings) return { settings: section ?? {} };
  const parsed = processor.settings.safeParse(section ?? {});
  if (parsed.success) return { settings: parsed.data };
  const issues = describeIssues(parsed.error.issues).map((issue) => `settings.${name}.${issue}`);
  if (section === undefined) {
    return { settings: undefined, problem: `processor "${name}" is not configured: ${issues.join('; ')}` };
  }
  throw new ConfigError(`invalid settings for processor "${name}":\n  ${issues.join('\n  ')}`, issues);
}
