// e2e: scripts/mariadb + test/support/mariadb.ts against a real MariaDB 10.11
// server: the generated account logs in over TCP, can create and write a
// table, stop() leaves no process, and the data survive stop()/start().
// Uses the `mariadb` command-line client (installed with the server), not a
// Node driver.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { connect } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { isMariaDbProcess, startMariaDb } from '../support/mariadb.js';
import { assertGone } from '../support/server-process.js';
import type { MariaDbInstance } from '../support/mariadb.js';

const CLIENT_TIMEOUT_MS = 20_000;

interface ClientResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * `mariadb -h127.0.0.1 -P<port> -u<user> <database> -e <sql>` over TCP. The
 * password goes in MYSQL_PWD, not on the command line (where ps would show it).
 * --no-defaults: no ~/.my.cnf or /etc/mysql settings get in the way.
 */
function client(db: MariaDbInstance, sql: string, who: { user?: string; password?: string } = {}): Promise<ClientResult> {
  return new Promise((resolvePromise) => {
    execFile(
      'mariadb',
      [
        '--no-defaults',
        '--protocol=TCP',
        `-h${db.host}`,
        `-P${String(db.port)}`,
        `-u${who.user ?? db.user}`,
        '--batch',
        '--skip-column-names',
        db.database,
        '-e',
        sql,
      ],
      {
        env: { ...process.env, MYSQL_PWD: who.password ?? db.password },
        timeout: CLIENT_TIMEOUT_MS,
        killSignal: 'SIGKILL',
        encoding: 'utf8',
      },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : -1) : 0;
        resolvePromise({ code, stdout, stderr });
      },
    );
  });
}

/** Runs SQL as the instance's account and returns its output; fails the test on an error. */
async function query(db: MariaDbInstance, sql: string): Promise<string> {
  const r = await client(db, sql);
  assert.equal(r.code, 0, `mariadb -e ${JSON.stringify(sql)} failed:\n${r.stderr}\n--- server log\n${db.logTail(20)}`);
  return r.stdout.trim();
}

function portAnswers(port: number): Promise<boolean> {
  return new Promise((resolvePromise) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolvePromise(true);
    });
    socket.once('error', () => resolvePromise(false));
  });
}

/** Asserts that pid is gone (an exited but not yet reaped zombie is acceptable). */
function assertDbGone(pid: number, db: MariaDbInstance): void {
  assertGone(pid, (p) => isMariaDbProcess(p), () => db.logTail(20));
}

describe('scripts/mariadb private server', () => {
  let db: MariaDbInstance | undefined;
  const d = (): MariaDbInstance => {
    assert.ok(db, 'MariaDB did not start');
    return db;
  };

  before(async () => {
    const t0 = Date.now();
    db = await startMariaDb();
    console.log(`# mariadb: first start (mariadb-install-db + server) took ${String(Date.now() - t0)} ms`);
  });

  after(async () => {
    if (db) {
      try {
        await db.dispose();
      } catch (err) {
        // make sure the server goes even if the script failed
        const pid = db.pid();
        if (pid !== undefined) process.kill(pid, 'SIGKILL');
        throw err;
      }
    }
  });

  test('instance description comes from db.env', () => {
    const x = d();
    assert.match(x.url, /^mysql:\/\/cafkit:[0-9a-f]{48}@127\.0\.0\.1:\d+\/cafkit$/);
    assert.equal(x.host, '127.0.0.1');
    assert.equal(x.user, 'cafkit');
    assert.equal(x.database, 'cafkit');
    assert.match(x.password, /^[0-9a-f]{48}$/);
    assert.equal(x.env.CAFKIT_DB_PORT, String(x.port));
    assert.equal(x.env.CAFKIT_DB_DIR, x.dir);
    assert.equal(x.env.CAFKIT_DB_PID_FILE, join(x.dir, 'mariadbd.pid'));
    assert.equal(x.socket, join(x.dir, 'mysqld.sock'));
    assert.equal(statSync(join(x.dir, 'db.env')).mode & 0o777, 0o600);
    assert.equal(statSync(x.dir).mode & 0o777, 0o700);
    const pid = x.pid();
    assert.ok(pid !== undefined, 'pid of the running server');
    const args = readFileSync(`/proc/${String(pid)}/cmdline`, 'utf8').split('\0');
    assert.ok(args.includes('--no-defaults'), args.join(' '));
    assert.ok(args.includes(`--port=${String(x.port)}`), args.join(' '));
    assert.ok(args.includes('--bind-address=127.0.0.1'), args.join(' '));
  });

  test('cafkit logs in over TCP; a wrong password and password-less root are refused', async () => {
    const x = d();
    assert.equal(await query(x, 'select 1'), '1');
    assert.equal(await query(x, 'select current_user()'), 'cafkit@127.0.0.1');

    const wrong = await client(x, 'select 1', { password: `${x.password}x` });
    assert.notEqual(wrong.code, 0);
    assert.match(wrong.stderr, /ERROR 1045 .*Access denied for user 'cafkit'/);

    // the admin account is unix_socket only: no password-less root over TCP
    const root = await client(x, 'select 1', { user: 'root', password: '' });
    assert.notEqual(root.code, 0);
    assert.match(root.stderr, /Access denied/);
  });

  test('cafkit can create a table and write to it', async () => {
    const x = d();
    await query(
      x,
      'create table notes (id int primary key auto_increment, body varchar(200) not null) engine=InnoDB; ' +
        "insert into notes (body) values ('first'), ('second');",
    );
    assert.equal(await query(x, 'select group_concat(body order by id) from notes'), 'first,second');
  });

  test('start() on a running instance keeps the same process', async () => {
    const x = d();
    const pid = x.pid();
    await x.start();
    assert.equal(x.pid(), pid);
  });

  test('stop() leaves no process; start() again keeps the data and the password', async () => {
    const x = d();
    const pid = x.pid();
    assert.ok(pid !== undefined, 'server running before stop');
    let t0 = Date.now();
    await x.stop();
    console.log(`# mariadb: stop took ${String(Date.now() - t0)} ms`);
    assertDbGone(pid, x);
    assert.equal(x.pid(), undefined);
    assert.equal(await portAnswers(x.port), false, `port ${String(x.port)} still answers after stop()`);
    assert.notEqual((await client(x, 'select 1')).code, 0, 'no login while stopped');

    t0 = Date.now();
    await x.start();
    console.log(`# mariadb: later start took ${String(Date.now() - t0)} ms`);
    const again = x.pid();
    assert.ok(again !== undefined && again !== pid, 'a new mariadbd process');
    // same db.env (password and port) as before
    assert.equal(readFileSync(join(x.dir, 'db.env'), 'utf8').includes(`CAFKIT_DB_URL=${x.url}\n`), true);
    assert.equal(await query(x, 'select group_concat(body order by id) from notes'), 'first,second');
    await query(x, "insert into notes (body) values ('third')");
    assert.equal(await query(x, 'select count(*) from notes'), '3');

    await x.stop();
    assertDbGone(again, x);
    assert.equal(x.pid(), undefined);
  });
});
