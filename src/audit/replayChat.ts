import type { MessageView } from '../commands/answers.ts';
import type { ChatEvent } from '../commands/chat/chatDecider.ts';
import { isoMicros, parseIsoMicros, type Micros } from '../events/time.ts';
import type { RecordedEvent } from '../eventstore/EventStore.ts';

/** One stay of a user in the chat: who brought them in and when, and how it ended (null while they are in). */
export interface Membership {
  user_id: string;
  /** the creator of a group chat, or whoever accepted the invitation that opened a private chat, for the first members */
  added_by: string;
  added_at: string;
  ended: { how: 'left' | 'removed'; by: string; at: string } | null;
}

export interface Participant {
  user_id: string;
  added_by: string;
  added_at: string;
  /** id of the last message they have read, as the chats read model counts it */
  read_up_to: number;
}

/** One thing that happened to a message; `content` is the text it had after the change (null when deleted). */
export interface MessageChange {
  change: 'posted' | 'edited' | 'deleted';
  by: string;
  at: string;
  content: string | null;
  revision: string;
  position: string;
}

/** A message as the contract shows it (API.md, "Objects"), plus what the log knows of its life. */
export interface AuditedMessage extends MessageView {
  deleted_by: string | null;
  deleted_at: string | null;
  history: MessageChange[];
}

/** Who did what when: one line per event of the chat's stream. */
export interface ChatActivity {
  revision: string;
  position: string;
  recorded_at: string;
  occurred_at: string;
  actor: string;
  type: string;
  summary: string;
}

export interface ChatAudit {
  uuid: string;
  /** the moment replayed: events recorded at or before it */
  as_of: string;
  /** revision and position of the last event replayed */
  revision: string;
  position: string;
  name: string;
  is_group_chat: boolean;
  admin: string | null;
  created: string;
  created_by: string;
  participants: Participant[];
  /** every stay, current and ended, in the order they began */
  memberships: Membership[];
  messages: AuditedMessage[];
  activity: ChatActivity[];
}

type Recorded = Pick<RecordedEvent, 'type' | 'data' | 'revision' | 'position' | 'recordedAt'> & { metadata: { actor: string; occurred_at: string } };

/**
 * A chat's state replayed from its stream's events (in revision order) as of a moment: the fold
 * stops at the first event recorded after `asOf`, so the answer is always a prefix of the stream —
 * a state the chat really had. Null when the chat did not exist yet. Pure: the CLI and the REST
 * endpoint both call it with what they read.
 */
export function replayChat(chatId: string, events: Iterable<Recorded>, asOf: Micros): ChatAudit | null {
  const replay = chatReplay(chatId, asOf);
  for (const event of events) if (!replay.fold(event)) break;
  return replay.result();
}

/**
 * replayChat one event at a time, for a reader that folds page by page and need not keep the
 * stream: `fold` answers false once an event is past the moment (and ignores it). It keeps its own
 * mutable accumulator rather than copying a state per event: a chat of a million messages replays
 * in one pass.
 */
