import { randomUUID } from 'node:crypto';
import { streams } from '../../events/streams.ts';
import { ownUser, publicUser, type PublicUser } from '../answers.ts';
import type { CommandContext } from '../AggregateRepository.ts';
import { refuse } from '../DomainError.ts';
import { uuidFromName } from '../eventIds.ts';
import type { IdentityStore } from '../identity/IdentityStore.ts';
import type { Repositories } from '../repositories.ts';
import { decide as reserveOrRelease } from './emailReservation.ts';
import { decide, type Role, type User } from './userDecider.ts';

type ActiveUser = User & { status: 'active' | 'deactivated' };

export function createUserCommands({ users, emails }: Repositories, identity: IdentityStore) {
  async function userOf(userId: string): Promise<ActiveUser> {
    const user = await users.load(streams.user(userId));
    return user.status === 'absent' ? refuse('not_found', 'user_not_found', 'No such user.') : user;
  }

  return {
    userOf,

    async publicUsers(userIds: readonly string[]): Promise<PublicUser[]> {
      return Promise.all(userIds.map(async (id) => publicUser(await userOf(id))));
    },

    /** For a command's answer: the users as this process knows them, without a read for each one it has seen. */
    async knownUsers(userIds: readonly string[]): Promise<PublicUser[]> {
      return Promise.all(
        userIds.map(async (id) => {
          const user = await users.known(streams.user(id));
          return user.status === 'absent' ? publicUser(await userOf(id)) : publicUser(user);
        }),
      );
    },

    /**
     * Reserves the email in its own stream (of any number of concurrent registrations of one
     * email exactly one wins there), keeps the password hash in the identity store, then
     * records the user. Google accounts come without a password.
     */
    async createAccount(input: { email: string; passwordHash: string | null; username?: string | undefined }, context: Omit<CommandContext, 'actor'>) {
      const email = input.email.trim();
      const userId = context.clientId ? uuidFromName(`user/${context.clientId}`) : randomUUID();
      const reservation = streams.email(email);
      const as = { ...context, actor: userId };
      await emails.execute(reservation, (state) => reserveOrRelease({ type: 'ReserveEmail', userId }, state), as);
      try {
        await identity.addCredentials(userId, email, input.passwordHash);
        const username = input.username?.trim().slice(0, 50) || email.split('@')[0]!.slice(0, 50);
        const done = await users.execute(streams.user(userId), (state) => decide({ type: 'RegisterUser', userId, email, username, now: context.now }, state), as);
        return { userId, user: ownUser(done.state as ActiveUser), position: done.position };
      } catch (error) {
        // a registration that failed halfway must not keep the email from its owner
        await identity.removeCredentials(userId).catch(() => {});
        await emails.execute(reservation, (state) => reserveOrRelease({ type: 'ReleaseEmail', userId }, state), { ...as, clientId: undefined }).catch(() => {});
        throw error;
      }
    },

    async ownUser(userId: string) {
      return ownUser(await userOf(userId));
    },

    async updateProfile(userId: string, changes: { username?: string; description?: string; photo?: string | null }, context: CommandContext) {
      const done = await users.execute(streams.user(userId), (state) => decide({ type: 'UpdateProfile', ...changes }, state), context);
      return { user: ownUser(done.state as ActiveUser), position: done.position };
    },

    /** `changed` is false when the user held the role already: nothing is recorded twice */
    async grantRole(userId: string, role: Role, context: CommandContext) {
      const done = await users.execute(streams.user(userId), (state) => decide({ type: 'GrantRole', role, grantedBy: context.actor }, state), context);
      return { position: done.position, changed: done.events.length > 0 };
    },

    /** `changed` is false when the user did not hold the role */
    async revokeRole(userId: string, role: Role, context: CommandContext) {
      const done = await users.execute(streams.user(userId), (state) => decide({ type: 'RevokeRole', role, revokedBy: context.actor }, state), context);
      return { position: done.position, changed: done.events.length > 0 };
    },

    /** Whether the user holds the role now: the aggregate caught up from its stream, so a grant or revocation counts at once. */
    async hasRole(userId: string, role: Role): Promise<boolean> {
      const user = await users.load(streams.user(userId));
      return user.status === 'active' && user.roles.includes(role);
    },
  };
}

export type UserCommands = ReturnType<typeof createUserCommands>;
