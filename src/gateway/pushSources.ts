import type { Queries } from '../queries/createQueries.ts';
import type { PushSources } from './Pusher.ts';

/** The read models behind pushes. */
export function pushSources(queries: Queries): PushSources {
  return {
    members: (chat) => queries.memberIds(chat),
    async listItem(viewer, chat) {
      const { participants: _participants, created: _created, ...item } = await queries.chatDetail(viewer, chat);
      return item;
    },
    message: (chat, id) => queries.message(chat, id),
    invitation: (id) => queries.invitation(id),
  };
}
