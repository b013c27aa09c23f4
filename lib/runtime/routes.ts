import type { Routes } from './dispatcher.js';
import { normaliseDestination, type ProcessorDefinition } from './processor.js';
import { resolveSettings } from './settings.js';
import { PROGRAMMATIC_NAME } from '../wire/headers.js';

/** A destination to subscribe to, by programmatic name. */
export interface RouteDestination {
  name: string;
  kind: 'queue' | 'topic';
}

/**
 * Merges processors into one routing table. Two handlers for the same
 * action on the same destination, or a bad programmatic name, is an error
 * naming both places.
 */
export function buildRoutes(processors: ProcessorDefinition<any>[], settings: Record<string, unknown> = {}): { routes: Routes; destinations: RouteDestination[]; problems: string[] } {
  const routes: Routes = new Map();
  const owners = new Map<string, string>();
  const destinations = new Map<string, RouteDestination>();
  const problems: string[] = [];
  for (const [index, processor] of processors.entries()) {
    const owner = processor.name ?? `processor #${index + 1}`;
    const resolved = resolveSettings(processor, owner, settings[owner]);
    if (resolved.problem) problems.push(resolved.problem);
    const refs = Array.isArray(processor.destination) ? processor.destination : [processor.destination];
    if (refs.length === 0) throw new Error(`${owner}: declares no destination`);
    for (const ref of refs) {
      const destination = normaliseDestination(ref);
      if (!PROGRAMMATIC_NAME.test(destination.name)) {
        throw new Error(`${owner}: destination "${destination.name}" is not a programmatic name (letters, digits and underscores only)`);
      }
      const known = destinations.get(destination.name);
      if (known && known.kind !== destination.kind) throw new Error(`${owner}: destination "${destination.name}" is declared both as a queue and as a topic`);
      destinations.set(destination.name, destination);
      const table = routes.get(destination.name) ?? new Map();
      routes.set(destination.name, table);
      for (const [action, handler] of Object.entries(processor.actions)) {
        if (typeof handler !== 'function') throw new Error(`${owner}: action "${action}" is not a function`);
        const id = `${destination.name}/${action}`;
        const previous = owners.get(id);
        if (previous) throw new Error(`action "${action}" on destination "${destination.name}" has two handlers: ${previous} and ${owner}`);
        owners.set(id, owner);
        table.set(action, { handler, settings: resolved.settings, problem: resolved.problem, processor: owner, steps: processor.steps?.[action] ?? [] });
      }
    }
  }
  return { routes, destinations: [...destinations.values()], problems };
}
