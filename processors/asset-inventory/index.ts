/**
 * # asset-inventory: what is this IP address?
 *
 * The CAF guide's second use case: every time an IP Address artifact is
 * added, the automatic action **Look Up Asset** checks the address against
 * the organisation's asset inventory and writes what it found into the
 * artifact's description, in a marked block:
 *
 * ```text
 * Source of the successful login
 *
 * [asset-inventory]
 * Host: jump-host-02.corp.example
 * Owner: IT Operations
 * Location: Frankfurt, DC1
 * Criticality: High
 * [/asset-inventory]
 * ```
 *
 * - Destination `asset_inventory`; platform objects in
 *   `destinations/asset-inventory.yaml` (automatic, on IP Address artifacts
 *   when they are added).
 * - The analyst's text is kept. Running again replaces the block rather than
 *   adding a second one, and makes no write at all when it already says the same.
 * - An address the inventory does not know is a success that says so; the
 *   artifact is left as it is.
 * - The write goes through `ctx.rest.getPut` (409s are re-read and re-applied)
 *   with the context token, so it does not fire this action again.
 *
 * Settings (`settings.asset-inventory`): where the inventory is. With no
 * section at all, the sample `processors/asset-inventory/assets.csv` is used.
 *
 * ```yaml
 * asset-inventory:
 *   source: csv                     # default
 *   path: /etc/cafkit/assets.csv    # header: ip,hostname,owner,location,criticality
 * # or
 * asset-inventory:
 *   source: sqlite
 *   path: /var/lib/cafkit/assets.db # table `assets` with the same columns
 * # or
 * asset-inventory:
 *   source: http                    # GET <url>/assets?ip=<ip>: the asset, or 404
 *   url: https://cmdb.example.com
 *   token: ${CMDB_TOKEN}
 *   timeout_ms: 15000
 * ```
 *
 * Relative paths are relative to the directory cafkit runs in.
 */
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { ActionError, defineProcessor, type HandlerContext } from '../../lib/index.js';
import { artifactOf } from '../_shared/action-objects.js';
import { withBlock, type Description } from '../_shared/description-block.js';
import { externalApiSettings } from '../_shared/http.js';
import { csvInventory, httpInventory, sqliteInventory, type Asset, type Inventory } from './inventory.js';

/** The sample inventory shipped with the processor. */
export const SAMPLE_CSV = fileURLToPath(new URL('./assets.csv', import.meta.url));

const settings = z.preprocess(
  (section) => (section !== null && typeof section === 'object' && !('source' in section) ? { ...section, source: 'csv' } : section),
  z.discriminatedUnion('source', [
    z.object({ source: z.literal('csv'), path: z.string().min(1).default(SAMPLE_CSV) }),
    z.object({ source: z.literal('sqlite'), path: z.string().min(1, { error: 'is required for source sqlite' }) }),
    z.object({ source: z.literal('http'), ...externalApiSettings }),
  ]),
);
type Settings = z.infer<typeof settings>;

/** The tag of the block this processor owns in an artifact's description. */
export const BLOCK_TAG = 'asset-inventory';

interface Artifact {
  id: number;
  value: string;
  description: Description;
  [extra: string]: unknown;
}

export default defineProcessor({
  name: 'asset-inventory',
  destination: 'asset_inventory',
  settings,
  actions: {
    'Look Up Asset': async (message, ctx) => {
      const artifact = artifactOf(message);
      const artifactPath = `/incidents/${artifact.incidentId}/artifacts/${artifact.id}`;
      const ip = await addressOf(artifact, artifactPath, ctx);
      const inventory = inventoryFor(ctx.settings);
      const asset = await inventory.find(ip, ctx.signal);
      if (!asset) return { message: `${ip} is not in the asset inventory (${inventory.description})`, results: { ip, found: false } };

      let written = false;
      await ctx.rest.getPut<Artifact>(
        artifactPath,
        (current) => {
          const description = withBlock(current.description, BLOCK_TAG, describe(asset));
          written = description !== undefined;
          return description === undefined ? undefined : { ...current, description };
        },
        { signal: ctx.signal },
      );
      const what = `${ip} is ${asset.hostname || 'a known asset'}${asset.owner ? ` (owner ${asset.owner})` : ''}`;
      return {
        message: written ? `${what}; added to the artifact's description` : `${what}; the artifact's description already says so`,
        results: { ip, found: true, asset, updated: written },
      };
    },
  },
});

function inventoryFor(s: Settings): Inventory {
  switch (s.source) {
    case 'csv':
      return csvInventory(path.resolve(s.path));
    case 'sqlite':
      return sqliteInventory(path.resolve(s.path));
    case 'http':
      return httpInventory(s);
  }
}

/** The artifact's value, checked to be an IP address; read from the platform when the message lacks it. */
async function addressOf(artifact: ReturnType<typeof artifactOf>, artifactPath: string, ctx: HandlerContext<Settings>): Promise<string> {
  let { value, type } = artifact.fields as { value?: unknown; type?: unknown };
  if (typeof value !== 'string') ({ value, type } = await ctx.rest.get<Artifact>(artifactPath, { signal: ctx.signal }));
  const typeLabel = ctx.label('artifact', 'type', type);
  if (typeLabel !== undefined && typeLabel !== 'IP Address') {
    throw new ActionError(`Look Up Asset runs on IP Address artifacts; artifact ${artifact.id} is a ${typeLabel}`);
  }
  const ip = String(value ?? '').trim();
  if (net.isIP(ip) === 0) throw new ActionError(`artifact ${artifact.id} holds ${JSON.stringify(ip)}, which is not an IP address`);
  return ip;
}

/** The block's text: one line per field the inventory filled in. */
function describe(asset: Asset): string {
  const lines: Array<[string, string]> = [
    ['Host', asset.hostname],
    ['Owner', asset.owner],
    ['Location', asset.location],
    ['Criticality', asset.criticality],
  ];
  const filled = lines.filter(([, value]) => value !== '');
  if (filled.length === 0) return 'In the asset inventory, with no details';
  return filled.map(([label, value]) => `${label}: ${value}`).join('\n');
}
