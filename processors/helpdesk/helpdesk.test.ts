import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { build, testProcessor, type ProcessorKit } from '../../lib/testing/index.js';
import { closedPortUrl } from '../../test/support/external/fake-api.js';
import { startHelpdesk } from '../../test/support/external/helpdesk.js';
import processor from './index.js';

const PRIORITIES = ['Low', 'Medium', 'High', 'Critical'];

function ticketMessage(note: Record<string, unknown> & { id: number }, properties: Record<string, unknown> = { priority: 'High' }) {
  return build.message({ incident: build.incident({ id: 2095 }), note, properties, selects: { priority: PRIORITIES } });
}

describe('helpdesk: Create Ticket', () => {
  let helpdesk: Awaited<ReturnType<typeof startHelpdesk>>;
  let kit: ProcessorKit;

  before(async () => {
    helpdesk = await startHelpdesk();
    kit = await testProcessor(processor, { settings: { url: helpdesk.url, token: helpdesk.token } });
  });
  after(async () => {
    await kit?.close();
    await helpdesk?.stop();
  });

  test('creates the ticket with the bearer token and the note, and links it on the incident', async () => {
    const note = build.note({ text: 'We need to collect the logs from server xyz\nThey rotate at midnight.' });
    const run = await kit.run('Create Ticket', ticketMessage(note));
    assert.equal(run.status, 'completed', run.message);

    const [request] = helpdesk.received('POST', '/api/tickets');
    assert.ok(request, 'the helpdesk got the ticket');
    assert.equal(request.headers.authorization, `Bearer ${helpdesk.token}`);
    assert.match(request.headers['content-type'] ?? '', /^application\/json/);
    assert.deepEqual(request.body, {
      summary: 'We need to collect the logs from server xyz',
      description: 'We need to collect the logs from server xyz\nThey rotate at midnight.',
      priority: 'High',
      incident_id: 2095,
      reporter: 'analyst@example.com',
    });

    const ticket = helpdesk.tickets.at(-1)!;
    assert.equal(run.message, `Helpdesk ticket ${ticket.id} created: ${ticket.url}`);
    assert.deepEqual(run.results, { ticket_id: ticket.id, url: ticket.url });
    assert.deepEqual(run.progress, ['Creating a High ticket in the helpdesk']);

    const comment = run.calls.find((c) => c.method === 'POST' && c.path === '/rest/orgs/201/incidents/2095/comments');
    assert.deepEqual(comment?.body, { text: `Helpdesk ticket ${ticket.id} created: ${ticket.url}` });
    assert.ok(run.calls.length > 0 && run.calls.every((c) => c.contextToken === run.contextToken), 'every REST call carried the context token');
    assert.ok(!JSON.stringify(run.replies).includes(helpdesk.token), 'the token is not in any reply');
  });

  test('uses ticket_summary when given, and sends an HTML note as plain text', async () => {
    const note = build.note({ text: '<div>Collect <b>all</b> logs &amp; dumps</div><div>from xyz</div>' });
    const run = await kit.run('Create Ticket', ticketMessage(note, { priority: 'Critical', ticket_summary: '  Log collection on xyz ' }));
    assert.equal(run.status, 'completed', run.message);
    const body = helpdesk.received('POST', '/api/tickets').at(-1)?.body as Record<string, unknown>;
    assert.equal(body['summary'], 'Log collection on xyz');
    assert.equal(body['description'], 'Collect all logs & dumps\nfrom xyz');
    assert.equal(body['priority'], 'Critical');
  });

  test('reads the note from the platform when the message carries only its id', async () => {
    const created = await kit.rest.post<{ id: number }>('/incidents/2095/comments', { text: 'Escalate the phishing wave to IT' });
    const run = await kit.run('Create Ticket', ticketMessage({ id: created.id, inc_id: 2095 }, { priority: 'Low' }));
    assert.equal(run.status, 'completed', run.message);
    const read = run.calls.find((c) => c.method === 'GET' && c.path === `/rest/orgs/201/incidents/2095/comments/${created.id}`);
    assert.equal(read?.contextToken, run.contextToken);
    assert.equal((helpdesk.received('POST', '/api/tickets').at(-1)?.body as Record<string, unknown>)['summary'], 'Escalate the phishing wave to IT');
  });

  test('without a priority it answers with an error naming the field, and sends nothing', async () => {
    const before = helpdesk.requests.length;
    const run = await kit.run('Create Ticket', ticketMessage(build.note(), {}));
    assert.equal(run.status, 'error');
    assert.equal(run.message, 'action field priority is required (Low, Medium, High, Critical)');
    assert.equal(helpdesk.requests.length, before);
  });

  test('an empty note is an error, not an empty ticket', async () => {
    const before = helpdesk.requests.length;
    const run = await kit.run('Create Ticket', ticketMessage(build.note({ id: 4321, text: '  <p> </p> ' })));
    assert.equal(run.status, 'error');
    assert.equal(run.message, 'note 4321 is empty: there is nothing to put in the ticket');
    assert.equal(helpdesk.requests.length, before);
  });

  test('a helpdesk answering 503 is an error naming the helpdesk and the reason; nothing is written on the incident', async () => {
    helpdesk.failing(503, 1);
    const run = await kit.run('Create Ticket', ticketMessage(build.note()));
    assert.equal(run.status, 'error');
    assert.equal(run.message, `helpdesk at ${helpdesk.url} refused the ticket: HTTP 503 Service Unavailable: helpdesk is having trouble (fault injected)`);
    assert.equal(run.calls.filter((c) => c.method !== 'GET').length, 0);
  });

  test('a ticket the helpdesk rejects (400) is reported with the helpdesk\'s reason', async () => {
    // An admin added "Urgent" to the field; the helpdesk does not know it.
    const message = build.message({ note: build.note(), properties: { priority: 'Urgent' }, selects: { priority: [...PRIORITIES, 'Urgent'] } });
    const run = await kit.run('Create Ticket', message);
    assert.equal(run.status, 'error');
    assert.equal(run.message, `helpdesk at ${helpdesk.url} refused the ticket: HTTP 400 Bad Request: priority must be one of Low, Medium, High, Critical`);
  });

  test('a priority id that is not one of the field\'s choices is refused before the helpdesk is asked', async () => {
    const before = helpdesk.requests.length;
    const run = await kit.run('Create Ticket', ticketMessage(build.note(), { priority: 999 }));
    assert.equal(run.status, 'error');
    assert.equal(run.message, 'action field priority holds 999, not one of its choices');
    assert.equal(helpdesk.requests.length, before);
  });

  test('a helpdesk that closes connections is an error saying it could not be reached', async () => {
    helpdesk.down();
    try {
      const run = await kit.run('Create Ticket', ticketMessage(build.note()));
      assert.equal(run.status, 'error');
      assert.equal(run.message, `helpdesk at ${helpdesk.url} could not be reached: ECONNRESET`);
    } finally {
      helpdesk.up();
    }
  });

  test('the ticket is created but the note fails: the error says the ticket exists', async () => {
    // The action name is resolved by now (earlier runs), so the one injected error hits the comment POST.
    kit.emulator.setFaults({ errors: { count: 1, status: 503 } });
    const run = await kit.run('Create Ticket', ticketMessage(build.note()));
    assert.equal(run.status, 'error');
    const ticket = helpdesk.tickets.at(-1)!;
    assert.match(run.message, new RegExp(`^Helpdesk ticket ${ticket.id} was created \\(${ticket.url}\\), but the note on incident 2095 could not be added: .*HTTP 503`));
  });
});

