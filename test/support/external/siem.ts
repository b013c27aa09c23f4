import { FakeApi } from './fake-api.js';

/** One log event in the fake SIEM. */
export interface SiemEvent {
  _time: string;
  host: string;
  source: string;
  message: string;
}

/**
 * A fake SIEM search API (Splunk-like): `POST /api/search` `{query,
 * earliest, latest, limit}` with ISO times → `{total, results}`, where
 * results are the events whose message contains the query, inside the time
 * range, at most `limit` of them.
 */
export async function startSiem(events: SiemEvent[] = []): Promise<FakeApi & { events: SiemEvent[] }> {
  const api = await FakeApi.start('siem', [
    {
      method: 'POST',
      path: '/api/search',
      required: ['query', 'earliest', 'latest'],
      handle: ({ body }) => {
        const b = body as Record<string, unknown>;
        const earliest = Date.parse(String(b['earliest']));
        const latest = Date.parse(String(b['latest']));
        if (Number.isNaN(earliest) || Number.isNaN(latest)) return { status: 400, body: { error: 'earliest and latest must be ISO 8601 times' } };
        if (earliest > latest) return { status: 400, body: { error: 'earliest is after latest' } };
        const limit = b['limit'] === undefined ? 100 : Number(b['limit']);
        if (!Number.isInteger(limit) || limit < 1) return { status: 400, body: { error: 'limit must be a positive integer' } };
        const query = String(b['query']);
        const hits = events.filter((e) => {
          const at = Date.parse(e._time);
          return e.message.includes(query) && at >= earliest && at <= latest;
        });
        return { body: { total: hits.length, results: hits.slice(0, limit) } };
      },
    },
  ]);
  return Object.assign(api, { events });
}
