import { readFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import type { z } from 'zod';
import { ConfigSchema, type Config } from './schema.js';
import { ALERT_CHANNELS } from './alerting.js';

/** A configuration problem, naming the key or variable at fault. */
export class ConfigError extends Error {
  override name = 'ConfigError';
  constructor(message: string, readonly issues: string[] = [message]) {
    super(message);
  }
}

/** Environment variables that override the file, and the key each sets. */
export const ENV_OVERRIDES: Record<string, { key: string[]; type: 'string' | 'int' | 'bool' | 'list' | 'api_token' }> = {
  CAFKIT_ORG_ID: { key: ['org_id'], type: 'int' },
  CAFKIT_BROKER_URL: { key: ['broker', 'url'], type: 'string' },
  CAFKIT_BROKER_USER: { key: ['broker', 'user'], type: 'string' },
  CAFKIT_BROKER_PASSWORD: { key: ['broker', 'password'], type: 'string' },
  CAFKIT_BROKER_CA: { key: ['broker', 'ca'], type: 'string' },
  /** RabbitMQ wants `/`; ActiveMQ ignores it. */
  CAFKIT_BROKER_VHOST: { key: ['broker', 'vhost'], type: 'string' },
  CAFKIT_REST_URL: { key: ['rest', 'url'], type: 'string' },
  CAFKIT_REST_CA: { key: ['rest', 'ca'], type: 'string' },
  CAFKIT_API_KEY_ID: { key: ['rest', 'api_key_id'], type: 'string' },
  CAFKIT_API_KEY_SECRET: { key: ['rest', 'api_key_secret'], type: 'string' },
  CAFKIT_REST_EMAIL: { key: ['rest', 'email'], type: 'string' },
  CAFKIT_REST_PASSWORD: { key: ['rest', 'password'], type: 'string' },
  CAFKIT_CONCURRENCY: { key: ['runtime', 'concurrency'], type: 'int' },
  CAFKIT_PROCESSORS: { key: ['processors'], type: 'string' },
  CAFKIT_LOG_LEVEL: { key: ['log', 'level'], type: 'string' },
  CAFKIT_LOG_FILE: { key: ['log', 'file'], type: 'string' },
  /** Comma-separated store URLs; `none` turns activities off. */
  CAFKIT_ACTIVITY_STORES: { key: ['activity', 'stores'], type: 'list' },
  CAFKIT_KEYS_DIR: { key: ['activity', 'keys_dir'], type: 'string' },
  /** `false` turns the operator API off (and with no store and no alert channel, activities with it). */
  CAFKIT_API_ENABLE: { key: ['api', 'enable'], type: 'bool' },
  CAFKIT_API_HOST: { key: ['api', 'host'], type: 'string' },
  /** `0`: any free port (tests, several processors on one host). */
  CAFKIT_API_PORT: { key: ['api', 'port'], type: 'int' },
  /** The operator API's only token: named `env`, with both scopes (`read`, `read:sensitive`). */
  CAFKIT_API_TOKEN: { key: ['api', 'tokens'], type: 'api_token' },
};

/** Where a configuration came from, for messages. */
export interface LoadOptions {
  /** YAML file; optional when the environment says everything. */
  file?: string;
  env?: NodeJS.ProcessEnv;
}

/**
 * Reads the YAML file (if any), substitutes `${VAR}` from the environment,
 * applies the `CAFKIT_*` overrides, validates, and reads the TLS files.
 * Every problem names its key, e.g. `broker.url: must look like stomp+ssl://host:port`.
 *
 * @example
 * const config = loadConfig({ file: 'cafkit.yaml' });
 */
export function loadConfig(options: LoadOptions = {}): Config {
  const config = loadSections(ConfigSchema, ['broker', 'rest', ...ALERT_CHANNELS.map((c) => `alerting.${c}.tls`)], options);
  if (config.processors) config.processors = path.resolve(baseDir(options), config.processors);
  return config;
}

/**
 * The same steps as {@link loadConfig} for part of the file: only the top
 * level `sections` are read (so a variable used elsewhere in the file need
 * not be set), validated by `schema`, and the TLS files of `tlsSections`
 * (dotted paths) resolved. `cafkit install`, for one, needs `org_id` and `rest` only.
 *
 * @example
 * loadConfigSections(RestOnlyConfigSchema, ['org_id', 'rest'], ['rest'], { file });
 */
export function loadConfigSections<S extends z.ZodType<Record<string, unknown>>>(schema: S, sections: string[], tlsSections: string[], options: LoadOptions = {}): z.infer<S> {
  return loadSections(schema, tlsSections, options, sections);
}

function loadSections<S extends z.ZodType<Record<string, unknown>>>(schema: S, tlsSections: string[], options: LoadOptions, only?: string[]): z.infer<S> {
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
    const picked = only ? Object.fromEntries(Object.entries(parsed).filter(([key]) => only.includes(key))) : parsed;
    raw = substituteEnv(picked, env, []) as Record<string, unknown>;
  }
  const merged = applyOverrides(raw, env, only);
  const parsed = schema.safeParse(merged);
  if (!parsed.success) {
    const issues = describeIssues(parsed.error.issues);
    const where = options.file ? ` in ${options.file} (or its CAFKIT_* environment overrides)` : ' (from CAFKIT_* environment variables)';
    throw new ConfigError(`invalid configuration${where}:\n  ${issues.join('\n  ')}`, issues);
  }
  const base = baseDir(options);
  for (const section of tlsSections) {
    // A dotted path: `broker`, or `alerting.syslog.tls`.
    let node: unknown = parsed.data;
    for (const part of section.split('.')) node = (node as Record<string, unknown> | undefined)?.[part];
    if (node === undefined || node === null || typeof node !== 'object') continue;
    const files = node as Record<string, unknown>;
    for (const key of ['ca', 'cert', 'key'] as const) {
      const file = files[key];
      if (typeof file !== 'string') continue;
      const resolved = path.resolve(base, file);
      if (!existsSync(resolved)) throw new ConfigError(`${section}.${key}: file ${resolved} does not exist`);
      files[key] = resolved;
    }
  }
  return parsed.data;
}

