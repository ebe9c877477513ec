import type { Knex } from 'knex';
import type { EventData } from '../events/catalog.ts';
import { parseIsoMicros } from '../events/time.ts';
import type { RecordedEvent } from '../eventstore/EventStore.ts';
import type { Projection } from './Projection.ts';

export interface ChatRow {
  uuid: string;
  name: string;
  is_group_chat: boolean;
  admin: string | null;
  created: string;
  last_activity: number;
  last_message: string | null;
  message_count: number;
}

/** A chat as the batch sees it: its row and its members' read marks. */
export interface ChatModel {
  row: ChatRow;
  members: Map<string, number>;
}

export interface ChatChanges {
  chats: Map<string, ChatModel>;
  /** members whose row must be written, as "chat/user" */
  dirtyMembers: Set<string>;
  removedMembers: Set<string>;
}

/**
 * Folds a batch of chat events into the chats they touch — pure, so the whole batch becomes a
 * few set-based writes. `loaded` holds the touched chats as the table had them.
 */
export function foldChats(loaded: ReadonlyMap<string, ChatModel>, events: readonly RecordedEvent[]): ChatChanges {
  const chats = new Map([...loaded].map(([id, chat]) => [id, { row: { ...chat.row }, members: new Map(chat.members) }]));
  const dirtyMembers = new Set<string>();
  const removedMembers = new Set<string>();
  const setMember = (chat: string, user: string, readUpTo: number) => {
    chats.get(chat)!.members.set(user, readUpTo);
    dirtyMembers.add(`${chat}/${user}`);
    removedMembers.delete(`${chat}/${user}`);
  };
  const removeMember = (chat: string, user: string) => {
    chats.get(chat)!.members.delete(user);
    removedMembers.add(`${chat}/${user}`);
    dirtyMembers.delete(`${chat}/${user}`);
  };

  for (const { type, data, stream } of events) {
    const id = stream.slice('chat-'.length);
    if (type === 'ChatCreated') {
      const created = data as EventData<'ChatCreated'>;
      const at = parseIsoMicros(created.created) ?? 0;
      chats.set(id, {
        row: { uuid: id, name: created.name, is_group_chat: created.is_group_chat, admin: created.admin, created: created.created, last_activity: at, last_message: null, message_count: 0 },
        members: new Map(),
      });
      for (const user of created.participants) setMember(id, user, 0);
      continue;
    }
    const chat = chats.get(id);
    if (!chat) continue;
    switch (type) {
      case 'ChatRenamed':
        chat.row.name = (data as EventData<'ChatRenamed'>).name;
        break;
      case 'ParticipantAdded':
        // a newcomer has not missed what was said before they joined
        setMember(id, (data as EventData<'ParticipantAdded'>).user_id, chat.row.message_count);
        break;
      case 'ParticipantLeft': {
        const left = data as EventData<'ParticipantLeft'>;
        removeMember(id, left.user_id);
        if (chat.row.admin === left.user_id) chat.row.admin = left.new_admin;
        break;
      }
      case 'ParticipantRemoved':
        removeMember(id, (data as EventData<'ParticipantRemoved'>).user_id);
        break;
      case 'MessagePosted': {
        const posted = data as EventData<'MessagePosted'>;
        chat.row.message_count = posted.message_id;
        chat.row.last_message = posted.content;
        chat.row.last_activity = parseIsoMicros(posted.time_stamp) ?? chat.row.last_activity;
        if (chat.members.has(posted.author_id)) setMember(id, posted.author_id, posted.message_id);
        break;
      }
      case 'MessageEdited': {
        const edited = data as EventData<'MessageEdited'>;
        if (edited.message_id === chat.row.message_count) chat.row.last_message = edited.content;
        break;
      }
      case 'MessageDeleted':
        if ((data as EventData<'MessageDeleted'>).message_id === chat.row.message_count) chat.row.last_message = '';
        break;
      case 'MessagesRead': {
        const read = data as EventData<'MessagesRead'>;
        if (chat.members.has(read.user_id) && read.message_id > chat.members.get(read.user_id)!) setMember(id, read.user_id, read.message_id);
        break;
      }
    }
  }
  return { chats, dirtyMembers, removedMembers };
}

