/**
 * # siem-search: what do the logs say about this indicator?
 *
 * The CAF guide's fifth use case: every time a DNS Name or IP Address artifact
 * is added, the automatic action **SIEM Search** searches the SIEM (Splunk
 * or another) for the artifact's value over the last hours. It adds **one**
 * note to the incident:
 *
 * > SIEM search for evil.example.com (last 24 h): 12 hits
 * >
 * > | time | host | source | event |
 * > | --- | --- | --- | --- |
 * > | … the first 5 … |
 *
 * The note is a summary, not a log dump: at most `max_rows` rows, each event
 * shortened. No hits gives a note that says so, because "nothing found" is
 * an answer too. Log text is attacker-controlled, so everything from the
 * SIEM is HTML-escaped before it goes into the note.
 *
 * - Destination `siem_search`; platform objects in `destinations/siem-search.yaml`
 *   (automatic, on DNS Name and IP Address artifacts when they are added).
 * - SIEM API: `POST <url>/api/search` with `Authorization: Bearer <token>` and
 *   `{query: <artifact value>, earliest, latest, limit}` (ISO 8601 times). It
 *   answers `{total?, results: [{_time?, host?, source?, message? | _raw?, ...}]}`.
 *   Without `total`, the number of results is the number of hits.
 * - Results: `{query, hits, shown, note_id}`.
 *
 * Settings (`settings.siem-search`):
 *
 * ```yaml
 * siem-search:
 *   url: https://siem.example.com
 *   token: ${SIEM_TOKEN}
 *   window_hours: 24     # how far back to search (default)
 *   max_rows: 5          # rows in the note (default)
 *   limit: 100           # results asked of the SIEM (default)
 *   timeout_ms: 30000
 * ```
 */
import { z } from 'zod';
import { ActionError, defineProcessor, type HandlerContext } from '../../lib/index.js';
import { artifactOf } from '../_shared/action-objects.js';
import { externalApi, externalApiSettings } from '../_shared/http.js';

const settings = z.object({
  ...externalApiSettings,
  timeout_ms: z.number().int().positive().default(30_000),
  window_hours: z.number().positive().max(24 * 366).default(24),
  max_rows: z.number().int().min(0).max(50).default(5),
  limit: z.number().int().positive().max(10_000).default(100),
});
type Settings = z.infer<typeof settings>;

const SearchAnswerSchema = z.looseObject({
  total: z.number().int().nonnegative().optional(),
  results: z.array(z.record(z.string(), z.unknown())),
});
type Event = Record<string, unknown>;

const SEARCHABLE = ['DNS Name', 'IP Address'];
const EVENT_TEXT_MAX = 160;

export default defineProcessor({
  name: 'siem-search',
  destination: 'siem_search',
  settings,
  actions: {
    'SIEM Search': async (message, ctx) => {
      const artifact = artifactOf(message);
      const query = await valueOf(artifact, ctx);
      const latest = new Date();
      const earliest = new Date(latest.getTime() - ctx.settings.window_hours * 3_600_000);

      const siem = externalApi('SIEM', ctx.settings, ctx.signal);
      const answer = await siem.json('POST', '/api/search', {
        body: { query, earliest: earliest.toISOString(), latest: latest.toISOString(), limit: ctx.settings.limit },
        what: `the search for ${query}`,
        schema: SearchAnswerSchema,
      });
      const hits = Math.max(answer.total ?? 0, answer.results.length);
      const rows = answer.results.slice(0, ctx.settings.max_rows);
      const headline = `SIEM search for ${query} (last ${hours(ctx.settings.window_hours)}): ${hits} ${hits === 1 ? 'hit' : 'hits'}`;

      const note = await ctx.rest.post<{ id: number }>(
        `/incidents/${artifact.incidentId}/comments`,
        { text: { format: 'html', content: noteHtml(headline, rows, hits) } },
        { signal: ctx.signal },
      );
      return { message: headline, results: { query, hits, shown: rows.length, note_id: note.id } };
    },
  },
});

/** The artifact's value; read from the platform when the message has only the id. */
async function valueOf(artifact: ReturnType<typeof artifactOf>, ctx: HandlerContext<Settings>): Promise<string> {
  let { value, type } = artifact.fields as { value?: unknown; type?: unknown };
  if (typeof value !== 'string') {
    ({ value, type } = await ctx.rest.get<{ value?: unknown; type?: unknown }>(`/incidents/${artifact.incidentId}/artifacts/${artifact.id}`, { signal: ctx.signal }));
  }
  const label = ctx.label('artifact', 'type', type);
  if (label !== undefined && !SEARCHABLE.includes(label)) throw new ActionError(`SIEM Search runs on ${SEARCHABLE.join(' and ')} artifacts; artifact ${artifact.id} is a ${label}`);
  const query = String(value ?? '').trim();
  if (query === '') throw new ActionError(`artifact ${artifact.id} has no value to search for`);
  return query;
}

/** The note: the headline, then a small table of the first events. */
function noteHtml(headline: string, rows: Event[], hits: number): string {
  const head = `<p><b>${escape(headline)}</b></p>`;
  if (hits === 0) return `${head}<p>No log events mention it in that time.</p>`;
  if (rows.length === 0) return head;
  const cells = rows.map((e) => [field(e, '_time', 'time', 'timestamp'), field(e, 'host'), field(e, 'source', 'sourcetype'), shorten(field(e, 'message', '_raw', 'event'))]);
  const body = cells.map((row) => `<tr>${row.map((c) => `<td>${escape(c)}</td>`).join('')}</tr>`).join('');
  const more = hits > rows.length ? `<p>First ${rows.length} of ${hits} shown; the rest are in the SIEM.</p>` : '';
  return `${head}<table><tr><th>time</th><th>host</th><th>source</th><th>event</th></tr>${body}</table>${more}`;
}

function field(event: Event, ...names: string[]): string {
  for (const name of names) {
    const value = event[name];
    if (value !== undefined && value !== null && value !== '') return typeof value === 'object' ? JSON.stringify(value) : String(value);
  }
  return '';
}

function shorten(text: string): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > EVENT_TEXT_MAX ? `${flat.slice(0, EVENT_TEXT_MAX - 1)}…` : flat;
}

function escape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');
}

/** "24 h", "90 min", "7 d". */
function hours(h: number): string {
  if (h < 1) return `${Math.round(h * 60)} min`;
  if (h >= 48 && h % 24 === 0) return `${h / 24} d`;
  return `${h} h`;
}
