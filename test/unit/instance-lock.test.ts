import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { InstanceInUseError, lockInstance } from '../../lib/activity/instance-lock.js';

function home(t: { after(fn: () => void): void }): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'cafkit-instance-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test('an instance keeps its id across restarts, and a second live holder of the home is refused by name', (t) => {
  const dir = home(t);
  const first = lockInstance(dir);
  assert.match(first.id, /^[0-9a-f-]{36}$/);
  assert.equal(readFileSync(path.join(dir, 'instance.lock'), 'utf8').trim(), String(process.pid));
  assert.throws(() => lockInstance(dir), (e: unknown) => e instanceof InstanceInUseError && e.pid === process.pid && e.message.includes(dir));
  first.release();
  assert.equal(existsSync(path.join(dir, 'instance.lock')), false);
  const again = lockInstance(dir);
  assert.equal(again.id, first.id, 'the same home is the same instance');
  again.release();
  again.release();
});

test('a lock left by a process that died (kill -9) is taken over', (t) => {
  const dir = home(t);
  const id = lockInstance(dir).id; // never released, as after a crash...
  // ...by a process that no longer exists: a child that has exited.
  const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' }).stdout;
  writeFileSync(path.join(dir, 'instance.lock'), `${dead}\n`);
  const lock = lockInstance(dir);
  assert.equal(lock.id, id);
  lock.release();
});
