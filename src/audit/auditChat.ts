import { streams } from '../events/streams.ts';
import type { Micros } from '../events/time.ts';
import type { EventStore } from '../eventstore/EventStore.ts';
import { chatReplay, type ChatAudit } from './replayChat.ts';

const PAGE = 1000;

/**
 * Replays a chat's stream, read page by page up to the first event recorded after `asOf`:
 * what the CLI's `audit chat` and GET /api/audit/chats/<uuid>/ both answer. Null when the chat did not exist then.
 */
export async function auditChat(store: EventStore, chatId: string, asOf: Micros): Promise<ChatAudit | null> {
  const stream = streams.chat(chatId);
  // folded page by page: the replay keeps the chat, not its events
  const replay = chatReplay(chatId, asOf);
  for (let from = 0n; ; ) {
    const page = await store.readStream(stream, { fromRevision: from, maxCount: PAGE });
    let going = true;
    for (const event of page) if (!(going = replay.fold(event))) break;
    if (!going || page.length < PAGE) return replay.result();
    from = page[page.length - 1]!.revision + 1n;
  }
}
