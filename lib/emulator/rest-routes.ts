import { SESSION_COOKIE, type Auth } from './auth.js';
import type { AutomaticActions } from './automatic.js';
import {
  ActionCreateSchema,
  ActionInvocationSchema,
  ActionUpdateSchema,
  ArtifactCreateSchema,
  ArtifactFileCreateSchema,
  ArtifactUpdateSchema,
  CommentCreateSchema,
  DestinationCreateSchema,
  DestinationUpdateSchema,
  FieldCreateSchema,
  FieldUpdateSchema,
  IncidentCreateSchema,
  IncidentUpdateSchema,
  SessionLoginSchema,
  TaskCreateSchema,
} from './bodies.js';
import { parseBody, PlatformError } from './errors.js';
import type { Faults } from './faults.js';
import { idOrName, intParam, Router, type RouteContext } from './router.js';
import type { Action } from './model.js';
import type { EmulatorStore } from './store.js';
import type { TriggerSide } from './trigger.js';

/** What the REST routes work on. */
export interface RestDeps {
  store: EmulatorStore;
  auth: Auth;
  faults: Faults;
  trigger: TriggerSide;
  automatic: AutomaticActions;
  /** True when served over HTTPS: the session cookie is then `Secure`. */
  secure: boolean;
}

/**
 * The emulated platform REST API under `/rest`: sessions, incidents and their
 * comments, artifacts (with files) and tasks, actions, types and fields,
 * message destinations, and action invocations. Authentication and the
 * organisation check happen before a handler runs (see server.ts); handlers
 * validate bodies with the schemas in bodies.ts and let the store enforce the
 * platform's rules.
 */