/** A private chat is listed under the other user's name: when a username changes, so do their partners' chat lists. */
async function renamedPartners(events: readonly RecordedEvent[], tx: Knex.Transaction): Promise<string[]> {
  const renamed = events
    .filter((e) => e.type === 'UserProfileUpdated' && (e.data as EventData<'UserProfileUpdated'>).username !== undefined)
    .map((e) => e.stream.slice('user-'.length));
  if (renamed.length === 0) return [];
  const partners = await tx('rm_chat_members as me')
    .join('rm_chats as c', 'c.uuid', 'me.chat_id')
    .join('rm_chat_members as other', 'other.chat_id', 'me.chat_id')
    .whereIn('me.user_id', renamed)
    .where('c.is_group_chat', false)
    .whereRaw('other.user_id <> me.user_id')
    .distinct<{ user_id: string }[]>('other.user_id');
  return partners.map((p) => `user:${p.user_id}`);
}

async function load(tx: Knex.Transaction, ids: string[]): Promise<Map<string, ChatModel>> {
  const chats = new Map<string, ChatModel>();
  const rows = await tx<ChatRow>('rm_chats').whereIn('uuid', ids);
  for (const row of rows) chats.set(row.uuid, { row: { ...row, last_activity: Number(row.last_activity) }, members: new Map() });
  const members = await tx<{ chat_id: string; user_id: string; read_up_to: number }>('rm_chat_members').whereIn('chat_id', ids);
  for (const m of members) chats.get(m.chat_id)?.members.set(m.user_id, m.read_up_to);
  return chats;
}

/** rm_chats and rm_chat_members: each user's chat list, by last activity, with last message and unread counts. */
export const chatsProjection: Projection = {
  name: 'chats',
  version: 1,
  tables: ['rm_chats', 'rm_chat_members'],
  eventTypes: ['ChatCreated', 'ChatRenamed', 'ParticipantAdded', 'ParticipantLeft', 'ParticipantRemoved', 'MessagePosted', 'MessageEdited', 'MessageDeleted', 'MessagesRead', 'UserProfileUpdated'],
  async apply(events, tx) {
    const stale = new Set(await renamedPartners(events, tx));
    const mine = events.filter((e) => e.stream.startsWith('chat-'));
    if (mine.length === 0) return stale;
    const ids = [...new Set(mine.map((e) => e.stream.slice('chat-'.length)))];
    const before = await load(tx, ids);
    const formerMembers = new Map([...before].map(([id, chat]) => [id, [...chat.members.keys()]]));
    const { chats, dirtyMembers, removedMembers } = foldChats(before, mine);

    const rows = [...chats.values()].map((c) => c.row);
    if (rows.length > 0) {
      await tx.raw(
        `INSERT INTO rm_chats (uuid, name, is_group_chat, admin, created, last_activity, last_message, message_count)
         SELECT * FROM json_to_recordset(?::json) AS r(uuid uuid, name text, is_group_chat boolean, admin uuid, created text, last_activity bigint, last_message text, message_count integer)
         ON CONFLICT (uuid) DO UPDATE SET name = excluded.name, admin = excluded.admin, last_activity = excluded.last_activity,
           last_message = excluded.last_message, message_count = excluded.message_count`,
        [JSON.stringify(rows)],
      );
    }
    const upserts = [...dirtyMembers].map((key) => {
      const [chat_id, user_id] = key.split('/') as [string, string];
      return { chat_id, user_id, read_up_to: chats.get(chat_id)!.members.get(user_id)! };
    });
    if (upserts.length > 0) {
      await tx.raw(
        `INSERT INTO rm_chat_members (chat_id, user_id, read_up_to)
         SELECT * FROM json_to_recordset(?::json) AS r(chat_id uuid, user_id uuid, read_up_to integer)
         ON CONFLICT (chat_id, user_id) DO UPDATE SET read_up_to = excluded.read_up_to`,
        [JSON.stringify(upserts)],
      );
    }
    for (const key of removedMembers) {
      const [chat_id, user_id] = key.split('/') as [string, string];
      await tx('rm_chat_members').where({ chat_id, user_id }).delete();
    }
    // every member's chat list changed (order, last message, unread count), and so did the leavers'
    for (const [id, chat] of chats) {
      stale.add(`chat:${id}`);
      for (const user of chat.members.keys()) stale.add(`user:${user}`);
      for (const user of formerMembers.get(id) ?? []) stale.add(`user:${user}`);
    }
    return stale;
  },
};
