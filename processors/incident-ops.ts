import { ActionError, defineProcessor, type ActionData } from '../lib/index.js';

interface Incident {
  id: number;
  vers: number;
  severity_code?: number;
}

interface Note {
  id: number;
  text: string;
  create_date: number;
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

    /** Posts the `note_text` action field as a comment on the incident, once even when the processor is killed mid-run. */
    'Add Note': async (message, ctx) => {
      const text = message.properties['note_text'];
      if (typeof text !== 'string' || text.trim() === '') throw new ActionError('action field note_text is empty');
      const id = incidentId(message);
      if (ctx.rerun) {
        // The processor died during an earlier run of this invocation: that run may have added the note already.
        // Notes carry the platform's own create_date; a minute of slack covers clock drift between the hosts.
        const notes = await ctx.rest.get<Note[]>(`/incidents/${id}/comments`);
        const added = notes.find((n) => n.text === text && n.create_date >= ctx.rerun!.firstStartedAt - 60_000);
        if (added) return { message: `Note added to incident ${id} (found from a run interrupted by a restart)`, results: { note_id: added.id } };
      }
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
