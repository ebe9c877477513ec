import type { EventStore } from '../eventstore/EventStore.ts';
import { createChatCommands } from './chat/chatCommands.ts';
import { createFriendshipCommands } from './friendship/friendshipCommands.ts';
import type { IdentityStore } from './identity/IdentityStore.ts';
import { createRepositories } from './repositories.ts';
import { createUserCommands } from './user/userCommands.ts';

/** Everything a user can change, over one event store and the identity store. */
export function createCommands(store: EventStore, identity: IdentityStore) {
  const repositories = createRepositories(store);
  const users = createUserCommands(repositories, identity);
  const friendships = createFriendshipCommands(repositories, users);
  const chats = createChatCommands(repositories, users, friendships);
  return { users, friendships, chats };
}

export type Commands = ReturnType<typeof createCommands>;
