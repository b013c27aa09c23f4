import { z } from 'zod';
import { ActivityStatus } from '../activity/record.js';
import { packageVersion } from '../activity/system.js';
import { BEARER_SUBPROTOCOL_PREFIX, STREAM_SUBPROTOCOL } from './auth.js';
import { LIMIT } from './execution-query.js';
import { sendJson } from './respond.js';
import type { ApiRoute } from './route.js';
import { ErrorSchema, ExecutionDetailSchema, ExecutionListSchema, HealthSchema, StreamMessageSchema } from './schemas.js';

type Json = Record<string, unknown>;

/** The zod schemas the document names; what they reference (ExecutionSummary, SinkHealth) comes along. */
const ROOTS = [ExecutionListSchema, ExecutionDetailSchema, ErrorSchema, HealthSchema, StreamMessageSchema];

/**
 * `components.schemas`, made from the zod schemas by `z.toJSONSchema`: one
 * component per schema `id` (`.meta({ id })` in schemas.ts), so shared parts
 * (ExecutionSummary, SinkHealth) are one component referenced by the others.
 * The global registry is where those ids live; only what the roots reach is kept.
 */
function componentSchemas(): Record<string, Json> {
  const { schemas } = z.toJSONSchema(z.globalRegistry, { target: 'draft-2020-12', uri: (id) => `#/components/schemas/${id}`, unrepresentable: 'any' });
  const out: Record<string, Json> = {};
  const visit = (id: string) => {
    if (out[id]) return;
    const schema = schemas[id];
    if (!schema) throw new Error(`the API document references a schema ${id} that has no component`);
    // `$id` would be a fragment-only URI, which JSON Schema 2020-12 does not allow; the component's place is its identity.
    const { $schema: _schema, $id: _id, ...rest } = schema as Json;
    out[id] = rest;
    for (const match of JSON.stringify(rest).matchAll(/"\$ref":"#\/components\/schemas\/([^"]+)"/g)) visit(match[1]!);
  };
  for (const root of ROOTS) {
    const id = (z.globalRegistry.get(root) as { id?: string } | undefined)?.id;
    if (!id) throw new Error('every schema the API document names needs an id');
    visit(id);
  }
  return out;
}

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const json = (name: string, description: string) => ({ description, content: { 'application/json': { schema: ref(name) } } });

const UNAUTHORIZED = {
  ...json('Error', 'No valid bearer token (`{"error":"unauthorized"}`).'),
  headers: { 'WWW-Authenticate': { description: '`Bearer realm="cafkit"`', schema: { type: 'string' } } },
};
const NOT_ALLOWED = {
  ...json('Error', 'A method other than GET (`{"error":"method_not_allowed"}`).'),
  headers: { Allow: { description: '`GET`', schema: { type: 'string' } } },
};
const INTERNAL = json('Error', 'An unexpected error (`{"error":"internal"}`); details are in the processor log.');

/** Responses every authenticated route can give besides its own. */
const DASHBOARD_SECURITY = [{ bearer: [] }, { basic: [] }];
const DASHBOARD_UNAUTHORIZED = json('Error', 'No valid token: `WWW-Authenticate: Basic realm="cafkit dashboard", charset="UTF-8"` (what a browser answers with its sign-in dialog) and `Bearer realm="cafkit"`.');
const COMMON = { '401': UNAUTHORIZED, '405': NOT_ALLOWED, '500': INTERNAL };

const FILTERS = [
  {
    name: 'status',
    in: 'query',
    description: 'Only these statuses: repeat the parameter or give a comma list (`status=failed,timed_out`).',
    style: 'form',
    explode: true,
    schema: { type: 'array', items: { type: 'string', enum: ActivityStatus.options } },
  },
  { name: 'destination', in: 'query', description: 'Programmatic name of the message destination.', schema: { type: 'string' } },
  { name: 'action', in: 'query', description: 'The action name (`Add Note`).', schema: { type: 'string' } },
  { name: 'processor', in: 'query', description: 'The processor name (`incident-ops`).', schema: { type: 'string' } },
  { name: 'incident', in: 'query', description: 'The incident id the action ran on.', schema: { type: 'integer', minimum: 0 } },
  { name: 'since', in: 'query', description: 'Received at or after this ISO 8601 time (`2024-05-01T12:00:00Z`, or a date).', schema: { type: 'string', format: 'date-time' } },
  { name: 'until', in: 'query', description: 'Received before this ISO 8601 time (exclusive).', schema: { type: 'string', format: 'date-time' } },
];

