import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { eventually, startPlatform, processorConfig, EXAMPLES, type Platform } from '../support/stack.js';
import { startSmtpServer, type SmtpTestServer } from '../support/smtp.js';
import { startWebhookServer, type WebhookServer } from '../support/webhook-server.js';
import { startSlackDouble, type SlackDouble } from '../support/slack-double.js';
import { startTheHiveDouble, type TheHiveDouble } from '../support/thehive-double.js';
import { startKafkaWireServer, type KafkaWireServer } from '../support/kafka-wire-server.js';
import { startRsyslog, type RsyslogInstance } from '../support/rsyslog.js';
import { cert } from '../support/signed-activities.js';
import { createActivitySystem, type ActivitySystem } from '../../lib/activity/system.js';
import { createAlertSinks } from '../../lib/sinks/index.js';
import { createRuntime, type Runtime } from '../../lib/runtime/runtime.js';
import { loadProcessors } from '../../lib/runtime/load-processors.js';
import { brokerLink, transportLabel } from '../support/test-broker.js';
import { createLogger } from '../../lib/log/logger.js';
import type { Config } from '../../lib/config/schema.js';
import { AlertingConfigSchema, type AlertingConfig } from '../../lib/config/alerting.js';
import type { ActivityRecord } from '../../lib/activity/record.js';

const SLACK_TOKEN = 'xoxb-cafkit-test-0123456789';
const HIVE_KEY = 'thehive-test-key-0123456789';
const SMTP_USER = { user: 'alerts', password: 'smtp-secret-0123' };

/** The correlation ids each channel has a final activity for. */
interface Seen {
  syslog: Set<string>;
  email: Set<string>;
  http: Set<string>;
  slack: Set<string>;
  kafka: Set<string>;
  thehive: Set<string>;
}

