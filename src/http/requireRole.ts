import type { UserCommands } from '../commands/user/userCommands.ts';
import type { Role } from '../commands/user/userDecider.ts';
import type { Auth } from './authentication.ts';
import { ErrorAnswer } from './errorAnswer.ts';
import { HttpError } from './errors.ts';

/**
 * The check a route makes before answering an auditor's or analyst's request: 403 unless the
 * caller holds one of `roles`. It asks the user aggregate, which the repository keeps in memory and
 * catches up with one indexed read of the stream's tail (usually no rows) — cheap, and exact: a
 * role granted or revoked by the CLI counts at the next request on every node, with no read model
 * to lag behind or to rebuild with a new column.
 */
export function requireRole(users: Pick<UserCommands, 'hasRole'>, ...roles: [Role, ...Role[]]) {
  return async (auth: Auth | null): Promise<void> => {
    for (const role of roles) if (auth && (await users.hasRole(auth.userId, role))) return;
    throw new HttpError(403, 'forbidden', `This needs the ${roles.join(' or ')} role.`);
  };
}

/** The refusal to document on a route that calls requireRole. */
export const roleRefusal = (...roles: [Role, ...Role[]]) => ({ 403: { description: `the caller does not hold the ${roles.join(' or ')} role`, schema: ErrorAnswer } });
