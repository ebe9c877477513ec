import type { Commands } from '../commands/createCommands.ts';
import type { IdentityStore } from '../commands/identity/IdentityStore.ts';
import type { GoogleOAuth } from '../commands/identity/googleOAuth.ts';
import type { ProjectionProgress } from '../projections/checkpointProgress.ts';
import type { Queries } from '../queries/createQueries.ts';
import type { QueryCache } from '../queries/QueryCache.ts';
import type { EventStore } from '../eventstore/EventStore.ts';
import { analyticsRoutes } from './routes/analyticsRoutes.ts';
import { auditRoutes } from './routes/auditRoutes.ts';
import { authRoutes } from './routes/authRoutes.ts';
import { chatRoutes } from './routes/chatRoutes.ts';
import { queryRoutes } from './routes/queryRoutes.ts';
import { userRoutes } from './routes/userRoutes.ts';

export interface ApiRouteDeps {
  commands: Commands;
  identity: IdentityStore;
  google: { oauth: GoogleOAuth; stateSecret: string } | null;
  queries: Queries;
  cache: QueryCache;
  progress: ProjectionProgress;
  eventStore: EventStore;
}

/** Every route of the REST contract; the fixed paths of the write side come before the query routes' /{uuid}/ ones. */
export function apiRoutes({ commands, identity, google, queries, cache, progress, eventStore }: ApiRouteDeps) {
  return [
    ...authRoutes({ identity, users: commands.users, google }),
    ...userRoutes(commands.users, commands.friendships),
    ...chatRoutes(commands.chats),
    ...auditRoutes(eventStore, commands.users),
    ...analyticsRoutes({ queries, users: commands.users, progress }),
    ...queryRoutes({ queries, cache, progress }),
  ];
}
