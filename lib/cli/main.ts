import { Command, InvalidArgumentError } from 'commander';
import { ConfigError } from '../config/load.js';
import { runCommand } from './run.js';
import { selftest } from './selftest.js';
import { startDevEmulator } from './emulator-command.js';
import { formatInvocations, triggerAction } from './trigger-command.js';
import { demo } from './demo.js';
import { scaffoldProcessor } from '../scaffold/scaffold.js';
import { PACKAGE_ROOT } from './dev-state.js';

function integer(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n)) throw new InvalidArgumentError(`"${value}" is not a whole number`);
  return n;
}

const program = new Command()
  .name('cafkit')
  .description('Run CAF action processors for the Co3/Resilient platform')
  .showHelpAfterError();

program
  .command('run')
  .description('connect to the broker and run the processors until SIGTERM/SIGINT')
  .option('-c, --config <file>', 'YAML config file (CAFKIT_* variables override it; optional)')
  .action(async (opts: { config?: string }) => runCommand(opts));

program
  .command('selftest')
  .description('check REST login, broker TLS connection and permission on every destination')
  .option('-c, --config <file>', 'YAML config file')
  .option('--timeout <ms>', 'how long each check may take', integer, 20_000)
  .option('--definitions <folder>', 'definitions folder to check the platform against (default: the bundled destinations/)')
  .action(async (opts: { config?: string; timeout: number; definitions?: string }) => {
    const checks = await selftest({ config: opts.config, timeoutMs: opts.timeout, definitions: opts.definitions });
    for (const check of checks) process.stdout.write(`${check.ok ? 'ok  ' : 'FAIL'} ${check.name}: ${check.detail}\n`);
    const failed = checks.filter((c) => !c.ok).length;
    process.stdout.write(failed ? `${failed} check(s) failed\n` : 'all checks passed\n');
    process.exit(failed ? 1 : 0);
  });

program
  .command('emulator')
  .description('run the platform emulator (REST API and trigger side) for development')
  .option('--host <host>', 'address to listen on', '127.0.0.1')
  .option('--port <port>', 'port to listen on', integer, 8443)
  .option('--org <id>', 'organisation id', integer, 201)
  .option('--no-tls', 'serve plain HTTP')
  .option('--no-broker', 'do not connect the trigger side to the broker')
  .action(async (opts: { host: string; port: number; org: number; tls: boolean; broker: boolean }) => {
    const { emulator, envFile } = await startDevEmulator({ ...opts, broker: opts.broker ? undefined : false });
    process.stdout.write(`emulator listening at ${emulator.url}\nconnection settings for processors: ${envFile}\n`);
    const stop = () => void emulator.close().then(() => process.exit(0));
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  });

program
  .command('trigger')
  .description('invoke an action through the emulator, as an analyst would, and wait for its status')
  .argument('<destination>', 'message destination programmatic name')
  .argument('<action>', 'action name (or id)')
  .option('--incident <id>', 'incident to run it on', integer)
  .option('--artifact <id>', 'run it on this artifact (of the incident)', integer)
  .option('--note <id>', 'run it on this note', integer)
  .option('--task <id>', 'run it on this task', integer)
  .option('--prop <key=value>', 'action field value (repeatable; select fields take a label)', (v: string, acc: string[]) => [...acc, v], [] as string[])
  .option('--wait <ms>', 'how long to wait for completion (0: do not wait)', integer, 30_000)
  .action(async (destination: string, action: string, opts: { incident?: number; artifact?: number; note?: number; task?: number; prop: string[]; wait: number }) => {
    const objects = (['artifact', 'note', 'task'] as const).filter((type) => opts[type] !== undefined).map((type) => ({ type, id: opts[type]! }));
    if (objects.length > 1) throw new InvalidArgumentError('give at most one of --artifact, --note, --task');
    const invocation = await triggerAction({ destination, action, incident: opts.incident, object: objects[0], props: opts.prop, waitMs: opts.wait });
    process.stdout.write(formatInvocations([invocation]) + '\n');
    process.exit(invocation.status === 'completed' || opts.wait === 0 ? 0 : 1);
  });

