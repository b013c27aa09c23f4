import { readdirSync, statSync, existsSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { ProcessorDefinition } from './processor.js';

const MODULE = /\.(ts|mts|js|mjs)$/;

/**
 * Loads every processor module in a folder: each `*.ts`/`*.js` file, or
 * sub-folder with an `index`, whose default export is a processor
 * definition. Test files (`*.test.*`) and names starting with `_` are skipped.
 */
export async function loadProcessors(folder: string): Promise<ProcessorDefinition[]> {
  if (!existsSync(folder)) throw new Error(`processor folder ${folder} does not exist`);
  const entries = readdirSync(folder).sort();
  const processors: ProcessorDefinition[] = [];
  for (const entry of entries) {
    if (entry.startsWith('_') || entry.startsWith('.') || /\.test\./.test(entry) || entry.endsWith('.d.ts')) continue;
    const full = path.join(folder, entry);
    let file: string | undefined;
    if (statSync(full).isDirectory()) {
      file = ['index.ts', 'index.js', 'index.mjs'].map((name) => path.join(full, name)).find((candidate) => existsSync(candidate));
    } else if (MODULE.test(entry)) {
      file = full;
    }
    if (!file) continue;
    const module = (await import(pathToFileURL(file).href)) as { default?: ProcessorDefinition };
    const definition = module.default;
    if (!definition || typeof definition !== 'object' || !('actions' in definition) || !('destination' in definition)) {
      throw new Error(`${file}: default export is not a processor (use defineProcessor({ destination, actions }))`);
    }
    processors.push({ ...definition, name: definition.name ?? entry.replace(MODULE, '') });
  }
  if (processors.length === 0) throw new Error(`no processors found in ${folder}`);
  return processors;
}
