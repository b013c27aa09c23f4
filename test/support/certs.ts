// The development certificates the tests use: `<repo>/.cafkit/certs`, or
// `$CAFKIT_HOME/certs` (made by `bash scripts/certs`, which `npm test` runs).
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const repoDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The dev certificates folder. */
export const certsDir = process.env['CAFKIT_HOME'] ? path.join(process.env['CAFKIT_HOME'], 'certs') : path.join(repoDir, '.cafkit', 'certs');

/** A file of the dev certificates folder: `cert('ca.pem')`. */
export const cert = (name: string): string => path.join(certsDir, name);
