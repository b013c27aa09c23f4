import type { RestClient } from '../rest/client.js';
import type { Definitions } from './definitions.js';
import { readPlatform } from './platform.js';

/**
 * Which declared objects the platform does not have (by programmatic name
 * for destinations, by name for fields and actions), for `cafkit selftest`.
 * Only presence is checked; `cafkit install --dry-run` shows differences.
 *
 * @example
 * const { missing } = await checkInstalled(rest, loadDefinitions());
 * // ['message destination incident_ops', 'action "Add Note"']
 */
export async function checkInstalled(rest: RestClient, definitions: Definitions): Promise<{ missing: string[] }> {
  const platform = await readPlatform(rest);
  const destinations = new Set(platform.destinations.map((d) => d.programmatic_name));
  const fields = new Set(platform.fields.map((f) => f.name));
  const actions = new Set(platform.actions.map((a) => a.name));
  return {
    missing: [
      ...definitions.destinations.filter((d) => !destinations.has(d.definition.programmatic_name)).map((d) => `message destination ${d.definition.programmatic_name}`),
      ...definitions.fields.filter((f) => !fields.has(f.definition.name)).map((f) => `action field ${f.definition.name}`),
      ...definitions.actions.filter((a) => !actions.has(a.definition.name)).map((a) => `action "${a.definition.name}"`),
    ],
  };
}