describe('helpdesk: failures of the connection', () => {
  test('a helpdesk that is not listening is reported as ECONNREFUSED', async () => {
    const url = await closedPortUrl();
    const kit = await testProcessor(processor, { settings: { url, token: 'secret-token' } });
    try {
      const run = await kit.run('Create Ticket', ticketMessage(build.note()));
      assert.equal(run.status, 'error');
      assert.equal(run.message, `helpdesk at ${url} could not be reached: ECONNREFUSED`);
    } finally {
      await kit.close();
    }
  });

  test('a slow helpdesk runs into the time limit', async () => {
    const helpdesk = await startHelpdesk();
    const kit = await testProcessor(processor, { settings: { url: helpdesk.url, token: helpdesk.token, timeout_ms: 200 } });
    try {
      helpdesk.slow(5_000);
      const run = await kit.run('Create Ticket', ticketMessage(build.note()));
      assert.equal(run.status, 'error');
      assert.equal(run.message, `helpdesk at ${helpdesk.url} did not answer within 200 ms (the ticket)`);
    } finally {
      await kit.close();
      await helpdesk.stop();
    }
  });

  test('without settings the action answers with an error naming what to configure', async () => {
    const kit = await testProcessor(processor);
    try {
      const run = await kit.run('Create Ticket', ticketMessage(build.note()));
      assert.equal(run.status, 'error');
      assert.match(run.message, /processor "helpdesk" is not configured: .*settings\.helpdesk\.url/);
    } finally {
      await kit.close();
    }
  });
});