describe(`alert channels: every channel delivers the activities of the example actions, through cafkit run [${transportLabel()}]`, () => {
  let platform: Platform;
  let smtp: SmtpTestServer;
  let hook: WebhookServer;
  let slack: SlackDouble;
  let hive: TheHiveDouble;
  let kafka: KafkaWireServer;
  let rsyslog: RsyslogInstance;
  let runtime: Runtime | undefined;
  let activity: ActivitySystem | undefined;
  const home = mkdtempSync(path.join(tmpdir(), 'cafkit-alerting-'));

  /** The `alerting` section for these servers: every channel on, over TLS where the channel has it. */
  function alerting(overrides: Partial<AlertingConfig> = {}): AlertingConfig {
    return AlertingConfigSchema.parse({
      alert_all: true,
      syslog: { enable: true, remote: true, protocol: 'tcp', host: '127.0.0.1', port: rsyslog.tcpPort, tag: 'cafkit-e2e' },
      email: { enable: true, host: '127.0.0.1', port: smtp.port, user: SMTP_USER.user, password: SMTP_USER.password, from: 'cafkit@example.com', to: ['soc@example.com'], tls: { ca: cert('ca.pem') }, body_intro: '<p>cafkit says:</p>' },
      http: { enable: true, url: hook.url, use_body: true, headers: { authorization: 'Bearer hook-secret-0123' }, tls: { ca: cert('ca.pem') } },
      slack: { enable: true, oauth_token: SLACK_TOKEN, url: slack.url, channel_id: 'C0CAFKIT', pretext: 'cafkit', tls: { ca: cert('ca.pem') } },
      kafka: { enable: true, brokers: [kafka.address], topic: 'cafkit-activities', create_topic: true, partitions: 3, timeout_ms: 5000 },
      thehive: { enable: true, url: hive.url, api_key: HIVE_KEY, tls: { ca: cert('ca.pem') } },
      ...overrides,
    });
  }

  async function startProcessor(section: AlertingConfig): Promise<void> {
    const config: Config = processorConfig(platform, (c) => {
      c.activity.stores = [`sqlite:${path.join(home, 'activities.db')}`];
      c.activity.keys_dir = path.join(home, 'keys');
      c.alerting = section;
    });
    const log = createLogger({ level: process.env['CAFKIT_TEST_LOG'] ? 'debug' : 'error' });
    const env = { ...process.env, CAFKIT_HOME: home };
    const sinks = await createAlertSinks(config.alerting, { log, home });
    activity = await createActivitySystem(config, log, env, sinks);
    // The reporter retries quickly here, so a server coming back is noticed within the test's deadlines.
    runtime = createRuntime(config, await loadProcessors(EXAMPLES), { log, activity });
    await runtime.start(AbortSignal.timeout(30_000));
  }

  async function stopProcessor(): Promise<void> {
    await runtime?.stop(10_000);
    runtime = undefined;
    activity = undefined;
  }

  /** What each channel's server has received, as correlation ids of final activities. */
  function seen(): Seen {
    const ids = (records: Array<ActivityRecord | undefined>) => new Set(records.filter((r): r is ActivityRecord => r !== undefined).map((r) => r.correlation_id ?? r.execution_id));
    const parse = (text: string): ActivityRecord | undefined => {
      try {
        return JSON.parse(text) as ActivityRecord;
      } catch {
        return undefined;
      }
    };
    return {
      syslog: ids(rsyslog.messages().filter((m) => m.appName === 'cafkit-e2e').map((m) => parse(m.msg))),
      email: new Set(smtp.mails.flatMap((m) => [...(m.parsed.text ?? '').matchAll(/Correlation: (\S+)/g)].map((match) => match[1]!))),
      http: ids(hook.requests.map((r) => parse(r.body))),
      slack: new Set(slack.messages.map((m) => String(m.attachments?.[0]?.['text'] ?? '')).map((text) => /Correlation: (\S+)/.exec(text)?.[1] ?? '')),
      kafka: ids(kafka.records.map((r) => parse(r.value?.toString('utf8') ?? ''))),
      thehive: new Set([...hive.cases.values()].filter((c) => c.status !== 'New' && c.status !== 'InProgress').flatMap((c) => c.tags.filter((t) => t.startsWith('correlation:')).map((t) => t.slice('correlation:'.length)))),
    };
  }

  async function trigger(action: string, properties: Record<string, unknown>, incident = 2095): Promise<string> {
    const inv = await platform.emulator.trigger({ destination: 'incident_ops', action, incident, properties });
    await platform.emulator.waitFor(inv.id, { timeoutMs: 30_000, status: 'done' });
    return inv.correlation_id;
  }

  before(async () => {
    [platform, smtp, hook, slack, hive, kafka, rsyslog] = await Promise.all([
      startPlatform(),
      startSmtpServer({ users: { [SMTP_USER.user]: SMTP_USER.password } }),
      startWebhookServer(),
      startSlackDouble({ tokens: [SLACK_TOKEN], channels: ['C0CAFKIT'] }),
      startTheHiveDouble({ apiKey: HIVE_KEY }),
      startKafkaWireServer(),
      startRsyslog(),
    ]);
  });

  after(async () => {
    await stopProcessor();
    await Promise.allSettled([platform?.stop(), smtp?.stop(), hook?.stop(), slack?.stop(), hive?.stop(), kafka?.stop(), rsyslog?.dispose()]);
    rmSync(home, { recursive: true, force: true });
  });

  test('Echo, Add Note, Set Severity (succeeded and failed) and a dead-lettered message reach syslog, email, webhook, Slack, Kafka and TheHive', async () => {
    await startProcessor(alerting());
    const correlations = [
      await trigger('Echo', { note_text: 'alert me' }),
      await trigger('Add Note', { note_text: 'an alerting note' }),
      await trigger('Set Severity', { severity: 'High' }),
    ];
    platform.emulator.setFaults({ conflicts: 1000 });
    try {
      correlations.push(await trigger('Set Severity', { severity: 'Low' }, 2096));
    } finally {
      platform.emulator.setFaults({ conflicts: 0 });
    }
    // A message no processor can parse: its processor is never known, so only alert_all sends it out.
    const b = platform.broker;
    const link = brokerLink(b);
    await link.connect();
    await link.send(`/queue/actions.${b.orgId}.incident_ops`, '{broken', { headers: { 'reply-to': `/queue/acks.${b.orgId}.alerting`, 'correlation-id': 'alerting-bad' } });
    await link.close();
    correlations.push('alerting-bad');
    await eventually(() => (runtime!.dispatcher.stats.deadLettered === 1 || undefined), 'the bad message to be dead-lettered');

    const all = await eventually(() => {
      const now = seen();
      return Object.values(now).every((set) => correlations.every((c) => set.has(c))) ? now : undefined;
    }, 'every channel to have every activity', 30_000).catch((error: Error) => {
      const now = seen();
      throw new Error(`${error.message}\n${Object.entries(now).map(([k, v]) => `${k}: missing ${correlations.filter((c) => !v.has(c)).join(', ') || 'none'}`).join('\n')}`);
    });
    assert.ok(all);

    // What each saw is the activity itself: the failed Set Severity is a failure everywhere it has a status.
    const failed = correlations[3]!;
    const kafkaFailed = kafka.records.map((r) => JSON.parse(r.value!.toString('utf8')) as ActivityRecord).find((r) => r.correlation_id === failed);
    assert.equal(kafkaFailed?.status, 'failed');
    assert.equal(kafka.records.find((r) => r.value?.toString('utf8').includes(failed))?.headers['status'], 'failed');
    const failedCase = [...hive.cases.values()].find((c) => c.tags.includes(`correlation:${failed}`));
    assert.equal(failedCase?.status, 'Indeterminate');
    const slackFailed = slack.messages.find((m) => String(m.attachments?.[0]?.['text']).includes(failed));
    assert.equal(slackFailed?.attachments?.[0]?.['color'], 'danger');
    const syslogFailed = rsyslog.messages().find((m) => m.msg.includes(failed));
    assert.equal(syslogFailed?.severity, 'err');
    // TheHive followed Set Severity's steps and replies as tasks.
    const okCase = [...hive.cases.values()].find((c) => c.tags.includes(`correlation:${correlations[2]}`))!;
    assert.ok(hive.tasksOf(okCase._id).some((t) => t.title === 'Replies to the platform'));
    await stopProcessor();
  });

  test('a channel whose server is down holds up neither actions nor the other channels, and gets what was queued when it returns', async () => {
    await startProcessor(alerting());
    await hook.close();
    await rsyslog.stop();
    try {
      const correlations: string[] = [];
      for (let i = 0; i < 5; i++) correlations.push(await trigger('Echo', { note_text: `while down ${i}` }));
      // Every action finished (trigger waited for each reply); the channels that are up have them all.
      await eventually(() => {
        const now = seen();
        return (['email', 'slack', 'kafka', 'thehive'] as const).every((k) => correlations.every((c) => now[k].has(c))) || undefined;
      }, 'the channels that are up to have every activity');
      const stats = activity!.reporter.stats();
      const waiting = (name: string) => stats[name]!.queued + stats[name]!.in_spill;
      assert.ok(waiting('http') > 0 && stats['http']!.failed_attempts > 0, `http is retrying: ${JSON.stringify(stats['http'])}`);
      assert.ok(waiting('syslog') > 0 && stats['syslog']!.failed_attempts > 0, `syslog is retrying: ${JSON.stringify(stats['syslog'])}`);
      assert.equal(seen().http.size === 0 || correlations.every((c) => !seen().http.has(c)), true, 'nothing reached the closed webhook');

      await hook.reopen();
      await rsyslog.start();
      await eventually(() => {
        const now = seen();
        return (correlations.every((c) => now.http.has(c) && now.syslog.has(c))) || undefined;
      }, 'the webhook and syslog to get what was queued', 60_000);
      // Each arrived once on the webhook.
      for (const c of correlations) assert.equal(hook.requests.filter((r) => r.body.includes(`"correlation_id":"${c}"`)).length, 1, `${c} once on the webhook`);
    } finally {
      if (!hook.port) await hook.reopen().catch(() => {});
    }
    await stopProcessor();
  });

  test('rules choose channels per processor and action; without alert_all a rule-less action goes nowhere', async () => {
    await startProcessor(alerting({ alert_all: false, rules: { 'incident-ops/Echo': { all: false, syslog: false, email: false, http: true, slack: false, kafka: false, thehive: false }, 'incident-ops': { all: false, syslog: false, email: false, http: false, slack: false, kafka: true, thehive: false } } }));
    const mark = { http: hook.requests.length, kafka: kafka.records.length, slack: slack.messages.length, mails: smtp.mails.length };
    const echo = await trigger('Echo', { note_text: 'ruled' });
    const note = await trigger('Add Note', { note_text: 'ruled note' });
    await eventually(() => hook.requests.slice(mark.http).some((r) => r.body.includes(echo)) || undefined, 'Echo on the webhook');
    await eventually(() => kafka.records.slice(mark.kafka).some((r) => r.value?.toString('utf8').includes(note)) || undefined, 'Add Note on Kafka');
    await stopProcessor(); // drains every queue: whatever was going to be sent has been
    assert.equal(hook.requests.slice(mark.http).some((r) => r.body.includes(note)), false, 'Add Note is not on the webhook (the action rule for Echo does not apply)');
    assert.equal(kafka.records.slice(mark.kafka).some((r) => r.value?.toString('utf8').includes(echo)), false, 'Echo is not on Kafka: its action rule replaces the processor rule');
    assert.equal(slack.messages.length, mark.slack, 'no rule selects Slack');
    assert.equal(smtp.mails.length, mark.mails, 'no rule selects email');
  });

});