const DESCRIPTION = `The operator API of a cafkit processor (\`cafkit run\`): its executions (running and finished), health, metrics and a live feed, and the dashboard that shows them.

**Transport.** Plain HTTP, on loopback (\`127.0.0.1:8686\`) by default. Keep it on loopback, or put it behind a TLS reverse proxy: tokens and execution data travel in clear otherwise.

**Authentication.** Every route needs a token: \`Authorization: Bearer <token>\`; without a valid one the answer is 401 with \`WWW-Authenticate: Bearer realm="cafkit"\` (also for unknown paths). The dashboard's page and files also take HTTP Basic credentials whose password is a token (any user name), because a browser cannot send a bearer token when it navigates but answers a Basic challenge with its sign-in dialog. Tokens are configured in \`api.tokens\` (or \`CAFKIT_API_TOKEN\`); with none configured, one is generated into \`<CAFKIT_HOME>/api-token\`. With \`api.auth: false\` (development only) nothing is checked.

**Scopes.** \`read\` sees everything with secrets redacted: \`memory\` (handler variables) becomes \`"[redacted]"\`, values under secret-looking keys (password, token, secret, ...) and known secret values are replaced. A redacted \`record\` no longer verifies against its signature. \`read:sensitive\` sees everything as recorded.

**Dashboard.** \`GET /\` and \`GET /assets/<file>\` need a bearer token or Basic credentials with the token as the password (401 with \`WWW-Authenticate: Basic realm="cafkit dashboard"\` first otherwise). The page served to Basic credentials carries the token in a \`cafkit-token\` meta tag (\`Cache-Control: no-store\`); otherwise the page takes it from the URL fragment (\`/#token=...\`, which never reaches the server) or asks for it, keeps it in the tab's sessionStorage, calls this API with \`Authorization: Bearer\`, and opens the live feed with the \`${BEARER_SUBPROTOCOL_PREFIX}<token>\` subprotocol.

**Live feed.** \`GET /executions/stream\` upgrades to a WebSocket (see that path). Messages are the \`StreamMessage\` schema.

**Errors.** Every error is JSON \`{"error": <code>, "message": <text>}\`. Only GET is served: other methods get 405 with \`Allow: GET\`.`;

/**
 * The OpenAPI 3.1 document of the operator API: every route, parameter and
 * status code, the live feed's messages and auth, and the dashboard
 * routes. The schemas are generated from lib/api/schemas.ts.
 *
 * @example
 * const doc = openApiDocument();
 * doc.paths['/executions'].get.responses['200'];
 */