function baseDir(options: LoadOptions): string {
  return options.file ? path.dirname(path.resolve(options.file)) : process.cwd();
}

/** `path.to.key: message` for each zod issue. */
export function describeIssues(issues: z.core.$ZodIssue[]): string[] {
  return issues.map((issue) => {
    const key = issue.path.map(String).join('.') || '(top level)';
    if (issue.code === 'unrecognized_keys') {
      return `${key === '(top level)' ? '' : `${key}.`}${issue.keys.join(', ')}: unknown key${issue.keys.length > 1 ? 's' : ''}`;
    }
    if (issue.code === 'invalid_type' && issue.input === undefined) return `${key}: required`;
    return `${key}: ${issue.message}`;
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
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, substituteEnv(v, env, [...at, k])]));
  }
  return value;
}

function applyOverrides(raw: Record<string, unknown>, env: NodeJS.ProcessEnv, only?: string[]): Record<string, unknown> {
  const result: Record<string, unknown> = structuredClone(raw);
  for (const [name, { key, type }] of Object.entries(ENV_OVERRIDES)) {
    if (only && !only.includes(key[0]!)) continue;
    const value = env[name];
    if (value === undefined || value === '') continue;
    let parsed: unknown = value;
    if (type === 'int') {
      if (!/^-?\d+$/.test(value.trim())) throw new ConfigError(`${name}: "${value}" is not a whole number`);
      parsed = Number(value);
    }
    if (type === 'bool') {
      const word = value.trim().toLowerCase();
      if (!['true', 'false', 'yes', 'no', '1', '0'].includes(word)) throw new ConfigError(`${name}: "${value}" is not true or false`);
      parsed = ['true', 'yes', '1'].includes(word);
    }
    if (type === 'list') parsed = value.trim() === 'none' ? [] : value.split(',').map((item) => item.trim()).filter(Boolean);
    if (type === 'api_token') parsed = [{ name: 'env', token: value.trim(), scopes: ['read', 'read:sensitive'] }];
    let node = result;
    for (const part of key.slice(0, -1)) {
      if (typeof node[part] !== 'object' || node[part] === null) node[part] = {};
      node = node[part] as Record<string, unknown>;
    }
    node[key[key.length - 1]!] = parsed;
  }
  return result;
}

/** Reads a PEM file named in the config, if any. */
export function readPem(file: string | undefined): string | undefined {
  return file === undefined ? undefined : readFileSync(file, 'utf8');
}
