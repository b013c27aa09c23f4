import type { AlertingConfig } from '../config/alerting.js';
import { ALERT_CHANNELS } from '../config/alerting.js';
import type { ActivitySink } from '../activity/sink.js';
import type { Log } from '../log/log.js';
import { createEmailSink } from './email.js';
import { createHttpSink } from './http.js';
import { createKafkaSink } from './kafka.js';
import { createSlackSink } from './slack.js';
import { createSyslogSink } from './syslog.js';
import { createTheHiveSink } from './thehive.js';

/** What every channel may need beside its own section. */
export interface SinkDeps {
  log: Log;
  /** CAFKIT_HOME, for state a channel keeps (TheHive's execution→case map). */
  home: string;
}

/**
 * The alert channels the `alerting` section enables, one sink each, named
 * after the channel. A channel that cannot be built (an unreadable CA file)
 * throws, naming its key; the ones built before it are closed.
 *
 * @example
 * const sinks = await createAlertSinks(config.alerting, { log, home });
 * const activity = await createActivitySystem(config, log, env, sinks);
 */
export async function createAlertSinks(alerting: AlertingConfig, deps: SinkDeps): Promise<ActivitySink[]> {
  const sinks: ActivitySink[] = [];
  try {
    if (alerting.syslog?.enable) sinks.push(createSyslogSink(alerting.syslog, deps));
    if (alerting.email?.enable) sinks.push(createEmailSink(alerting.email, deps));
    if (alerting.http?.enable) sinks.push(createHttpSink(alerting.http, deps));
    if (alerting.slack?.enable) sinks.push(createSlackSink(alerting.slack, deps));
    if (alerting.kafka?.enable) sinks.push(createKafkaSink(alerting.kafka, deps));
    if (alerting.thehive?.enable) sinks.push(createTheHiveSink(alerting.thehive, deps));
  } catch (error) {
    await Promise.all(sinks.map((s) => s.close?.().catch(() => {})));
    throw error;
  }
  const enabled = sinks.map((s) => s.name);
  const ruled = new Set<string>();
  for (const [name, rule] of Object.entries(alerting.rules)) {
    for (const channel of ALERT_CHANNELS) {
      if (!rule[channel] || enabled.includes(channel)) continue;
      deps.log.warn(`alerting.rules.${name}.${channel}: the ${channel} channel is not enabled, so nothing goes there`, { rule: name, channel });
    }
    if (rule.all || ALERT_CHANNELS.some((c) => rule[c])) ruled.add(name);
  }
  if (enabled.length > 0) {
    deps.log.info('alert channels', { channels: enabled, selection: alerting.alert_all ? 'alert_all: every activity' : ruled.size > 0 ? `rules for ${[...ruled].join(', ')}` : 'no rule selects them yet (set alert_all or rules)' });
  }
  return sinks;
}