export function restRoutes(deps: RestDeps): Router {
  const { store, auth, faults, trigger, automatic } = deps;
  const r = new Router();
  /** The "conflicts" fault, asked by the store once a PUT body is known to be valid. */
  const conflictFault = (ctx: RouteContext) => () => {
    const forced = faults.takeConflict();
    if (forced) ctx.markFault('conflict');
    return forced;
  };

  // ---- session -----------------------------------------------------------
  r.add(
    'POST',
    '/rest/session',
    (ctx) => {
      const body = parseBody(SessionLoginSchema, ctx.json(), 'login');
      const session = auth.login(body.email, body.password);
      const org = store.org;
      return {
        body: {
          csrf_token: session.csrfToken,
          user_id: session.user.id,
          user_email: session.user.email,
          user_fname: session.user.fname,
          user_lname: session.user.lname,
          orgs: [{ id: org.id, name: org.name }],
        },
        headers: { 'set-cookie': sessionCookie(session.sessionId, deps.secure) },
      };
    },
    { public: true },
  );
  r.add('GET', '/rest/session', (ctx) => {
    const session = auth.session(ctx.req);
    if (!session) throw PlatformError.badRequest('an API key has no session');
    const org = store.org;
    return { body: { user_id: session.user.id, user_email: session.user.email, orgs: [{ id: org.id, name: org.name }] } };
  });
  r.add('DELETE', '/rest/session', (ctx) => {
    auth.logout(ctx.req);
    return { status: 204, headers: { 'set-cookie': `${SESSION_COOKIE}=; Path=/; Max-Age=0; HttpOnly${deps.secure ? '; Secure' : ''}` } };
  });

  // ---- incidents ---------------------------------------------------------
  // Changes made here may fire automatic actions, before the answer so a test sees them at once.
  r.add('POST', '/rest/orgs/:org/incidents', async (ctx) => {
    const created = store.createIncident(parseBody(IncidentCreateSchema, ctx.json(), 'incident'));
    await automatic.changed({ type: 'incident', id: created.id, incidentId: created.id }, { before: undefined, after: created }, ctx.contextToken);
    return { body: created };
  });
  r.add('GET', '/rest/orgs/:org/incidents/:id', (ctx) => ({ body: store.incident(intParam(ctx, 'id')) }));
  r.add('PUT', '/rest/orgs/:org/incidents/:id', async (ctx) => {
    const body = parseBody(IncidentUpdateSchema, ctx.json(), 'incident');
    const id = intParam(ctx, 'id');
    const before = store.incident(id);
    const updated = store.updateIncident(id, body, { forceConflict: conflictFault(ctx) });
    await automatic.changed({ type: 'incident', id, incidentId: id }, { before, after: updated }, ctx.contextToken);
    return { body: updated };
  });

  // ---- comments ----------------------------------------------------------
  r.add('GET', '/rest/orgs/:org/incidents/:id/comments', (ctx) => ({ body: store.notes(intParam(ctx, 'id')) }));
  r.add('GET', '/rest/orgs/:org/incidents/:id/comments/:note', (ctx) => ({ body: store.note(intParam(ctx, 'id'), intParam(ctx, 'note')) }));
  r.add('POST', '/rest/orgs/:org/incidents/:id/comments', async (ctx) => {
    const body = parseBody(CommentCreateSchema, ctx.json(), 'comment');
    const incidentId = intParam(ctx, 'id');
    const note = store.addNote(incidentId, body, principalUserId(ctx));
    await automatic.changed({ type: 'note', id: note.id, incidentId }, { before: undefined, after: { ...note } }, ctx.contextToken);
    return { body: note };
  });

  // ---- artifacts ---------------------------------------------------------
  r.add('GET', '/rest/orgs/:org/incidents/:id/artifacts', (ctx) => ({ body: store.artifacts(intParam(ctx, 'id')) }));
  r.add('POST', '/rest/orgs/:org/incidents/:id/artifacts', async (ctx) => {
    const body = parseBody(ArtifactCreateSchema, ctx.json(), 'artifact');
    const incidentId = intParam(ctx, 'id');
    const artifact = store.createArtifact(incidentId, body, principalUserId(ctx));
    await automatic.changed({ type: 'artifact', id: artifact.id, incidentId }, { before: undefined, after: { ...artifact } }, ctx.contextToken);
    return { body: artifact };
  });
  // Registered before `/artifacts/:aid`, which would otherwise take "files" for an id.
  r.add('POST', '/rest/orgs/:org/incidents/:id/artifacts/files', async (ctx) => {
    const body = parseBody(ArtifactFileCreateSchema, ctx.json(), 'artifact file');
    const incidentId = intParam(ctx, 'id');
    const artifact = store.createFileArtifact(incidentId, body, principalUserId(ctx));
    await automatic.changed({ type: 'artifact', id: artifact.id, incidentId }, { before: undefined, after: { ...artifact } }, ctx.contextToken);
    return { body: artifact };
  });
  r.add('GET', '/rest/orgs/:org/incidents/:id/artifacts/:aid', (ctx) => ({ body: store.artifact(intParam(ctx, 'id'), intParam(ctx, 'aid')) }));
  r.add('PUT', '/rest/orgs/:org/incidents/:id/artifacts/:aid', async (ctx) => {
    const body = parseBody(ArtifactUpdateSchema, ctx.json(), 'artifact');
    const incidentId = intParam(ctx, 'id');
    const artifactId = intParam(ctx, 'aid');
    const before = store.artifact(incidentId, artifactId);
    const updated = store.updateArtifact(incidentId, artifactId, body);
    await automatic.changed({ type: 'artifact', id: artifactId, incidentId }, { before: { ...before }, after: { ...updated } }, ctx.contextToken);
    return { body: updated };
  });
  r.add('GET', '/rest/orgs/:org/incidents/:id/artifacts/:aid/contents', (ctx) => {
    const incidentId = intParam(ctx, 'id');
    const artifactId = intParam(ctx, 'aid');
    const content = store.artifactContent(incidentId, artifactId);
    const name = store.artifact(incidentId, artifactId).attachment?.name ?? 'content';
    // Header values must be printable ASCII: anything else in the file name becomes "_".
    return { raw: content, headers: { 'content-disposition': `attachment; filename="${name.replace(/[^\x20-\x7e]|["\\]/g, '_')}"` } };
  });

  // ---- tasks -------------------------------------------------------------
  r.add('GET', '/rest/orgs/:org/incidents/:id/tasks', (ctx) => ({ body: store.tasks(intParam(ctx, 'id')) }));
  r.add('POST', '/rest/orgs/:org/incidents/:id/tasks', async (ctx) => {
    const body = parseBody(TaskCreateSchema, ctx.json(), 'task');
    const incidentId = intParam(ctx, 'id');
    const task = store.createTask(incidentId, body);
    await automatic.changed({ type: 'task', id: task.id, incidentId }, { before: undefined, after: { ...task } }, ctx.contextToken);
    return { body: task };
  });
  r.add('GET', '/rest/orgs/:org/tasks/:task', (ctx) => ({ body: store.task(intParam(ctx, 'task')) }));

  // ---- action invocations (the real API's way to invoke an action) -------
  r.add('POST', '/rest/orgs/:org/incidents/:id/action_invocations', async (ctx) => {
    const body = parseBody(ActionInvocationSchema, ctx.json(), 'action invocation');
    const invocation = await trigger.trigger({
      action: body.action_id,
      incident: intParam(ctx, 'id'),
      properties: body.properties ?? {},
      ...(body.destination !== undefined ? { destination: body.destination } : {}),
    });
    return { body: invocation };
  });

  // ---- actions -----------------------------------------------------------
  // `handle_format=names` (the default here) names object types and destinations; `ids` gives their ids.
  r.add('GET', '/rest/orgs/:org/actions', (ctx) => ({ body: { entities: store.actions().map((a) => handles(store, a, handleFormat(ctx))) } }));
  r.add('GET', '/rest/orgs/:org/actions/:id', (ctx) => ({ body: handles(store, store.action(idOrName(ctx, 'id')), handleFormat(ctx)) }));
  r.add('POST', '/rest/orgs/:org/actions', (ctx) => ({
    body: handles(store, store.createAction(parseBody(ActionCreateSchema, ctx.json(), 'action')), handleFormat(ctx)),
  }));
  r.add('PUT', '/rest/orgs/:org/actions/:id', (ctx) => {
    const id = idOrName(ctx, 'id');
    store.action(id); // 404 for an unknown action before complaining about the body
    const updated = store.updateAction(id, parseBody(ActionUpdateSchema, ctx.json(), 'action'), { forceConflict: conflictFault(ctx) });
    return { body: handles(store, updated, handleFormat(ctx)) };
  });

  // ---- types and fields --------------------------------------------------
  r.add('GET', '/rest/orgs/:org/types', () => ({ body: store.types() }));
  r.add('GET', '/rest/orgs/:org/types/:type', (ctx) => ({ body: store.type(idOrName(ctx, 'type')) }));
  r.add('GET', '/rest/orgs/:org/types/:type/fields', (ctx) => ({ body: store.fields(idOrName(ctx, 'type')) }));
  r.add('GET', '/rest/orgs/:org/types/:type/fields/:field', (ctx) => ({ body: store.field(idOrName(ctx, 'type'), idOrName(ctx, 'field')) }));
  r.add('POST', '/rest/orgs/:org/types/:type/fields', (ctx) => {
    const type = idOrName(ctx, 'type');
    store.type(type); // 404 for an unknown type before complaining about the body
    return { body: store.createField(type, parseBody(FieldCreateSchema, ctx.json(), 'field')) };
  });
  r.add('PUT', '/rest/orgs/:org/types/:type/fields/:field', (ctx) => {
    const type = idOrName(ctx, 'type');
    const field = idOrName(ctx, 'field');
    store.field(type, field);
    return { body: store.updateField(type, field, parseBody(FieldUpdateSchema, ctx.json(), 'field'), { forceConflict: conflictFault(ctx) }) };
  });

  // ---- message destinations ----------------------------------------------
  r.add('GET', '/rest/orgs/:org/message_destinations', () => ({ body: { entities: store.destinations() } }));
  r.add('GET', '/rest/orgs/:org/message_destinations/:id', (ctx) => ({ body: store.destination(idOrName(ctx, 'id')) }));
  r.add('POST', '/rest/orgs/:org/message_destinations', (ctx) => {
    const body = parseBody(DestinationCreateSchema, ctx.json(), 'message destination');
    checkReaders(body);
    return { body: store.createDestination(body) };
  });
  r.add('PUT', '/rest/orgs/:org/message_destinations/:id', (ctx) => {
    const id = idOrName(ctx, 'id');
    store.destination(id);
    const body = parseBody(DestinationUpdateSchema, ctx.json(), 'message destination');
    checkReaders(body);
    return { body: store.updateDestination(id, body, { forceConflict: conflictFault(ctx) }) };
  });

  /** Users and API keys allowed to read a destination must exist, as on the platform. */
  function checkReaders(body: { users?: string[] | undefined; api_keys?: string[] | undefined }): void {
    const emails = new Set(store.users().map((u) => u.email.toLowerCase()));
    for (const [index, email] of (body.users ?? []).entries()) {
      if (!emails.has(email.toLowerCase()) && !auth.knowsLogin(email)) throw PlatformError.badRequest(`field "users.${index}": there is no user ${JSON.stringify(email)}`);
    }
    for (const [index, key] of (body.api_keys ?? []).entries()) {
      if (!auth.hasApiKey(key)) throw PlatformError.badRequest(`field "api_keys.${index}": there is no API key ${JSON.stringify(key)}`);
    }
  }

  return r;
}

