import { randomUUID } from 'node:crypto';
import { isoMicros } from '../../src/events/time.ts';
import type { EventStore, NewEvent } from '../../src/eventstore/EventStore.ts';

/** A message as the analytics see it: which chat, who, when (µs). */
export interface Posted {
  chat: string;
  author: string;
  at: number;
}

const micros = (iso: string) => Date.parse(iso) * 1000;

export function chatEvent(type: string, data: unknown, at: number, actor = 'system'): NewEvent {
  const id = randomUUID();
  return { id, type, data, metadata: { actor, correlation_id: id, causation_id: id, occurred_at: isoMicros(at), schema: 1 } };
}

/**
 * Appends a group chat's whole history with controlled times straight to the log: created, then
 * each message, with an edit and a deletion of its first message (neither may change the counts).
 */
export async function appendChatHistory(store: EventStore, chat: string, members: string[], messages: { author: string; at: string }[]): Promise<Posted[]> {
  const start = micros(messages[0]!.at) - 1;
  const events: NewEvent[] = [
    chatEvent('ChatCreated', { chat_id: chat, name: 'analytics', is_group_chat: true, participants: members, admin: members[0], created: isoMicros(start) }, start),
  ];
  messages.forEach(({ author, at }, i) =>
    events.push(chatEvent('MessagePosted', { message_id: i + 1, author_id: author, content: `message ${i + 1}`, time_stamp: isoMicros(micros(at)) }, micros(at), author)),
  );
  const last = micros(messages[messages.length - 1]!.at);
  events.push(chatEvent('MessageEdited', { message_id: 1, content: 'edited', edited_at: isoMicros(last + 1) }, last + 1, messages[0]!.author));
  events.push(chatEvent('MessageDeleted', { message_id: 1, deleted_by: messages[0]!.author, deleted_at: isoMicros(last + 2) }, last + 2, messages[0]!.author));
  await store.append(`chat-${chat}`, events, 'no_stream');
  return messages.map(({ author, at }) => ({ chat, author, at: micros(at) }));
}

export interface Expected {
  chat_id: string;
  day: string;
  messages: number;
  active_users: number;
}

/** What the analytics must say, counted the plain way: per chat and UTC day, messages and distinct authors. */
export function expectedDays(posted: readonly Posted[]): Expected[] {
  const days = new Map<string, { chat_id: string; day: string; messages: number; authors: Set<string> }>();
  for (const { chat, author, at } of posted) {
    const day = new Date(at / 1000).toISOString().slice(0, 10);
    const key = `${chat} ${day}`;
    const found = days.get(key) ?? { chat_id: chat, day, messages: 0, authors: new Set<string>() };
    found.messages++;
    found.authors.add(author);
    days.set(key, found);
  }
  return [...days.values()]
    .map(({ chat_id, day, messages, authors }) => ({ chat_id, day, messages, active_users: authors.size }))
    .sort((a, b) => (a.chat_id + a.day < b.chat_id + b.day ? -1 : 1));
}

export const users = (n: number) => Array.from({ length: n }, () => randomUUID());
