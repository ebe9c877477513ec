import type { EventData } from '../events/catalog.ts';
import type { EventStore } from '../eventstore/EventStore.ts';
import type { ProjectionProgress } from '../projections/checkpointProgress.ts';
import type { Queries } from '../queries/createQueries.ts';
import type { Push } from './Push.ts';
import { Pusher, type PushSources } from './Pusher.ts';

const PAGE = 2000;

/**
 * `resume {since}`: the pushes of a user's chats (and invitations) after `since`, read from the
 * log up to where the read models have got — later ones arrive live.
 */
export function replayFor(store: EventStore, queries: Queries, sources: PushSources, progress: ProjectionProgress) {
  return async (user: string, since: bigint, heard = 0n): Promise<{ pushes: Push[]; position: bigint }> => {
    // what this node has already pushed was projected, even if the stored checkpoints say less yet
    const position = await progress.position();
    const upTo = heard > position ? heard : position;
    if (upTo <= since) return { pushes: [], position: since };
    const chats = new Set((await queries.chatIdsOf(user)).map((id) => `chat-${id}`));
    const pusher = new Pusher(sources);
    const pushes: Push[] = [];
    for (let after = since; after < upTo; ) {
      const page = await store.readAllBare({ after, maxCount: PAGE });
      if (page.length === 0) break;
      const mine = page.filter(
        (e) =>
          e.position <= upTo &&
          (chats.has(e.stream) || (e.type === 'InvitationSent' && [(e.data as EventData<'InvitationSent'>).to, (e.data as EventData<'InvitationSent'>).from].includes(user))),
      );
      for (const push of await pusher.pushesFor(mine)) if (push.users.includes(user)) pushes.push(push);
      after = page[page.length - 1]!.position;
    }
    return { pushes, position: upTo };
  };
}
