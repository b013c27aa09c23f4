import { ActionError, defineProcessor, type ActionData } from '../lib/index.js';

interface Incident {
  id: number;
  vers: number;
  severity_code?: number;
}

function incidentId(message: ActionData): number {
  const id = message.incident?.id;
  if (id === undefined) throw new ActionError('this action needs an incident, and the message has none');
  return id;
}

/**
 * The example processor on destination `incident_ops`: what users copy.
 */
export default defineProcessor({
  name: 'incident-ops',
  destination: 'incident_ops',
  actions: {
    /** Replies with the action's fields. */
    Echo: (message) => ({ message: 'Echo: the action fields are in the results', results: message.properties }),

    /** Posts the `note_text` action field as a comment on the incident. */
    'Add Note': async (message, ctx) => {
      const text = message.properties['note_text'];
      if (typeof text !== 'string' || text.trim() === '') throw new ActionError('action field note_text is empty');
      const id = incidentId(message);
      const note = await ctx.rest.post<{ id: number }>(`/incidents/${id}/comments`, { text });
      return { message: `Note added to incident ${id}`, results: { note_id: note.id } };
    },

    /** Sets the incident's severity to the one chosen in action field `severity`, surviving 409 conflicts. */
    'Set Severity': async (message, ctx) => {
      const severity = Number(message.properties['severity']);
      const label = ctx.label('actioninvocation', 'severity', severity);
      if (!Number.isInteger(severity) || label === undefined) throw new ActionError(`action field severity holds ${JSON.stringify(message.properties['severity'])}, not one of its choices`);
      const id = incidentId(message);
      await ctx.progress(`Setting severity of incident ${id} to ${label}`);
      const updated = await ctx.rest.getPut<Incident>(`/incidents/${id}`, (incident) =>
        incident.severity_code === severity ? undefined : { ...incident, severity_code: severity },
      );
      return { message: `Severity of incident ${id} is ${label}`, results: { severity_code: severity, vers: updated.vers } };
    },
  },
});
