import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { DefinitionError, parseDefinitions, type Definitions } from './definitions.js';

/** The package's own `destinations/` folder: what the bundled processors need. */
export const DEFAULT_DEFINITIONS_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'destinations');

/**
 * Reads every `*.yaml` / `*.yml` file of a folder (not its subfolders), in
 * name order, and validates them together (see {@link parseDefinitions}).
 * Throws {@link DefinitionError} naming the file and key of every problem,
 * also for a missing folder, an empty one, or a file that is not YAML.
 *
 * @example
 * const definitions = loadDefinitions();              // <package>/destinations
 * const mine = loadDefinitions('deploy/destinations');
 */
export function loadDefinitions(dir: string = DEFAULT_DEFINITIONS_DIR): Definitions {
  const folder = path.resolve(dir);
  if (!existsSync(folder) || !statSync(folder).isDirectory()) throw new DefinitionError([`${shown(folder)}: no such folder`]);
  const names = readdirSync(folder)
    .filter((name) => /\.ya?ml$/i.test(name))
    .sort();
  if (names.length === 0) throw new DefinitionError([`${shown(folder)}: no *.yaml or *.yml files to install`]);
  const issues: string[] = [];
  const files: Array<{ file: string; content: unknown }> = [];
  for (const name of names) {
    const file = shown(path.join(folder, name));
    try {
      files.push({ file, content: parseYaml(readFileSync(path.join(folder, name), 'utf8')) });
    } catch (error) {
      issues.push(`${file}: not valid YAML: ${(error as Error).message.split('\n')[0]}`);
    }
  }
  if (issues.length > 0) throw new DefinitionError(issues);
  return parseDefinitions(files);
}

/** A path as messages show it: relative to the working folder when inside it. */
function shown(file: string): string {
  const relative = path.relative(process.cwd(), file);
  return relative && !relative.startsWith('..') && !path.isAbsolute(relative) ? relative : file;
}
