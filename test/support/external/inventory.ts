import { FakeApi } from './fake-api.js';

import type { Asset } from '../../../processors/asset-inventory/inventory.js';

export type { Asset };

/** A fake asset inventory API: `GET /assets?ip=` → the asset, or 404 when it is not known. */
export async function startInventory(assets: Asset[]): Promise<FakeApi & { assets: Asset[] }> {
  const api = await FakeApi.start('inventory', [
    {
      method: 'GET',
      path: '/assets',
      handle: ({ query }) => {
        if (!query['ip']) return { status: 400, body: { error: 'query parameter ip is required' } };
        const asset = assets.find((a) => a.ip === query['ip']);
        return asset ? { body: asset } : { status: 404, body: { error: `no asset with ip ${query['ip']}` } };
      },
    },
  ]);
  return Object.assign(api, { assets });
}
