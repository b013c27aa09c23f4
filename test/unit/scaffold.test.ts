import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { PACKAGE_ROOT } from '../../lib/cli/dev-state.js';

// Inside the package, so the scaffold imports lib/ relatively (outside it would import the `cafkit` package).
const scratch = path.join(PACKAGE_ROOT, '.cafkit', 'tmp');
mkdirSync(scratch, { recursive: true });
const root = mkdtempSync(path.join(scratch, 'scaffold-'));
after(() => rmSync(root, { recursive: true, force: true }));

function run(args: string[]): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    // The child is a test run of its own, not a subtest of this one.
    const { NODE_TEST_CONTEXT: _, ...env } = process.env;
    execFile(process.execPath, args, { cwd: root, env, timeout: 120_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, out: stdout + stderr });
    });
  });
}

test('cafkit new scaffolds a processor whose own test passes as generated', async () => {
  const created = await run([path.join(PACKAGE_ROOT, 'bin', 'cafkit.js'), 'new', 'ticket-sync', '--dir', 'processors', '--definitions', 'destinations']);
  assert.equal(created.code, 0, created.out);
  const handler = readFileSync(path.join(root, 'processors', 'ticket-sync', 'index.ts'), 'utf8');
  assert.match(handler, /destination: 'ticket_sync'/);
  assert.match(readFileSync(path.join(root, 'destinations', 'ticket-sync.yaml'), 'utf8'), /programmatic_name: ticket_sync/);
  const tested = await run(['--import', 'tsx', '--test', path.join(root, 'processors', 'ticket-sync', 'ticket-sync.test.ts')]);
  assert.equal(tested.code, 0, tested.out);
  assert.match(tested.out, /# pass 2/);
});

test('cafkit new refuses a bad name and an existing processor', async () => {
  const bad = await run([path.join(PACKAGE_ROOT, 'bin', 'cafkit.js'), 'new', 'Bad Name']);
  assert.equal(bad.code, 1);
  assert.match(bad.out, /must be lower-case letters, digits and dashes/);
  const again = await run([path.join(PACKAGE_ROOT, 'bin', 'cafkit.js'), 'new', 'ticket-sync', '--dir', 'processors', '--definitions', 'destinations']);
  assert.equal(again.code, 1);
  assert.match(again.out, /already exists/);
});
