import { SESSION_COOKIE, type Auth } from './auth.js';
import type { AutomaticActions } from './automatic.js';
import {
  ActionCreateSchema,
  ActionInvocationSchema,
  CommentCreateSchema,
  DestinationCreateSchema,
  FieldCreateSchema,
  FieldUpdateSchema,
  IncidentCreateSchema,
  IncidentUpdateSchema,
  SessionLoginSchema,
} from './bodies.js';
import { parseBody, PlatformError } from './errors.js';
import type { Faults } from './faults.js';
import { idOrName, intParam, Router, type RouteContext } from './router.js';
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
 * comments, actions, types and fields, message destinations, and action
 * invocations. Authentication and the organisation check happen before a
 * handler runs (see server.ts); handlers validate bodies with the schemas in
 * bodies.ts and let the store enforce the platform's rules.
 */
export function restRoutes(deps: RestDeps): Router {
  const { store, auth, faults, trigger, automatic } = deps;
  const r = new Router();

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
    const updated = store.updateIncident(id, body, {
      forceConflict: () => {
        const forced = faults.takeConflict();
        if (forced) ctx.markFault('conflict');
        return forced;
      },
    });
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
  r.add('GET', '/rest/orgs/:org/actions', () => ({ body: { entities: store.actions() } }));
  r.add('GET', '/rest/orgs/:org/actions/:id', (ctx) => ({ body: store.action(idOrName(ctx, 'id')) }));
  r.add('POST', '/rest/orgs/:org/actions', (ctx) => ({ body: store.createAction(parseBody(ActionCreateSchema, ctx.json(), 'action')) }));

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
    return { body: store.updateField(type, field, parseBody(FieldUpdateSchema, ctx.json(), 'field')) };
  });

  // ---- message destinations ----------------------------------------------
  r.add('GET', '/rest/orgs/:org/message_destinations', () => ({ body: { entities: store.destinations() } }));
  r.add('GET', '/rest/orgs/:org/message_destinations/:id', (ctx) => ({ body: store.destination(idOrName(ctx, 'id')) }));
  r.add('POST', '/rest/orgs/:org/message_destinations', (ctx) => ({
    body: store.createDestination(parseBody(DestinationCreateSchema, ctx.json(), 'message destination')),
  }));

  return r;
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
