/** What a new processor is made of. */
export interface ScaffoldNames {
  /** e.g. `ticket-sync` */
  name: string;
  /** e.g. `ticket_sync` */
  destination: string;
  /** e.g. `Ticket Sync` */
  action: string;
  /** Where `defineProcessor` comes from: `cafkit` or a relative path to lib/index.js. */
  lib: string;
  /** Where the test kit comes from: `cafkit/testing` or a relative path. */
  testing: string;
}

/** The handler file. */
export function processorFile(n: ScaffoldNames): string {
  return `import { z } from 'zod';
import { ActionError, defineProcessor } from '${n.lib}';

/**
 * ${n.action}: a manual action on incidents (destination \`${n.destination}\`).
 *
 * Its platform objects are declared in destinations/${n.name}.yaml; \`cafkit install\` creates them.
 * Settings come from \`settings.${n.name}\` in the config file.
 */
export default defineProcessor({
  name: '${n.name}',
  destination: '${n.destination}',
  settings: z.object({
    /** Text put in front of every note this processor writes. */
    prefix: z.string().default('[${n.name}]'),
  }),
  actions: {
    '${n.action}': async (message, ctx) => {
      const incidentId = message.incident?.id;
      if (incidentId === undefined) throw new ActionError('this action runs on incidents');
      const text = String(message.properties['${n.destination}_text'] ?? '').trim();
      if (!text) throw new ActionError('action field ${n.destination}_text is empty');
      await ctx.progress(\`Writing a note on incident \${incidentId}\`);
      const note = await ctx.rest.post<{ id: number }>(\`/incidents/\${incidentId}/comments\`, { text: \`\${ctx.settings.prefix} \${text}\` });
      return { message: \`Note \${note.id} added to incident \${incidentId}\`, results: { note_id: note.id } };
    },
  },
});
`;
}

/** The processor's own test, which passes as generated. */
export function testFile(n: ScaffoldNames): string {
  return `import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { build, testProcessor, type ProcessorKit } from '${n.testing}';
import processor from './index.js';

let kit: ProcessorKit;
before(async () => {
  kit = await testProcessor(processor, { settings: { prefix: '[test]' } });
});
after(async () => {
  await kit.close();
});

test('${n.action} writes the text as a note, sending the context token', async () => {
  const run = await kit.run('${n.action}', build.message({ incident: build.incident({ id: 2095 }), properties: { ${n.destination}_text: 'hello' } }));
  assert.equal(run.status, 'completed', run.message);
  assert.deepEqual(run.progress, ['Writing a note on incident 2095']);
  const post = run.calls.find((c) => c.method === 'POST' && c.path.endsWith('/incidents/2095/comments'));
  assert.deepEqual(post?.body, { text: '[test] hello' });
  assert.equal(post?.contextToken, run.contextToken);
});

test('${n.action} without text is an error the analyst understands', async () => {
  const run = await kit.run('${n.action}', build.message({ properties: {} }));
  assert.equal(run.status, 'error');
  assert.equal(run.message, 'action field ${n.destination}_text is empty');
});
`;
}

/** The platform objects the processor needs. */
export function definitionsFile(n: ScaffoldNames): string {
  return `# What processors/${n.name} needs on the platform. \`cafkit install\` creates or updates these.
message_destinations:
  - name: ${n.action}
    programmatic_name: ${n.destination}
    destination_type: queue
    expect_ack: true

action_fields:
  - name: ${n.destination}_text
    text: Text
    input_type: textarea
    required: true
    tooltip: Written as a note on the incident

actions:
  - name: ${n.action}
    type: manual
    object_type: incident
    destinations: [${n.destination}]
    layout:
      header: Writes the text below as a note on this incident
      fields: [${n.destination}_text]
`;
}
