import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { ConfigError, describeIssues, ENV_OVERRIDES, readPem } from '../config/load.js';
import { ConfigSchema, RestConfigSchema } from '../config/schema.js';
import type { Log } from '../log/log.js';
import { registerSecret } from '../log/redact.js';
import { RestClient } from '../rest/client.js';

/**
 * The part of the configuration that talks to the platform's REST API. The
 * full config schema also requires broker settings, which installing does not
 * need: an installer may run where no broker is reachable or configured.
 * Other sections of the file (broker, runtime, log...) are allowed and ignored.
 */
export const RestOnlyConfigSchema = z.looseObject({
  org_id: ConfigSchema.shape.org_id,
  rest: RestConfigSchema,
});
/** A validated REST-only configuration. */
export type RestOnlyConfig = z.infer<typeof RestOnlyConfigSchema>;

/**
 * Like `loadConfig`, for `org_id` and `rest` only: reads the YAML file (if
 * any) with `${VAR}` substitution, applies the `CAFKIT_ORG_ID` and
 * `CAFKIT_REST_*` / `CAFKIT_API_KEY_*` overrides, validates, and resolves the
 * TLS files relative to the file. Throws {@link ConfigError} naming the key.
 *
 * @example
 * const config = loadRestConfig({ file: 'cafkit.yaml' });
 * const rest = restClientFor(config, log);
 */
export function loadRestConfig(options: { file?: string; env?: NodeJS.ProcessEnv } = {}): RestOnlyConfig {
  const env = options.env ?? process.env;
  let raw: Record<string, unknown> = {};
  if (options.file) {
    if (!existsSync(options.file)) throw new ConfigError(`config file ${options.file} does not exist`);
    let parsed: unknown;
    try {
      parsed = parseYaml(readFileSync(options.file, 'utf8')) ?? {};
    } catch (error) {
      throw new ConfigError(`config file ${options.file} is not valid YAML: ${(error as Error).message}`);
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new ConfigError(`config file ${options.file} must hold a mapping at the top`);
    // Only the sections used here: a broker password variable that is not set must not stop an install.
    const { org_id, rest } = parsed as Record<string, unknown>;
    raw = substituteEnv({ org_id, rest }, env, []) as Record<string, unknown>;
  }
  for (const [name, { key, type }] of Object.entries(ENV_OVERRIDES)) {
    if (key[0] !== 'org_id' && key[0] !== 'rest') continue;
    const value = env[name];
    if (value === undefined || value === '') continue;
    if (type === 'int' && !/^-?\d+$/.test(value.trim())) throw new ConfigError(`${name}: "${value}" is not a whole number`);
    setAt(raw, key, type === 'int' ? Number(value) : value);
  }
  const parsed = RestOnlyConfigSchema.safeParse(raw);
  if (!parsed.success) {
    const issues = describeIssues(parsed.error.issues);
    const where = options.file ? ` in ${options.file} (or its CAFKIT_* environment overrides)` : ' (from CAFKIT_* environment variables)';
    throw new ConfigError(`invalid configuration${where}:\n  ${issues.join('\n  ')}`, issues);
  }
  const config = parsed.data;
  const base = options.file ? path.dirname(path.resolve(options.file)) : process.cwd();
  for (const key of ['ca', 'cert', 'key'] as const) {
    const file = config.rest[key];
    if (file === undefined) continue;
    const resolved = path.resolve(base, file);
    if (!existsSync(resolved)) throw new ConfigError(`rest.${key}: file ${resolved} does not exist`);
    config.rest[key] = resolved;
  }
  return config;
}

/**
 * The REST client a {@link RestOnlyConfig} describes (what `createRestClient`
 * builds from a full config). Its secrets are registered for log redaction.
 */
export function restClientFor(config: RestOnlyConfig, log: Log): RestClient {
  const r = config.rest;
  for (const secret of [r.password, r.api_key_secret, r.passphrase]) registerSecret(secret);
  return new RestClient({
    url: r.url,
    orgId: config.org_id,
    tls: { ca: readPem(r.ca), cert: readPem(r.cert), key: readPem(r.key), passphrase: r.passphrase, insecure: r.insecure },
    apiKey: r.api_key_id && r.api_key_secret ? { id: r.api_key_id, secret: r.api_key_secret } : undefined,
    login: r.email && r.password ? { email: r.email, password: r.password } : undefined,
    timeoutMs: r.timeout_ms,
    retries: r.retries,
    conflictTries: r.conflict_tries,
    log,
  });
}

function substituteEnv(value: unknown, env: NodeJS.ProcessEnv, at: string[]): unknown {
  if (typeof value === 'string') {
    return value.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_match, name: string) => {
      const found = env[name];
      if (found === undefined) throw new ConfigError(`${at.join('.')}: environment variable ${name} is not set`);
      return found;
    });
  }
  if (Array.isArray(value)) return value.map((item, index) => substituteEnv(item, env, [...at, String(index)]));
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, substituteEnv(v, env, [...at, k])]));
  return value;
}

function setAt(target: Record<string, unknown>, key: string[], value: unknown): void {
  let node = target;
  for (const part of key.slice(0, -1)) {
    if (typeof node[part] !== 'object' || node[part] === null) node[part] = {};
    node = node[part] as Record<string, unknown>;
  }
  node[key[key.length - 1]!] = value;
}
