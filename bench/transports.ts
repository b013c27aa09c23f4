/**
 * Throughput per transport (part of `npm run bench`): the Echo action through
 * `cafkit run` (activities and the API off) on STOMP/TLS to ActiveMQ (the
 * reference), and on STOMP/TLS, STOMP over wss and AMQP 1.0 over TLS to
 * RabbitMQ, with the producer on the same transport as the processor. Prints
 * replies/s, p50/p99 and CPU per message for each, and the ratio of each to
 * STOMP/TLS on ActiveMQ (median of paired rounds).
 * Env: BENCH_MESSAGES (default 5000), BENCH_CONCURRENCY (25), BENCH_ROUNDS (3, after an uncounted warm-up).
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startPlatform } from '../test/support/stack.js';
import { startRabbitMq } from '../test/support/rabbitmq.js';
import { PACKAGE_ROOT } from '../lib/cli/dev-state.js';
import { measure, median, platformTarget, type MeasureTarget, type Result } from './measure.js';

const M = Number(process.env['BENCH_MESSAGES'] ?? 5000);
const CONCURRENCY = Number(process.env['BENCH_CONCURRENCY'] ?? 25);
const ROUNDS = Number(process.env['BENCH_ROUNDS'] ?? 3);

async function main(): Promise<void> {
  const platform = await startPlatform();
  const home = mkdtempSync(path.join(os.tmpdir(), 'cafkit-bench-transports-'));
  let rabbit: Awaited<ReturnType<typeof startRabbitMq>> | undefined;
  try {
    rabbit = await startRabbitMq();
    const r = rabbit;
    const orgId = platform.broker.orgId;
    const queue = `actions.${orgId}.incident_ops`;
    const echoId = platform.emulator.store.action('Echo').id;
    // RabbitMQ wants the virtual host `/` (STOMP's host header); only the processor's config can carry it.
    const vhostConfig = path.join(home, 'rabbitmq.yaml');
    writeFileSync(vhostConfig, 'broker:\n  vhost: /\n');
    const rabbitTarget = (url: string): MeasureTarget => ({ url, login: r.platform.user, passcode: r.platform.password, vhost: '/', ca: r.ca, orgId, brokerPid: () => r.pid() });
    const targets: Array<{ name: string; target: MeasureTarget; processor: Record<string, string> }> = [
      { name: 'activemq-stomp+ssl', target: platformTarget(platform), processor: {} },
      ...(['stompSsl', 'wss', 'amqps'] as const).map((scheme) => ({
        name: `rabbitmq-${scheme === 'stompSsl' ? 'stomp+ssl' : scheme}`,
        target: rabbitTarget(r.urls[scheme]),
        processor: { CAFKIT_BROKER_URL: r.urls[scheme], CAFKIT_BROKER_USER: r.processor.user, CAFKIT_BROKER_PASSWORD: r.processor.password, CAFKIT_BROKER_CA: r.ca, CAFKIT_CONFIG: vhostConfig },
      })),
    ];
    const results: Array<Result & { transport: string; round: number }> = [];
    for (let round = 0; round <= ROUNDS; round++) {
      for (const { name, target, processor } of targets) {
        const consumer = spawn(process.execPath, [path.join(PACKAGE_ROOT, 'bin', 'cafkit.js'), 'run'], {
          env: { ...process.env, ...platform.env, ...processor, CAFKIT_HOME: path.join(home, name), CAFKIT_ACTIVITY_STORES: 'none', CAFKIT_API_ENABLE: 'false', CAFKIT_CONCURRENCY: String(CONCURRENCY), CAFKIT_LOG_LEVEL: 'info' },
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        results.push({ ...(await measure(target, `${name}-r${round}`, consumer, echoId, queue, M)), transport: name, round });
      }
    }
    const counted = results.filter((x) => x.round > 0);
    const reference = counted.filter((x) => x.transport === targets[0]!.name);
    const lines = [`cafkit transports bench: ${M} messages, concurrency ${CONCURRENCY}, ${ROUNDS} rounds, ${os.cpus().length} cores, node ${process.version}`];
    for (const x of counted) lines.push(`${x.name.padEnd(24)} ${x.perSecond.toFixed(0).padStart(6)} replies/s  p50 ${x.p50ms.toFixed(1)} ms  p99 ${x.p99ms.toFixed(1)} ms  CPU ${x.cpuUsPerMessage.toFixed(0)} us/msg (broker ${x.brokerCpuUsPerMessage.toFixed(0)}, bench ${x.benchCpuUsPerMessage.toFixed(0)})`);
    const ratios: Record<string, number> = {};
    for (const { name } of targets.slice(1)) {
      const paired = counted.filter((x) => x.transport === name).map((x) => x.perSecond / reference.find((ref) => ref.round === x.round)!.perSecond);
      ratios[name] = median(paired);
      lines.push(`ratio ${name} / activemq-stomp+ssl: median of paired rounds ${ratios[name]!.toFixed(3)} (${paired.map((v) => v.toFixed(2)).join(', ')})`);
    }
    process.stdout.write(`${lines.join('\n')}\n`);
    mkdirSync(path.join(PACKAGE_ROOT, 'bench', 'results'), { recursive: true });
    writeFileSync(path.join(PACKAGE_ROOT, 'bench', 'results', 'transports-latest.json'), JSON.stringify({ at: new Date().toISOString(), messages: M, concurrency: CONCURRENCY, results: counted, ratios }, null, 2));
  } finally {
    await rabbit?.dispose();
    await platform.stop();
    rmSync(home, { recursive: true, force: true });
  }
}

await main();
