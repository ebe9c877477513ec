import type { Commands } from '../commands/createCommands.ts';
import type { IdentityStore } from '../commands/identity/IdentityStore.ts';
import type { GoogleOAuth } from '../commands/identity/googleOAuth.ts';
import { authRoutes } from './routes/authRoutes.ts';
import { chatRoutes } from './routes/chatRoutes.ts';
import { userRoutes } from './routes/userRoutes.ts';

/** Every route of the REST contract this process serves. */
export function apiRoutes(commands: Commands, identity: IdentityStore, google: { oauth: GoogleOAuth; stateSecret: string } | null) {
  return [...authRoutes({ identity, users: commands.users, google }), ...userRoutes(commands.users, commands.friendships), ...chatRoutes(commands.chats)];
}
