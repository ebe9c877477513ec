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

/** Where a page of a chat's audit starts: after this message id and this activity revision. */
export interface AuditCursor {
  messagesAfter: number;
  activityAfter: bigint;
  limit: number;
}

/**
 * One page of a chat's audit: its state whole, and at most `limit` messages and `limit` activity
 * lines after the cursor's; `next` is the cursor of the page after it, null on the last one.
 */
export function auditPage(audit: ChatAudit, { messagesAfter, activityAfter, limit }: AuditCursor): { page: ChatAudit; next: AuditCursor | null } {
  // messages are in id order from 1, activity in revision order
  const messages = audit.messages.slice(messagesAfter, messagesAfter + limit);
  const firstActivity = audit.activity.findIndex((line) => BigInt(line.revision) > activityAfter);
  const activity = firstActivity < 0 ? [] : audit.activity.slice(firstActivity, firstActivity + limit);
  const more = messagesAfter + messages.length < audit.messages.length || (firstActivity >= 0 && firstActivity + activity.length < audit.activity.length);
  const next = more
    ? { messagesAfter: messagesAfter + messages.length, activityAfter: activity.length ? BigInt(activity[activity.length - 1]!.revision) : activityAfter, limit }
    : null;
  return { page: { ...audit, messages, activity }, next };
}
