import { execFile, spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { once } from 'node:events';
import { startDevEmulator } from './emulator-command.js';
import { formatInvocations, type InvocationView } from './trigger-command.js';
import { devPaths, PACKAGE_ROOT, readEnvFile } from './dev-state.js';
import { applyPlan, loadDefinitions, planInstall, renderPlan, renderResult } from '../install/index.js';
import { RestClient } from '../rest/client.js';
import { readFileSync } from 'node:fs';

const run = promisify(execFile);

function say(text: string): void {
  process.stdout.write(`\n== ${text}\n`);
}

/**
 * `cafkit demo`: starts ActiveMQ (installing it and the certificates if
 * needed), the platform emulator, and a processor configured by environment
 * variables alone; invokes each example action as an analyst would and
 * prints the Action Status list. Stops what it started, unless `keep`.
 */
export async function demo(options: { keep: boolean }): Promise<void> {
  const paths = devPaths();
  const started: Array<() => Promise<void>> = [];
  let processor: ChildProcess | undefined;
  try {
    say('broker: ActiveMQ with STOMP over TLS on loopback');
    const wasRunning = await run(paths.activemqScript, ['status']).then(() => true, () => false);
    const { stdout } = await run(paths.activemqScript, ['start'], { timeout: 600_000 });
    process.stdout.write(stdout);
    if (!wasRunning) started.push(async () => void (await run(paths.activemqScript, ['stop'])));
    const broker = readEnvFile(paths.brokerEnv);

    say('platform emulator: REST API and trigger side');
    const { emulator, apiKey } = await startDevEmulator({ host: '127.0.0.1', port: 0, org: Number(broker['CAFKIT_ORG_ID'] ?? 201), tls: true, broker: true });
    started.push(() => emulator.close());
    process.stdout.write(`emulator at ${emulator.url} (API key ${apiKey.id}; secret in ${paths.emulatorEnv})\n`);

    say('install: the destinations, action fields and actions in destinations/ (what `cafkit install` does)');
    const rest = new RestClient({ url: emulator.url, orgId: Number(broker['CAFKIT_ORG_ID'] ?? 201), apiKey, tls: { ca: readFileSync(paths.ca, 'utf8') } });
    try {
      const plan = await planInstall(rest, loadDefinitions());
      process.stdout.write(renderPlan(plan) + '\n');
      const result = await applyPlan(rest, plan);
      process.stdout.write(renderResult(result) + '\n');
      if (result.failed) throw new Error('install failed; see above');
    } finally {
      rest.close();
    }

    const installedMark = emulator.requests().length;

    say('processor: `cafkit run` configured by CAFKIT_* environment variables only');
    processor = spawn(process.execPath, [path.join(PACKAGE_ROOT, 'bin', 'cafkit.js'), 'run'], {
      env: {
        ...process.env,
        CAFKIT_HOME: paths.home,
        CAFKIT_ORG_ID: broker['CAFKIT_ORG_ID'],
        CAFKIT_BROKER_URL: broker['CAFKIT_BROKER_URL'],
        CAFKIT_BROKER_USER: broker['CAFKIT_BROKER_USER'],
        CAFKIT_BROKER_PASSWORD: broker['CAFKIT_BROKER_PASSWORD'],
        CAFKIT_BROKER_CA: broker['CAFKIT_BROKER_CA'],
        CAFKIT_REST_URL: emulator.url,
        CAFKIT_REST_CA: paths.ca,
        CAFKIT_API_KEY_ID: apiKey.id,
        CAFKIT_API_KEY_SECRET: apiKey.secret,
        // A demo that stops by itself takes any free port; one kept running serves the dashboard on the configured one (8686).
        ...(options.keep ? {} : { CAFKIT_API_PORT: '0' }),
      },
      stdio: ['ignore', 'inherit', 'pipe'],
    });
    const child = processor;
    let apiUrl: string | undefined;
    child.stderr?.on('data', (chunk: Buffer) => {
      for (const line of chunk.toString().split('\n')) {
        if (!line) continue;
        apiUrl ??= /operator API listening.*?(http:\/\/[^\s"',}]+)/.exec(line)?.[1];
        process.stdout.write(`  [processor] ${line}\n`);
      }
    });
    started.push(async () => {
      if (child.exitCode !== null) return;
      child.kill('SIGTERM');
      await once(child, 'exit');
    });

    say('analyst: invoking the example actions on incident 2095');
    const wait = { timeoutMs: 60_000, status: 'done' as const };
    const echo = await emulator.trigger({ destination: 'incident_ops', action: 'Echo', incident: 2095, properties: { note_text: 'hello from the demo' } });
    await emulator.waitFor(echo.id, wait);
    const note = await emulator.trigger({ destination: 'incident_ops', action: 'Add Note', incident: 2095, properties: { note_text: 'Collected the logs from server xyz' } });
    await emulator.waitFor(note.id, wait);
    process.stdout.write('the next PUT of the incident is forced to answer 409 twice, as if an analyst were editing it\n');
    emulator.setFaults({ conflicts: 2 });
    const severity = await emulator.trigger({ destination: 'incident_ops', action: 'Set Severity', incident: 2095, properties: { severity: 'High' } });
    await emulator.waitFor(severity.id, wait);

    // Setting the severity changes the incident, which fires the automatic severity rule: wait for that too.
    for (const invocation of emulator.invocations()) await emulator.waitFor(invocation.id, wait);

    say('Action Status (as the platform UI lists it)');
    process.stdout.write(formatInvocations(emulator.invocations().slice().sort((a, b) => a.id - b.id) as unknown as InvocationView[]) + '\n');

    say('REST calls the processor made');
    const calls = emulator.requests().slice(installedMark).filter((r) => r.path.includes('/rest/'));
    for (const call of calls) process.stdout.write(`  ${call.method} ${call.path} -> ${call.status}  X-Co3ContextToken: ${call.contextToken ? 'sent' : 'MISSING'}\n`);
    const incident = emulator.store.incident(2095);
    process.stdout.write(`incident 2095 now has severity_code ${incident?.severity_code} (vers ${incident?.vers})\n`);

    if (!options.keep) {
      say('activities: every execution was signed and stored; `cafkit verify` checks them');
      // Stopping the processor drains its reporter, so every record is in the store.
      if (child.exitCode === null) {
        child.kill('SIGTERM');
        await once(child, 'exit');
      }
      const { verifyCommand, formatReport } = await import('./verify-command.js');
      const activities = path.join(paths.home, 'activities.db');
      process.stdout.write(formatReport(activities, await verifyCommand(activities, { keys: path.join(paths.home, 'keys') })) + '\n');
    }

    if (options.keep) {
      say('dashboard: the operator API of the processor');
      const tokenFile = path.join(paths.home, 'api-token');
      if (apiUrl) {
        process.stdout.write(`dashboard at ${apiUrl}/ (token in ${tokenFile})\n`);
        process.stdout.write(`open it signed in: ${apiUrl}/#token=$(cat ${tokenFile})\n`);
        process.stdout.write(`API: curl -H "Authorization: Bearer $(cat ${tokenFile})" ${apiUrl}/executions\n`);
      } else {
        process.stdout.write('the operator API did not start (see the processor log above; is port 8686 taken? set CAFKIT_API_PORT)\n');
      }
      say('running; Ctrl-C stops everything');
      await new Promise<void>((resolve) => process.once('SIGINT', () => resolve()));
    }
  } finally {
    say('stopping what the demo started');
    for (const stop of started.reverse()) await stop().catch((error: unknown) => process.stderr.write(`stop failed: ${(error as Error).message}\n`));
  }
}
