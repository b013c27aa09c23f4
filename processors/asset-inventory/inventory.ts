import { stat, readFile } from 'node:fs/promises';
import Database from 'better-sqlite3';
import { z } from 'zod';
import { ActionError } from '../../lib/index.js';
import { externalApi } from '../_shared/http.js';
import { parseCsv } from './csv.js';

/** What the inventory knows about an address. */
export interface Asset {
  ip: string;
  hostname: string;
  owner: string;
  location: string;
  criticality: string;
}

/** The columns of every source, in this order. */
export const ASSET_COLUMNS = ['ip', 'hostname', 'owner', 'location', 'criticality'] as const;

/** Where assets are looked up. */
export interface Inventory {
  /** e.g. `CSV file /etc/cafkit/assets.csv`, for messages. */
  readonly description: string;
  find(ip: string, signal: AbortSignal): Promise<Asset | undefined>;
}

/**
 * A CSV file with a header row naming at least `ip` (other columns: hostname,
 * owner, location, criticality; extra columns are ignored). Read again when
 * the file changes, so an updated inventory is used without a restart.
 */
export function csvInventory(path: string): Inventory {
  const description = `CSV file ${path}`;
  return {
    description,
    async find(ip) {
      const assets = await loadCsv(path, description);
      return assets.get(ip);
    },
  };
}

const csvCache = new Map<string, { mtimeMs: number; size: number; assets: Map<string, Asset> }>();

async function loadCsv(path: string, description: string): Promise<Map<string, Asset>> {
  let info;
  try {
    info = await stat(path);
  } catch (error) {
    throw new ActionError(`asset inventory (${description}) could not be read: ${reason(error)}`);
  }
  const cached = csvCache.get(path);
  if (cached && cached.mtimeMs === info.mtimeMs && cached.size === info.size) return cached.assets;
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new ActionError(`asset inventory (${description}) could not be read: ${reason(error)}`);
  }
  const [header, ...rows] = parseCsv(text);
  const columns = (header ?? []).map((h) => h.trim().toLowerCase());
  if (!columns.includes('ip')) throw new ActionError(`asset inventory (${description}) has no "ip" column in its header row (expected ${ASSET_COLUMNS.join(',')})`);
  const assets = new Map<string, Asset>();
  for (const row of rows) {
    const record = Object.fromEntries(columns.map((c, i) => [c, (row[i] ?? '').trim()]));
    const asset = toAsset(record);
    if (asset.ip !== '' && !assets.has(asset.ip)) assets.set(asset.ip, asset);
  }
  csvCache.set(path, { mtimeMs: info.mtimeMs, size: info.size, assets });
  return assets;
}

/** A SQLite file with a table `assets` of the same columns, opened read-only for each lookup. */
export function sqliteInventory(path: string): Inventory {
  const description = `SQLite file ${path}`;
  return {
    description,
    async find(ip) {
      let db: Database.Database | undefined;
      try {
        db = new Database(path, { readonly: true, fileMustExist: true });
        const row = db.prepare(`SELECT ${ASSET_COLUMNS.join(', ')} FROM assets WHERE ip = ? LIMIT 1`).get(ip) as Record<string, unknown> | undefined;
        return row && toAsset(row);
      } catch (error) {
        throw new ActionError(`asset inventory (${description}) could not be searched: ${reason(error)}`);
      } finally {
        db?.close();
      }
    },
  };
}

const AssetAnswerSchema = z.looseObject({
  ip: z.string().optional(),
  hostname: z.string().nullish(),
  owner: z.string().nullish(),
  location: z.string().nullish(),
  criticality: z.union([z.string(), z.number()]).nullish(),
});

/** An HTTP API: `GET <url>/assets?ip=<ip>` answers the asset, or 404 when it does not know the address. */
export function httpInventory(settings: { url: string; token: string; timeout_ms: number }): Inventory {
  return {
    description: `API ${settings.url}`,
    async find(ip, signal) {
      const api = externalApi('asset inventory', settings, signal);
      const answer = await api.call('GET', '/assets', { query: { ip }, what: `the lookup of ${ip}`, accept: [404], schema: AssetAnswerSchema });
      if (answer.status === 404) return undefined;
      return toAsset({ ...answer.body, ip });
    },
  };
}

function toAsset(record: Record<string, unknown>): Asset {
  const text = (key: string) => (record[key] === undefined || record[key] === null ? '' : String(record[key]).trim());
  return { ip: text('ip'), hostname: text('hostname'), owner: text('owner'), location: text('location'), criticality: text('criticality') };
}

function reason(error: unknown): string {
  const err = error as Error & { code?: string };
  return err.code && !err.message.includes(err.code) ? `${err.code}: ${err.message}` : err.message;
}