program
  .command('new')
  .description('scaffold a processor: its handler, its definitions for `cafkit install`, and a test that passes')
  .argument('<name>', 'processor name: lower-case letters, digits and dashes (e.g. ticket-sync)')
  .option('--dir <folder>', 'processors folder', 'processors')
  .option('--definitions <folder>', 'definitions folder', 'destinations')
  .action((name: string, opts: { dir: string; definitions: string }) => {
    const files = scaffoldProcessor(name, { processorsDir: opts.dir, definitionsDir: opts.definitions, packageRoot: PACKAGE_ROOT });
    process.stdout.write(`created:\n${files.map((f) => `  ${f}`).join('\n')}\nnext: run its test with  node --import tsx --test ${files[1]}\n`);
  });

program
  .command('install')
  .description('create or update the message destinations, action fields and actions declared in destinations/*.yaml')
  .option('--dir <folder>', 'folder of definition files (default: the package\'s destinations/)')
  .option('--dry-run', 'show the plan, change nothing')
  .option('--yes', 'apply without asking')
  .option('-c, --config <file>', 'YAML config file (only org_id and rest are read; CAFKIT_* variables override it)')
  .action(async (opts: { dir?: string; dryRun?: boolean; yes?: boolean; config?: string }) => {
    const { installCommand } = await import('./install-command.js');
    process.exit(await installCommand(opts));
  });

program
  .command('verify')
  .description('check every stored activity record: signatures, chains (a removed record), known keys')
  .argument('<target>', 'a JSON Lines file, or a database URL (sqlite:<file>, mysql://user:pw@host:port/db)')
  .option('--keys <folder>', 'the signing keyring (default <CAFKIT_HOME>/keys)')
  .option('--pruned', 'old rotated files were deleted: accept chains that start after seq 1')
  .action(async (target: string, opts: { keys?: string; pruned?: boolean }) => {
    const { verifyCommand, formatReport } = await import('./verify-command.js');
    const report = await verifyCommand(target, opts);
    process.stdout.write(formatReport(target, report) + '\n');
    process.exit(report.problems.length === 0 ? 0 : 1);
  });

const keys = program.command('keys').description('the activity signing keys');

keys
  .command('rotate')
  .description('make a new signing key; old public keys stay, so old records still verify')
  .option('--keys <folder>', 'the keyring (default <CAFKIT_HOME>/keys)')
  .action(async (opts: { keys?: string }) => {
    const { defaultKeyringDir, openKeyring } = await import('../activity/keyring.js');
    const { existsSync } = await import('node:fs');
    const dir = opts.keys ?? defaultKeyringDir();
    // With no active key yet, opening makes the first one; rotating then would make a second.
    const hadKey = existsSync(`${dir}/active.pem`);
    const ring = openKeyring(dir, { create: true });
    const id = hadKey ? ring.rotate() : ring.active().keyId;
    process.stdout.write(`active signing key ${id} in ${dir} (${ring.keyIds().length} public key(s) kept for verifying)\n`);
  });

keys
  .command('list')
  .description('the key ids in the keyring, the active one marked')
  .option('--keys <folder>', 'the keyring (default <CAFKIT_HOME>/keys)')
  .action(async (opts: { keys?: string }) => {
    const { defaultKeyringDir, openKeyring } = await import('../activity/keyring.js');
    const ring = openKeyring(opts.keys ?? defaultKeyringDir(), { create: false });
    let active: string | undefined;
    try {
      active = ring.active().keyId;
    } catch {
      active = undefined;
    }
    for (const id of ring.keyIds()) process.stdout.write(`${id === active ? '*' : ' '} ${id}\n`);
  });

program
  .command('demo')
  .description('start a broker, the emulator and a processor, invoke the example actions, print the Action Status list')
  .option('--keep', 'keep everything running until Ctrl-C')
  .action(async (opts: { keep?: boolean }) => demo({ keep: opts.keep ?? false }));

program.parseAsync(process.argv).catch((error: unknown) => {
  if (error instanceof ConfigError) {
    process.stderr.write(`cafkit: ${error.message}\n`);
    process.exit(2);
  }
  process.stderr.write(`cafkit: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
