import https from 'node:https';
import { existsSync, readFileSync } from 'node:fs';
import fetch from 'node-fetch';
import { devPaths, readEnvFile } from './dev-state.js';

/** An Action Status entry as the emulator reports it. */
export interface InvocationView {
  id: number;
  correlation_id: string;
  action_name: string;
  destination: string;
  incident_id?: number;
  status: string;
  messages: Array<{ message_type: number; text: string; complete: boolean; results?: unknown }>;
}

/** Where the emulator's control API is and how to trust it. */
export function emulatorEndpoint(env: NodeJS.ProcessEnv = process.env): { url: string; agent?: https.Agent } {
  const paths = devPaths(env);
  const file = readEnvFile(paths.emulatorEnv);
  const url = env['CAFKIT_EMULATOR_URL'] ?? file['CAFKIT_EMULATOR_URL'];
  if (!url) throw new Error('no emulator URL: start one with `cafkit emulator` or set CAFKIT_EMULATOR_URL');
  const caFile = env['CAFKIT_REST_CA'] ?? (existsSync(paths.ca) ? paths.ca : undefined);
  return { url, agent: url.startsWith('https:') ? new https.Agent({ ca: caFile ? readFileSync(caFile) : undefined }) : undefined };
}

/**
 * Invokes an action through the emulator (as an analyst would in the UI)
 * and waits for it to complete. `props` are `key=value`; select fields take
 * a label or an id.
 */
export async function triggerAction(
  options: { destination: string; action: string; incident?: number; object?: { type: 'artifact' | 'note' | 'task'; id: number }; props?: string[]; waitMs: number },
  env: NodeJS.ProcessEnv = process.env,
): Promise<InvocationView> {
  const { url, agent } = emulatorEndpoint(env);
  const properties: Record<string, string> = {};
  for (const prop of options.props ?? []) {
    const at = prop.indexOf('=');
    if (at < 1) throw new Error(`--prop "${prop}" is not key=value`);
    properties[prop.slice(0, at)] = prop.slice(at + 1);
  }
  const response = await fetch(`${url}/emulator/trigger`, {
    method: 'POST',
    agent,
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ destination: options.destination, action: options.action, incident: options.incident, properties, objectType: options.object?.type, objectId: options.object?.id }),
  });
  const created = (await response.json()) as InvocationView & { message?: string };
  if (!response.ok) throw new Error(`trigger refused: ${created.message ?? response.status}`);
  if (options.waitMs <= 0) return created;
  const done = await fetch(`${url}/emulator/invocations/${created.id}?wait=${options.waitMs}&status=done`, { agent });
  return (await done.json()) as InvocationView;
}

/** The Action Status list as the emulator keeps it. */
export async function listInvocations(env: NodeJS.ProcessEnv = process.env): Promise<InvocationView[]> {
  const { url, agent } = emulatorEndpoint(env);
  const response = await fetch(`${url}/emulator/invocations`, { agent });
  return (await response.json()) as InvocationView[];
}

/** Renders invocations the way the platform's Action Status dialog lists them. */
export function formatInvocations(invocations: InvocationView[]): string {
  const lines: string[] = [];
  for (const inv of invocations) {
    lines.push(`#${inv.id} ${inv.action_name} on incident ${inv.incident_id ?? '-'} (${inv.destination}, ${inv.correlation_id}): ${inv.status.toUpperCase()}`);
    for (const m of inv.messages) {
      const kind = m.message_type === 1 ? 'error' : m.complete ? 'done ' : 'info ';
      lines.push(`    ${kind} ${m.text}${m.results !== undefined ? `  results=${JSON.stringify(m.results)}` : ''}`);
    }
  }
  return lines.join('\n');
}