export function chatReplay(chatId: string, asOf: Micros) {
  let audit: ChatAudit | null = null;
  const stays = new Map<string, Membership>();
  const readUpTo = new Map<string, number>();
  let past = false;

  function fold(recorded: Recorded): boolean {
    if (past || (parseIsoMicros(recorded.recordedAt) ?? 0) > asOf) {
      past = true;
      return false;
    }
    const e = { type: recorded.type, data: recorded.data } as ChatEvent;
    const actor = recorded.metadata.actor;
    const at = recorded.metadata.occurred_at;
    const where = { revision: String(recorded.revision), position: String(recorded.position) };

    if (e.type === 'ChatCreated') {
      audit = {
        uuid: chatId,
        as_of: isoMicros(asOf),
        ...where,
        name: e.data.name,
        is_group_chat: e.data.is_group_chat,
        admin: e.data.admin,
        created: e.data.created,
        created_by: actor,
        participants: [],
        memberships: [],
        messages: [],
        activity: [],
      };
      for (const user of e.data.participants) join(audit, stays, readUpTo, { user_id: user, added_by: actor, added_at: e.data.created, ended: null }, 0);
    } else if (audit) {
      const chat: ChatAudit = audit;
      chat.revision = where.revision;
      chat.position = where.position;
      const message = (id: number) => chat.messages[id - 1];
      switch (e.type) {
        case 'ChatRenamed':
          chat.name = e.data.name;
          break;
        case 'ParticipantAdded':
          // a newcomer has not missed what was said before they joined
          join(chat, stays, readUpTo, { user_id: e.data.user_id, added_by: e.data.added_by, added_at: at, ended: null }, chat.messages.length);
          break;
        case 'ParticipantLeft':
          leave(stays, readUpTo, e.data.user_id, { how: 'left', by: e.data.user_id, at });
          if (chat.admin === e.data.user_id) chat.admin = e.data.new_admin;
          break;
        case 'ParticipantRemoved':
          leave(stays, readUpTo, e.data.user_id, { how: 'removed', by: e.data.removed_by, at });
          break;
        case 'MessagePosted':
          chat.messages.push({
            id: e.data.message_id,
            chat: chatId,
            author_id: e.data.author_id,
            content: e.data.content,
            time_stamp: e.data.time_stamp,
            edited_at: null,
            deleted: false,
            deleted_by: null,
            deleted_at: null,
            history: [{ change: 'posted', by: e.data.author_id, at: e.data.time_stamp, content: e.data.content, ...where }],
          });
          // what you write yourself you have read
          if (readUpTo.has(e.data.author_id)) readUpTo.set(e.data.author_id, e.data.message_id);
          break;
        case 'MessageEdited': {
          const edited = message(e.data.message_id);
          if (!edited) break;
          edited.content = e.data.content;
          edited.edited_at = e.data.edited_at;
          edited.history.push({ change: 'edited', by: actor, at: e.data.edited_at, content: e.data.content, ...where });
          break;
        }
        case 'MessageDeleted': {
          const deleted = message(e.data.message_id);
          if (!deleted) break;
          // a deleted message keeps its place with empty content; its history keeps what it said
          deleted.content = '';
          deleted.deleted = true;
          deleted.deleted_by = e.data.deleted_by;
          deleted.deleted_at = e.data.deleted_at;
          deleted.history.push({ change: 'deleted', by: e.data.deleted_by, at: e.data.deleted_at, content: null, ...where });
          break;
        }
        case 'MessagesRead':
          if (readUpTo.has(e.data.user_id) && e.data.message_id > readUpTo.get(e.data.user_id)!) readUpTo.set(e.data.user_id, e.data.message_id);
          break;
      }
    }
    if (audit) {
      audit.activity.push({ ...where, recorded_at: recorded.recordedAt, occurred_at: at, actor, type: recorded.type, summary: summarize(e, actor) });
    }
    return true;
  }

  function result(): ChatAudit | null {
    if (!audit) return null;
    audit.participants = [...stays.values()].map((stay) => ({ user_id: stay.user_id, added_by: stay.added_by, added_at: stay.added_at, read_up_to: readUpTo.get(stay.user_id) ?? 0 }));
    return audit;
  }

  return { fold, result };
}

function join(chat: ChatAudit, stays: Map<string, Membership>, readUpTo: Map<string, number>, stay: Membership, read: number): void {
  chat.memberships.push(stay);
  stays.set(stay.user_id, stay);
  readUpTo.set(stay.user_id, read);
}

function leave(stays: Map<string, Membership>, readUpTo: Map<string, number>, user: string, ended: NonNullable<Membership['ended']>): void {
  const stay = stays.get(user);
  if (stay) stay.ended = ended;
  stays.delete(user);
  readUpTo.delete(user);
}

/** One line for people: what the event says, with user ids as the log has them. */
function summarize(e: ChatEvent, actor: string): string {
  switch (e.type) {
    case 'ChatCreated':
      return `${actor} created the ${e.data.is_group_chat ? `group chat "${e.data.name}"` : 'private chat'} with ${e.data.participants.join(', ')}`;
    case 'ChatRenamed':
      return `${e.data.renamed_by} renamed it "${e.data.name}"`;
    case 'ParticipantAdded':
      return `${e.data.added_by} added ${e.data.user_id}`;
    case 'ParticipantLeft':
      return `${e.data.user_id} left${e.data.new_admin ? `; ${e.data.new_admin} is admin` : ''}`;
    case 'ParticipantRemoved':
      return `${e.data.removed_by} removed ${e.data.user_id}`;
    case 'MessagePosted':
      return `${e.data.author_id} posted #${e.data.message_id}: ${quote(e.data.content)}`;
    case 'MessageEdited':
      return `${actor} edited #${e.data.message_id}: ${quote(e.data.content)}`;
    case 'MessageDeleted':
      return `${e.data.deleted_by} deleted #${e.data.message_id}`;
    case 'MessagesRead':
      return `${e.data.user_id} read up to #${e.data.message_id}`;
    default:
      return (e as { type: string }).type;
  }
}

const quote = (text: string) => JSON.stringify(text.length > 60 ? `${text.slice(0, 57)}...` : text);
