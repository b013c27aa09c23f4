import { FakeApi } from './fake-api.js';

/** A ticket as the fake helpdesk stores it. */
export interface HelpdeskTicket {
  id: string;
  summary: string;
  description: string;
  priority: string;
  incident_id: number;
  reporter: string;
  url: string;
}

const PRIORITIES = ['Low', 'Medium', 'High', 'Critical'];

/**
 * A fake IT helpdesk: `POST /api/tickets` `{summary, description, priority,
 * incident_id, reporter}` → 201 `{id, url}`; `GET /api/tickets/:id`.
 */
export async function startHelpdesk(): Promise<FakeApi & { tickets: HelpdeskTicket[] }> {
  const tickets: HelpdeskTicket[] = [];
  const api = await FakeApi.start('helpdesk', [
    {
      method: 'POST',
      path: '/api/tickets',
      required: ['summary', 'description', 'priority', 'incident_id', 'reporter'],
      handle: ({ body }) => {
        const b = body as Record<string, unknown>;
        if (!PRIORITIES.includes(String(b['priority']))) return { status: 400, body: { error: `priority must be one of ${PRIORITIES.join(', ')}` } };
        if (typeof b['incident_id'] !== 'number') return { status: 400, body: { error: 'incident_id must be a number' } };
        const id = `HD-${1001 + tickets.length}`;
        const ticket: HelpdeskTicket = {
          id,
          summary: String(b['summary']),
          description: String(b['description']),
          priority: String(b['priority']),
          incident_id: b['incident_id'],
          reporter: String(b['reporter']),
          url: `${api.url}/tickets/${id}`,
        };
        tickets.push(ticket);
        return { status: 201, body: { id, url: ticket.url } };
      },
    },
    {
      method: 'GET',
      path: '/api/tickets/:id',
      handle: ({ params }) => {
        const ticket = tickets.find((t) => t.id === params['id']);
        return ticket ? { body: ticket } : { status: 404, body: { error: `no ticket ${params['id']}` } };
      },
    },
  ]);
  return Object.assign(api, { tickets });
}
