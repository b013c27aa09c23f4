import { ALERT_CHANNELS, type AlertingConfig } from '../config/alerting.js';

/** The alert channels an execution's activities go to, given its processor and action (null until known). */
export type AlertSelector = (processor: string | null, action: string | null) => readonly string[];

/**
 * Lope's alert selection: with `alert_all`, every enabled channel gets every
 * activity. Otherwise the rule for `processor/action`, else for `processor`,
 * names the channels; its `all` flag overrides its per-channel choice. No
 * rule, or a processor not yet known: no alert channel. Channels that are not
 * running (`running`, the sink names present) are never selected.
 *
 * @example
 * const select = alertSelector(config.alerting, ['syslog', 'email']);
 * select('incident-ops', 'Add Note'); // ['syslog'] with rules: { incident-ops: { syslog: true } }
 */
export function alertSelector(alerting: Pick<AlertingConfig, 'alert_all' | 'rules'>, running: readonly string[]): AlertSelector {
  const enabled = ALERT_CHANNELS.filter((c) => running.includes(c));
  if (alerting.alert_all) return () => enabled;
  const cache = new Map<string, readonly string[]>();
  const none: readonly string[] = [];
  return (processor, action) => {
    if (!processor) return none;
    const key = `${processor}/${action ?? ''}`;
    let channels = cache.get(key);
    if (!channels) {
      const rule = (action !== null ? alerting.rules[key] : undefined) ?? alerting.rules[processor];
      channels = !rule ? none : rule.all ? enabled : enabled.filter((c) => rule[c]);
      cache.set(key, channels);
    }
    return channels;
  };
}

/** Alert rules naming a processor or action that is not loaded (a typo sends nothing, silently otherwise). */
export function unknownRuleTargets(rules: Record<string, unknown>, processors: ReadonlyArray<{ name?: string; actions: Record<string, unknown> }>): string[] {
  const problems: string[] = [];
  for (const key of Object.keys(rules)) {
    const slash = key.indexOf('/');
    const name = slash === -1 ? key : key.slice(0, slash);
    const processor = processors.find((p) => p.name === name);
    if (!processor) problems.push(`alerting.rules.${key}: no processor named ${name} is loaded (${processors.map((p) => p.name).join(', ')})`);
    else if (slash !== -1 && !(key.slice(slash + 1) in processor.actions)) problems.push(`alerting.rules.${key}: processor ${name} has no action ${key.slice(slash + 1)} (${Object.keys(processor.actions).join(', ')})`);
  }
  return problems;
}
