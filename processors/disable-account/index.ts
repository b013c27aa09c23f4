/**
 * # disable-account: disable a compromised user account
 *
 * The CAF guide's fourth use case: the incident's plan has a task "You should
 * disable any compromised user accounts". On that task (or on the incident)
 * the analyst clicks **Disable Account**, enters the `user_id`, and the
 * processor disables it in the organisation's directory (an AD/LDAP front
 * end with an HTTP API).
 *
 * Steps, each shown in the Action Status list as it happens:
 *
 * 1. "Looking up user jdoe in the directory": `GET <url>/api/users/<id>`.
 *    A 404 is the answer "user jdoe does not exist in the directory". An account
 *    that is already disabled is a success that says so, and nothing is changed.
 * 2. "Disabling jdoe (John Doe)": `POST <url>/api/users/<id>/disable` with
 *    `{reason}` (the incident, and who asked).
 * 3. "Verifying that jdoe is disabled": `GET` again. A directory that accepted
 *    the request but still reports the account enabled is an error.
 *
 * Afterwards a note on the incident records what was done, and by whom.
 *
 * - Destination `disable_account`; platform objects in
 *   `destinations/disable-account.yaml`: the action field `user_id` and two
 *   manual actions with the same handler, "Disable Account" on tasks and
 *   "Disable Account (Incident)" on incidents. The platform's action names
 *   are unique, and an action is defined on one object type.
 * - Directory API: `Authorization: Bearer <token>`; a user is `{id, enabled, display_name?}`.
 * - Results: `{user_id, disabled: true, already_disabled}`.
 *
 * Settings (`settings.disable-account`):
 *
 * ```yaml
 * disable-account:
 *   url: https://directory.example.com
 *   token: ${DIRECTORY_TOKEN}
 *   timeout_ms: 15000
 * ```
 */
import { z } from 'zod';
import { ActionError, defineProcessor, type Handler } from '../../lib/index.js';
import { incidentOf, textField } from '../_shared/action-objects.js';
import { externalApi, externalApiSettings } from '../_shared/http.js';

const settings = z.object({ ...externalApiSettings });
type Settings = z.infer<typeof settings>;

const UserSchema = z.looseObject({
  id: z.union([z.string(), z.number()]).optional(),
  display_name: z.string().nullish(),
  enabled: z.boolean({ error: 'enabled must be true or false' }),
});

// Directory ids: letters, digits and . _ - @ (sAMAccountName, UPN). Anything else is a typo or an injection attempt.
const USER_ID = /^[A-Za-z0-9][A-Za-z0-9._@-]{0,127}$/;

const disableAccount: Handler<Settings> = async (message, ctx) => {
  const userId = textField(message, 'user_id');
  if (userId === undefined) throw new ActionError('action field user_id is required: the directory id of the account to disable');
  if (!USER_ID.test(userId)) throw new ActionError(`action field user_id holds ${JSON.stringify(userId)}, which is not a directory user id (letters, digits, and . _ - @)`);
  const incidentId = incidentOf(message);
  const directory = externalApi('directory', ctx.settings, ctx.signal);
  const userPath = `/api/users/${encodeURIComponent(userId)}`;

  await ctx.progress(`Looking up user ${userId} in the directory`);
  const found = await directory.call('GET', userPath, { what: `the lookup of user ${userId}`, accept: [404], schema: UserSchema });
  if (found.status === 404) throw new ActionError(`user ${userId} does not exist in the directory`);
  const name = found.body.display_name ? `${userId} (${found.body.display_name})` : userId;
  if (!found.body.enabled) {
    return { message: `${name} is already disabled in the directory; nothing to do`, results: { user_id: userId, disabled: true, already_disabled: true } };
  }

  const requester = message.user?.email ?? 'an analyst';
  await ctx.progress(`Disabling ${name}`);
  await directory.call('POST', `${userPath}/disable`, {
    body: { reason: `Compromised account: incident ${incidentId}, requested by ${requester}` },
    what: `disabling user ${userId}`,
  });

  await ctx.progress(`Verifying that ${userId} is disabled`);
  const after = await directory.call('GET', userPath, { what: `the check of user ${userId}`, schema: UserSchema });
  if (after.body.enabled) throw new ActionError(`the directory accepted disabling ${name}, but still reports the account enabled`);

  try {
    await ctx.rest.post(`/incidents/${incidentId}/comments`, { text: `Account ${name} disabled in the directory, requested by ${requester}.` }, { signal: ctx.signal });
  } catch (error) {
    throw new ActionError(`${name} is disabled in the directory, but the note on incident ${incidentId} could not be added: ${(error as Error).message}`);
  }
  return { message: `${name} disabled in the directory (verified)`, results: { user_id: userId, disabled: true, already_disabled: false } };
};

export default defineProcessor({
  name: 'disable-account',
  destination: 'disable_account',
  settings,
  actions: {
    'Disable Account': disableAccount,
    'Disable Account (Incident)': disableAccount,
  },
});
