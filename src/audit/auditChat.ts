import { streams } from '../events/streams.ts';
import type { Micros } from '../events/time.ts';
import type { EventStore } from '../eventstore/EventStore.ts';
import { replayChat, type ChatAudit } from './replayChat.ts';

const PAGE = 1000;

/**
 * Reads a chat's stream page by page up to the first event recorded after `asOf`, and replays it:
 * what the CLI's `audit chat` and GET /api/audit/chats/<uuid>/ both answer. Null when the chat did not exist then.
 */
export async function auditChat(store: EventStore, chatId: string, asOf: Micros): Promise<ChatAudit | null> {
  const stream = streams.chat(chatId);
  const events = [];
  for (let from = 0n; ; ) {
    const page = await store.readStream(stream, { fromRevision: from, maxCount: PAGE });
    events.push(...page);
    const last = page[page.length - 1];
    // a page that reaches past the moment is the last one needed: the replay stops there
    if (page.length < PAGE || !last || Date.parse(last.recordedAt) * 1000 > asOf + 1000) break;
    from = last.revision + 1n;
  }
  return replayChat(chatId, events, asOf);
}
