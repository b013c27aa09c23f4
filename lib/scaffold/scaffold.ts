import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { definitionsFile, processorFile, testFile, type ScaffoldNames } from './templates.js';

/** Options of {@link scaffoldProcessor}. */
export interface ScaffoldOptions {
  /** Folder of processors (the new one goes in `<dir>/<name>/`). */
  processorsDir: string;
  /** Folder of definitions (the new one is `<dir>/<name>.yaml`). */
  definitionsDir: string;
  /** The cafkit package's root; inside it, imports are relative, elsewhere they name the `cafkit` package. */
  packageRoot: string;
}

/**
 * Creates a processor, its definitions and its test. Refuses to overwrite.
 * Resolves to the files written.
 *
 * @example
 * scaffoldProcessor('ticket-sync', { processorsDir: 'processors', definitionsDir: 'destinations', packageRoot });
 */
export function scaffoldProcessor(name: string, options: ScaffoldOptions): string[] {
  if (!/^[a-z][a-z0-9-]*$/.test(name)) throw new Error(`processor name "${name}" must be lower-case letters, digits and dashes, starting with a letter`);
  const folder = path.resolve(options.processorsDir, name);
  const yaml = path.resolve(options.definitionsDir, `${name}.yaml`);
  for (const target of [folder, yaml]) if (existsSync(target)) throw new Error(`${target} already exists; choose another name`);
  const inside = !path.relative(options.packageRoot, folder).startsWith('..');
  const relativeLib = (file: string) => {
    const rel = path.relative(folder, path.join(options.packageRoot, 'lib', file)).split(path.sep).join('/');
    return rel.startsWith('.') ? rel : `./${rel}`;
  };
  const names: ScaffoldNames = {
    name,
    destination: name.replace(/-/g, '_'),
    action: name.split('-').map((w) => w[0]!.toUpperCase() + w.slice(1)).join(' '),
    lib: inside ? relativeLib('index.js') : 'cafkit',
    testing: inside ? relativeLib('testing/index.js') : 'cafkit/testing',
  };
  mkdirSync(folder, { recursive: true });
  mkdirSync(path.dirname(yaml), { recursive: true });
  const files: Array<[string, string]> = [
    [path.join(folder, 'index.ts'), processorFile(names)],
    [path.join(folder, `${name}.test.ts`), testFile(names)],
    [yaml, definitionsFile(names)],
  ];
  for (const [file, text] of files) writeFileSync(file, text, { flag: 'wx' });
  return files.map(([file]) => file);
}
