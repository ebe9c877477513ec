import { createIdentityStore } from '../commands/identity/IdentityStore.ts';
import { createRepositories } from '../commands/repositories.ts';
import { createUserCommands } from '../commands/user/userCommands.ts';
import { ROLES, type Role } from '../commands/user/userDecider.ts';
import { isoMicros, nowMicros } from '../events/time.ts';
import { CliUsageError, type CliArgs, type CliCommand, type CliContext } from './CliCommand.ts';

function roleOf(text: string | undefined): Role {
  if (!text) throw new CliUsageError(`give a role: ${ROLES.join(' or ')}`);
  if (!(ROLES as readonly string[]).includes(text)) throw new CliUsageError(`unknown role "${text}": the roles are ${ROLES.join(', ')}`);
  return text as Role;
}

/**
 * Grants or revokes through the user decider, so the change is an event in the user's stream like
 * any other: the actor is the operator named by --operator, or `cli`.
 */
async function changeRole(change: 'grant' | 'revoke', { positionals, options }: CliArgs, context: CliContext): Promise<number> {
  const [email, roleText, extra] = positionals;
  if (!email) throw new CliUsageError("give the user's email");
  const role = roleOf(roleText);
  if (extra !== undefined) throw new CliUsageError(`unexpected argument "${extra}"`);
  const operator = typeof options.operator === 'string' ? options.operator.trim() : 'cli';
  if (!operator) throw new CliUsageError('--operator needs a name');

  const { knex, eventStore } = await context.connect();
  const identity = createIdentityStore(knex);
  const users = createUserCommands(createRepositories(eventStore), identity);
  const userId = await identity.userIdForEmail(email.trim());
  if (!userId) {
    context.err.write(`no user with the email ${email}\n`);
    return 1;
  }
  const command = { actor: operator, now: isoMicros(nowMicros()) };
  const done = change === 'grant' ? await users.grantRole(userId, role, command) : await users.revokeRole(userId, role, command);
  const who = `${email} (${userId})`;
  if (!done.changed) context.out.write(change === 'grant' ? `${who} holds the ${role} role already; nothing recorded\n` : `${who} does not hold the ${role} role; nothing recorded\n`);
  else context.out.write(`${change === 'grant' ? 'granted' : 'revoked'} ${role} ${change === 'grant' ? 'to' : 'from'} ${who} at position ${done.position}\n`);
  return 0;
}

export const roleCommands: CliCommand[] = [
  {
    words: ['roles', 'grant'],
    usage: `roles grant <email> <${ROLES.join('|')}> [--operator <name>]`,
    summary: 'grants a role (recorded as UserRoleGranted, with the operator as its actor)',
    options: { operator: 'string' },
    run: (args, context) => changeRole('grant', args, context),
  },
  {
    words: ['roles', 'revoke'],
    usage: `roles revoke <email> <${ROLES.join('|')}> [--operator <name>]`,
    summary: 'revokes a role (recorded as UserRoleRevoked, with the operator as its actor)',
    options: { operator: 'string' },
    run: (args, context) => changeRole('revoke', args, context),
  },
];