/** The `handle_format` query parameter: `names` (default) or `ids`. */
function handleFormat(ctx: RouteContext): 'names' | 'ids' {
  const format = ctx.query.get('handle_format') ?? 'names';
  if (format !== 'names' && format !== 'ids') throw PlatformError.badRequest(`query parameter "handle_format": must be names or ids, not ${JSON.stringify(format)}`);
  return format;
}

/** An action with its handles (object type, destinations) as names or as ids. */
function handles(store: EmulatorStore, action: Action, format: 'names' | 'ids'): Action | Record<string, unknown> {
  if (format === 'names') return action;
  return {
    ...action,
    object_type: store.type(action.object_type).type_id,
    message_destinations: action.message_destinations.map((name) => store.destination(name).id),
  };
}

/** The session cookie, `Secure` over HTTPS so browsers never send it in clear. */
function sessionCookie(sessionId: string, secure: boolean): string {
  return `${SESSION_COOKIE}=${sessionId}; Path=/; HttpOnly${secure ? '; Secure' : ''}`;
}

/** The id a note is credited to: the user, or the API key's principal. */
function principalUserId(ctx: RouteContext): number | null {
  const p = ctx.principal;
  if (!p) return null;
  return p.kind === 'session' ? p.user.id : p.principalId;
}
