import { FakeApi } from './fake-api.js';

/** A user account in the fake directory. */
export interface DirectoryUser {
  id: string;
  display_name: string;
  enabled: boolean;
}

/**
 * A fake user directory (an AD/LDAP front end): `GET /api/users/:id` →
 * `{id, display_name, enabled}` or 404; `POST /api/users/:id/disable`
 * `{reason}` → the user, now disabled. `ignoreDisable` makes it accept the
 * request without doing it (a directory whose change did not replicate):
 * set `behaviour.ignoreDisable`.
 */
export async function startDirectory(users: DirectoryUser[] = defaultUsers()): Promise<FakeApi & { users: Map<string, DirectoryUser>; behaviour: { ignoreDisable: boolean } }> {
  const byId = new Map(users.map((u) => [u.id, { ...u }]));
  const state = { ignoreDisable: false };
  const api = await FakeApi.start('directory', [
    {
      method: 'GET',
      path: '/api/users/:id',
      handle: ({ params }) => {
        const user = byId.get(params['id']!);
        return user ? { body: user } : { status: 404, body: { error: `no user ${params['id']}` } };
      },
    },
    {
      method: 'POST',
      path: '/api/users/:id/disable',
      required: ['reason'],
      handle: ({ params }) => {
        const user = byId.get(params['id']!);
        if (!user) return { status: 404, body: { error: `no user ${params['id']}` } };
        if (!state.ignoreDisable) user.enabled = false;
        return { body: { ...user, enabled: false } };
      },
    },
  ]);
  return Object.assign(api, { users: byId, behaviour: state });
}

function defaultUsers(): DirectoryUser[] {
  return [
    { id: 'jdoe', display_name: 'John Doe', enabled: true },
    { id: 'asmith', display_name: 'Alice Smith', enabled: true },
    { id: 'old.account', display_name: 'Old Account', enabled: false },
  ];
}
