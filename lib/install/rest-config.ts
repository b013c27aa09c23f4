import { z } from 'zod';
import { loadConfigSections } from '../config/load.js';
import { ConfigSchema, RestConfigSchema } from '../config/schema.js';

/**
 * The part of the configuration that talks to the platform's REST API. The
 * full config schema also requires broker settings, which installing does not
 * need: an installer may run where no broker is reachable or configured.
 * Other sections of the file (broker, runtime, log...) are allowed and ignored.
 */
export const RestOnlyConfigSchema = z.looseObject({
  org_id: ConfigSchema.shape.org_id,
  rest: RestConfigSchema,
});
/** A validated REST-only configuration. */
export type RestOnlyConfig = z.infer<typeof RestOnlyConfigSchema>;

/**
 * Like `loadConfig`, for `org_id` and `rest` only: reads the YAML file (if
 * any) with `${VAR}` substitution, applies the `CAFKIT_ORG_ID` and
 * `CAFKIT_REST_*` / `CAFKIT_API_KEY_*` overrides, validates, and resolves the
 * TLS files relative to the file. Throws {@link ConfigError} naming the key.
 *
 * @example
 * const config = loadRestConfig({ file: 'cafkit.yaml' });
 * const rest = createRestClient(config, log); // from lib/runtime/runtime.ts
 */
export function loadRestConfig(options: { file?: string; env?: NodeJS.ProcessEnv } = {}): RestOnlyConfig {
  // Only the sections used here: a broker password variable that is not set must not stop an install.
  return loadConfigSections(RestOnlyConfigSchema, ['org_id', 'rest'], ['rest'], options);
}

