/**
 * The alert channels' servers for `npm run bench`, in their own process so
 * their CPU is not the producer's: the webhook server, the Slack and TheHive
 * doubles, an SMTP server and the Kafka wire-protocol server, all on
 * loopback. Prints one JSON line `{"ready": {...}}` with their addresses;
 * each `counts` line on stdin is answered with a JSON line of what each
 * received. Stops everything on SIGTERM or when stdin closes.
 */
import { createInterface } from 'node:readline';
import { startWebhookServer } from '../test/support/webhook-server.js';
import { startSlackDouble } from '../test/support/slack-double.js';
import { startTheHiveDouble } from '../test/support/thehive-double.js';
import { startSmtpServer } from '../test/support/smtp.js';
import { startKafkaWireServer } from '../test/support/kafka-wire-server.js';
import { BENCH_SECRETS } from './alert-secrets.js';


const [hook, slack, hive, smtp, kafka] = await Promise.all([
  startWebhookServer(),
  startSlackDouble({ tokens: [BENCH_SECRETS.slackToken], channels: ['C0BENCH'] }),
  startTheHiveDouble({ apiKey: BENCH_SECRETS.hiveKey }),
  startSmtpServer({ users: { [BENCH_SECRETS.smtpUser]: BENCH_SECRETS.smtpPassword } }),
  startKafkaWireServer(),
]);

let stopping = false;
async function stop(): Promise<void> {
  if (stopping) return;
  stopping = true;
  await Promise.allSettled([hook.stop(), slack.stop(), hive.stop(), smtp.stop(), kafka.stop()]);
  process.exit(0);
}
process.once('SIGTERM', () => void stop());

process.stdout.write(`${JSON.stringify({ ready: { webhook: hook.url, slack: slack.url, thehive: hive.url, smtpPort: smtp.port, kafka: kafka.address } })}\n`);
const lines = createInterface({ input: process.stdin });
lines.on('line', (line) => {
  if (line.trim() !== 'counts') return;
  const counts = { http: hook.requests.length, slack: slack.messages.length, thehive_calls: hive.calls.length, email_mails: smtp.mails.length, kafka: kafka.records.length };
  process.stdout.write(`${JSON.stringify({ counts })}\n`);
});
lines.on('close', () => void stop());