export function openApiDocument(): Json {
  const bearer = [{ bearer: [] }];
  return {
    openapi: '3.1.0',
    jsonSchemaDialect: 'https://json-schema.org/draft/2020-12/schema',
    info: {
      title: 'cafkit operator API',
      version: packageVersion(),
      description: DESCRIPTION,
      license: { name: 'MIT', identifier: 'MIT' },
    },
    servers: [{ url: 'http://127.0.0.1:8686', description: 'The default `api.host` and `api.port`.' }],
    security: bearer,
    tags: [
      { name: 'executions', description: 'Executions: one action message handled.' },
      { name: 'operations', description: 'Health and metrics.' },
      { name: 'dashboard', description: 'The dashboard page and its files.' },
    ],
    paths: {
      '/executions': {
        get: {
          tags: ['executions'],
          operationId: 'listExecutions',
          summary: 'List executions, newest first',
          description:
            'Running and recent executions (from memory) merged with the finished ones of the first SQL activity store, each once, newest first ' +
            '(by execution id, UUID v7). Page with `cursor`: each page starts strictly after the previous page\'s last execution, so new arrivals ' +
            'never shift the pages.',
          parameters: [
            ...FILTERS,
            { name: 'limit', in: 'query', description: 'Page size.', schema: { type: 'integer', minimum: LIMIT.min, maximum: LIMIT.max, default: LIMIT.default } },
            { name: 'cursor', in: 'query', description: 'The `next_cursor` of the previous page, unchanged.', schema: { type: 'string' } },
          ],
          responses: {
            '200': json('ExecutionList', 'A page of executions.'),
            '400': json('Error', 'A parameter is unknown, repeated or has a bad value; the message names it (`{"error":"bad_request"}`).'),
            ...COMMON,
            '503': json('Error', 'The activity store cannot be read now (`{"error":"store_unavailable"}`).'),
          },
        },
      },
      '/executions/{id}': {
        get: {
          tags: ['executions'],
          operationId: 'getExecution',
          summary: 'One execution in full',
          description: 'The summary with steps, replies, error, memory and (once finished) the signed record. Memory and secrets are redacted without `read:sensitive`.',
          parameters: [{ name: 'id', in: 'path', required: true, description: 'The execution id.', schema: { type: 'string' } }],
          responses: {
            '200': json('ExecutionDetail', 'The execution.'),
            '404': json('Error', 'No execution has this id (`{"error":"not_found"}`).'),
            ...COMMON,
            '503': json('Error', 'The activity store cannot be read now (`{"error":"store_unavailable"}`).'),
          },
        },
      },
      '/executions/stream': {
        get: {
          tags: ['executions'],
          operationId: 'streamExecutions',
          summary: 'Live feed of execution events (WebSocket)',
          description:
            `A WebSocket (\`Upgrade: websocket\`) carrying server-to-client JSON text frames (schema \`StreamMessage\`):\n\n` +
            '- `{"type":"event","cursor","event":{"kind","at","execution_id"},"execution":ExecutionSummary}` for each event of an execution that matches the filters;\n' +
            '- `{"type":"ready","cursor"}` once the backlog after the given `cursor` has been sent (at once without a cursor);\n' +
            '- `{"type":"gap","cursor"}` first when the given cursor is older than the buffer or from another process: re-list through `GET /executions` and continue from this `cursor`.\n\n' +
            `**Auth**: \`Authorization: Bearer <token>\` on the upgrade request, or (browsers) the subprotocol \`${BEARER_SUBPROTOCOL_PREFIX}<token>\`; ` +
            `the server then answers with the subprotocol \`${STREAM_SUBPROTOCOL}\`. Without a valid token the upgrade is refused with HTTP 401 before any WebSocket exists. ` +
            'Redaction follows the token\'s scopes as for the other routes.\n\n' +
            'A client that reads too slowly (more than 4 MiB waiting) is closed with code 1013; the server pings every 30 s and drops peers that do not answer; ' +
            'at shutdown clients are closed with 1001. A plain GET without the upgrade is answered 426.',
          parameters: [
            ...FILTERS,
            { name: 'cursor', in: 'query', description: 'An event cursor (`<boot>:<n>`) from an earlier `event`, `ready` or `gap` message: resume after it.', schema: { type: 'string' } },
            { name: 'Sec-WebSocket-Protocol', in: 'header', description: `\`${STREAM_SUBPROTOCOL}\` together with \`${BEARER_SUBPROTOCOL_PREFIX}<token>\`, for clients that cannot set headers (a browser accepts only a subprotocol it offered, so \`${STREAM_SUBPROTOCOL}\` must be among them).`, schema: { type: 'string' } },
          ],
          responses: {
            '101': {
              description: 'Switching protocols: the feed starts.',
              content: { 'application/json': { schema: ref('StreamMessage') } },
            },
            '400': json('Error', `A filter or the cursor has a bad value, or an unknown parameter, or the token subprotocol was offered without \`${STREAM_SUBPROTOCOL}\`; the message names it.`),
            ...COMMON,
            '503': json('Error', 'The server is shutting down.'),
            '426': json('Error', 'A plain GET: this path needs a WebSocket upgrade (`{"error":"upgrade_required"}`).'),
          },
        },
      },
      '/health': {
        get: {
          tags: ['operations'],
          operationId: 'health',
          summary: 'Readiness',
          description: 'Ready when the broker is connected and every destination subscribed. The same body either way; the status says which.',
          responses: {
            '200': json('Health', 'Ready.'),
            '503': json('Health', 'Not ready (broker disconnected, or a subscription missing).'),
            ...COMMON,
          },
        },
      },
      '/metrics': {
        get: {
          tags: ['operations'],
          operationId: 'metrics',
          summary: 'Prometheus metrics',
          description:
            'Prometheus text exposition: `cafkit_messages_received_total`, `cafkit_messages_replied_total{status}`, `cafkit_messages_dead_lettered_total`, ' +
            '`cafkit_messages_redelivered_total`, `cafkit_handler_duration_seconds{action}`, `cafkit_broker_reconnects_total`, `cafkit_sink_queued{sink}`, ' +
            '`cafkit_sink_lag_seconds{sink}`, `cafkit_sink_dropped_total{sink}`, `cafkit_sink_failed_attempts_total{sink}`, and the Node process metrics.',
          responses: {
            '200': { description: 'The metrics.', content: { 'text/plain; version=0.0.4': { schema: { type: 'string' } } } },
            ...COMMON,
          },
        },
      },
      '/openapi.json': {
        get: {
          tags: ['operations'],
          operationId: 'openapi',
          summary: 'This document',
          responses: {
            '200': { description: 'The OpenAPI 3.1 document.', content: { 'application/json': { schema: { type: 'object' } } } },
            ...COMMON,
          },
        },
      },
      '/': {
        get: {
          tags: ['dashboard'],
          operationId: 'dashboard',
          summary: 'The dashboard page',
          description: 'A browser signs in with Basic credentials (any user name, the token as the password); the page it gets then carries the token. With a bearer token the plain page is served.',
          security: DASHBOARD_SECURITY,
          responses: {
            '200': { description: 'The page.', content: { 'text/html': { schema: { type: 'string' } } } },
            '304': { description: 'Not modified (`If-None-Match` matched the `ETag`).' },
            '401': DASHBOARD_UNAUTHORIZED,
            '405': NOT_ALLOWED,
          },
        },
      },
      '/assets/{file}': {
        get: {
          tags: ['dashboard'],
          operationId: 'dashboardAsset',
          summary: 'A file of the dashboard',
          security: DASHBOARD_SECURITY,
          parameters: [{ name: 'file', in: 'path', required: true, description: 'A file name (`app.js`, `style.css`).', schema: { type: 'string' } }],
          responses: {
            '200': { description: 'The file, with its content type and an `ETag`.', content: { '*/*': { schema: { type: 'string' } } } },
            '304': { description: 'Not modified (`If-None-Match` matched the `ETag`).' },
            '401': DASHBOARD_UNAUTHORIZED,
            '404': json('Error', 'No such file (`{"error":"not_found"}`).'),
            '405': NOT_ALLOWED,
          },
        },
      },
    },
    components: {
      securitySchemes: {
        basic: {
          type: 'http',
          scheme: 'basic',
          description: 'Any user name and a token as the password; taken by the dashboard\'s page and files only.',
        },
        bearer: {
          type: 'http',
          scheme: 'bearer',
          description: `A token of \`api.tokens\`, \`CAFKIT_API_TOKEN\` or \`<CAFKIT_HOME>/api-token\`. The live feed also takes it as the WebSocket subprotocol \`${BEARER_SUBPROTOCOL_PREFIX}<token>\`.`,
        },
      },
      schemas: componentSchemas(),
    },
  };
}

/**
 * `GET /openapi.json`: the document, built once.
 *
 * @example
 * startApiServer({ ...deps, routes: [openApiRoute()] });
 */
export function openApiRoute(): ApiRoute {
  let text: Json | undefined;
  return {
    method: 'GET',
    path: '/openapi.json',
    handle(_req, res) {
      text ??= openApiDocument();
      sendJson(res, 200, text);
    },
  };
}
