/**
 * # helpdesk: a note becomes a helpdesk ticket
 *
 * The CAF guide's first use case: an analyst writes a note ("We need to
 * collect the logs from server xyz") and runs **Create Ticket** on it. The
 * action's dialog asks for a `priority` (Low, Medium, High, Critical;
 * required) and, optionally, a `ticket_summary` (default: the note's first
 * line). The processor creates the ticket in the IT helpdesk and writes
 * `Helpdesk ticket <id> created: <link>` back on the incident as a note.
 *
 * - Destination `helpdesk`; platform objects in `destinations/helpdesk.yaml`.
 * - Helpdesk API: `POST <url>/api/tickets` with `Authorization: Bearer <token>`
 *   and `{summary, description, priority, incident_id, reporter}`; it answers
 *   `{id, url?}` (without `url`, the link is `<url>/tickets/<id>`).
 * - Results: `{ticket_id, url}`.
 * - The ticket is not created twice: the POST is never retried, and a
 *   redelivered message is answered from the framework's stored reply.
 *
 * Settings (`settings.helpdesk`):
 *
 * ```yaml
 * helpdesk:
 *   url: https://helpdesk.example.com
 *   token: ${HELPDESK_TOKEN}
 *   timeout_ms: 15000            # per call (default)
 * ```
 */
import { z } from 'zod';
import { ActionError, defineProcessor, type ActionData, type HandlerContext } from '../../lib/index.js';
import { incidentOf, textField } from '../_shared/action-objects.js';
import { externalApi, externalApiSettings } from '../_shared/http.js';

const settings = z.object({ ...externalApiSettings });
type Settings = z.infer<typeof settings>;

const PRIORITIES = ['Low', 'Medium', 'High', 'Critical'] as const;
const SUMMARY_MAX = 120;

const TicketSchema = z.looseObject({
  id: z.union([z.string().min(1), z.number()]).transform(String),
  url: z.string().optional(),
});

interface Note {
  id: number;
  text: unknown;
}

export default defineProcessor({
  name: 'helpdesk',
  destination: 'helpdesk',
  settings,
  actions: {
    'Create Ticket': async (message, ctx) => {
      const incidentId = incidentOf(message);
      const priority = priorityOf(message, ctx);
      const description = await noteText(message, incidentId, ctx);
      const summary = textField(message, 'ticket_summary') ?? firstLine(description);

      const helpdesk = externalApi('helpdesk', ctx.settings, ctx.signal);
      await ctx.progress(`Creating a ${priority} ticket in the helpdesk`);
      const ticket = await helpdesk.json('POST', '/api/tickets', {
        body: { summary, description, priority, incident_id: incidentId, reporter: reporterOf(message) },
        what: 'the ticket',
        schema: TicketSchema,
      });
      const url = ticket.url ?? `${ctx.settings.url.replace(/\/+$/, '')}/tickets/${encodeURIComponent(ticket.id)}`;

      try {
        await ctx.rest.post(`/incidents/${incidentId}/comments`, { text: `Helpdesk ticket ${ticket.id} created: ${url}` }, { signal: ctx.signal });
      } catch (error) {
        // The ticket exists: say so, or the analyst would run the action again and get a second one.
        throw new ActionError(`Helpdesk ticket ${ticket.id} was created (${url}), but the note on incident ${incidentId} could not be added: ${(error as Error).message}`);
      }
      return { message: `Helpdesk ticket ${ticket.id} created: ${url}`, results: { ticket_id: ticket.id, url } };
    },
  },
});

/**
 * The `priority` select field's label. A label the field has but the
 * helpdesk does not know (an admin added "Urgent") is the helpdesk's to refuse.
 */
function priorityOf(message: ActionData, ctx: HandlerContext<Settings>): string {
  const id = message.properties['priority'];
  if (id === undefined || id === null || id === '') throw new ActionError(`action field priority is required (${PRIORITIES.join(', ')})`);
  const label = ctx.label('actioninvocation', 'priority', id);
  if (label === undefined) throw new ActionError(`action field priority holds ${JSON.stringify(id)}, not one of its choices`);
  return label;
}

/** The note's text as plain text: from the message, or read from the platform when the message has only its id. */
async function noteText(message: ActionData, incidentId: number, ctx: HandlerContext<Settings>): Promise<string> {
  const note = message.note;
  if (!note) throw new ActionError('Create Ticket runs on notes, and the message has none');
  let raw = note['text'];
  if (raw === undefined) raw = (await ctx.rest.get<Note>(`/incidents/${incidentId}/comments/${note.id}`, { signal: ctx.signal })).text;
  const text = plainText(raw);
  if (text === '') throw new ActionError(`note ${note.id} is empty: there is nothing to put in the ticket`);
  return text;
}

/** Note text is a string or `{format, content}`, and often HTML on the platform: the ticket gets plain text. */
function plainText(raw: unknown): string {
  const content = typeof raw === 'string' ? raw : typeof raw === 'object' && raw !== null && typeof (raw as { content?: unknown }).content === 'string' ? (raw as { content: string }).content : '';
  if (!/<[a-z][\s\S]*>/i.test(content)) return content.trim();
  return content
    .replace(/<br\s*\/?>/gi, '\n')
    .replace(/<\/(p|div|li|h\d)>/gi, '\n')
    .replace(/<[^>]+>/g, '')
    .replace(/&nbsp;/g, ' ')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&amp;/g, '&')
    .replace(/\n{3,}/g, '\n\n')
    .trim();
}

function firstLine(text: string): string {
  const line = text.split('\n').find((l) => l.trim() !== '')!.trim();
  return line.length > SUMMARY_MAX ? `${line.slice(0, SUMMARY_MAX - 1)}…` : line;
}

/** Who asked for the ticket: the invoking user's email, or their name. */
function reporterOf(message: ActionData): string {
  const user = message.user;
  const name = [user?.fname, user?.lname].filter(Boolean).join(' ');
  return user?.email ?? (name || 'unknown platform user');
}
