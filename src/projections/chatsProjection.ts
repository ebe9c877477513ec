import type { Knex } from 'knex';
import type { EventData } from '../events/catalog.ts';
import { parseIsoMicros } from '../events/time.ts';
import type { BareEvent } from '../eventstore/EventStore.ts';
import { columnChunks } from './columnChunks.ts';
import type { Projection, Replay } from './Projection.ts';

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

/**
 * What folds changed and a write must store: the chats whose rows changed, and in each the users
 * who joined, left or read further (a member is upserted, a user no longer one deleted). Kept by
 * chat, not as "chat/user" strings: a fold meets millions of events, and building and hashing such
 * a key for each was much of what folding cost.
 */
export interface ChatChanges {
  chats: Map<string, Set<string>>;
  /** rows a write stores: the chats, and their members upserted or deleted */
  rows: number;
}

export const noChatChanges = (): ChatChanges => ({ chats: new Map(), rows: 0 });

/** The users of a changed chat whose rows a write must store: noting the chat changed, too. */
function touched(changes: ChatChanges, id: string): Set<string> {
  let users = changes.chats.get(id);
  if (!users) {
    changes.chats.set(id, (users = new Set()));
    changes.rows++;
  }
  return users;
}

/** Notes that a user's membership row in a changed chat must be written. */
function mark(changes: ChatChanges, users: Set<string>, user: string): void {
  if (users.has(user)) return;
  users.add(user);
  changes.rows++;
}

/**
 * Folds chat events into `chats` — the chats they touch, as stored or as earlier folds left them —
 * and notes in `changes` what to write. Pure apart from updating its two arguments, so a batch (or,
 * in a rebuild, many) becomes a few set-based writes.
 */
export function foldChats(chats: Map<string, ChatModel>, changes: ChatChanges, events: readonly BareEvent[]): void {
  for (const { type, data, stream } of events) {
    const id = stream.slice('chat-'.length);
    if (type === 'ChatCreated') {
      const created = data as EventData<'ChatCreated'>;
      const at = parseIsoMicros(created.created) ?? 0;
      const members = new Map(created.participants.map((user) => [user, 0]));
      chats.set(id, {
        row: { uuid: id, name: created.name, is_group_chat: created.is_group_chat, admin: created.admin, created: created.created, last_activity: at, last_message: null, message_count: 0 },
        members,
      });
      const users = touched(changes, id);
      for (const user of members.keys()) mark(changes, users, user);
      continue;
    }
    const chat = chats.get(id);
    if (!chat) continue;
    const users = touched(changes, id);
    const { row, members } = chat;
    switch (type) {
      case 'ChatRenamed':
        row.name = (data as EventData<'ChatRenamed'>).name;
        break;
      case 'ParticipantAdded': {
        // a newcomer has not missed what was said before they joined
        const user = (data as EventData<'ParticipantAdded'>).user_id;
        members.set(user, row.message_count);
        mark(changes, users, user);
        break;
      }
      case 'ParticipantLeft': {
        const left = data as EventData<'ParticipantLeft'>;
        members.delete(left.user_id);
        mark(changes, users, left.user_id);
        if (row.admin === left.user_id) row.admin = left.new_admin;
        break;
      }
      case 'ParticipantRemoved': {
        const user = (data as EventData<'ParticipantRemoved'>).user_id;
        members.delete(user);
        mark(changes, users, user);
        break;
      }
      case 'MessagePosted': {
        const posted = data as EventData<'MessagePosted'>;
        row.message_count = posted.message_id;
        row.last_message = posted.content;
        row.last_activity = parseIsoMicros(posted.time_stamp) ?? row.last_activity;
        if (members.has(posted.author_id)) {
          members.set(posted.author_id, posted.message_id);
          mark(changes, users, posted.author_id);
        }
        break;
      }
      case 'MessageEdited': {
        const edited = data as EventData<'MessageEdited'>;
        if (edited.message_id === row.message_count) row.last_message = edited.content;
        break;
      }
      case 'MessageDeleted':
        if ((data as EventData<'MessageDeleted'>).message_id === row.message_count) row.last_message = '';
        break;
      case 'MessagesRead': {
        const read = data as EventData<'MessagesRead'>;
        const upTo = members.get(read.user_id);
        if (upTo !== undefined && read.message_id > upTo) {
          members.set(read.user_id, read.message_id);
          mark(changes, users, read.user_id);
        }
        break;
      }
    }
  }
}

/** A private chat is listed under the other user's name: when a username changes, so do their partners' chat lists. */
async function renamedPartners(events: readonly BareEvent[], tx: Knex.Transaction): Promise<string[]> {
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

const chatEvents = (events: readonly BareEvent[]) => events.filter((e) => e.stream.startsWith('chat-'));
const chatIds = (events: readonly BareEvent[]) => [...new Set(events.map((e) => e.stream.slice('chat-'.length)))];

// one array parameter, however many chats (a batch touches thousands), and each chat's members
// with it: one round trip
const LOAD_CHATS = `SELECT c.*, coalesce((SELECT json_agg(json_build_array(m.user_id, m.read_up_to)) FROM rm_chat_members m WHERE m.chat_id = c.uuid), '[]') AS members
  FROM rm_chats c WHERE c.uuid = ANY(?::uuid[])`;

/** The chats `ids` names that the tables hold, with their members' read marks. */
async function load(db: Knex, ids: string[]): Promise<Map<string, ChatModel>> {
  const chats = new Map<string, ChatModel>();
  const { rows } = await db.raw<{ rows: (ChatRow & { members: [user: string, readUpTo: number][] })[] }>(LOAD_CHATS, [ids]);
  for (const { members, ...row } of rows) chats.set(row.uuid, { row: { ...row, last_activity: Number(row.last_activity) }, members: new Map(members) });
  return chats;
}

const UPSERT_CHATS = `INSERT INTO rm_chats (uuid, name, is_group_chat, admin, created, last_activity, last_message, message_count)
  SELECT * FROM unnest(?::uuid[], ?::text[], ?::boolean[], ?::uuid[], ?::text[], ?::bigint[], ?::text[], ?::integer[])
  ON CONFLICT (uuid) DO UPDATE SET name = excluded.name, admin = excluded.admin, last_activity = excluded.last_activity,
    last_message = excluded.last_message, message_count = excluded.message_count`;
const UPSERT_MEMBERS = `INSERT INTO rm_chat_members (chat_id, user_id, read_up_to)
  SELECT * FROM unnest(?::uuid[], ?::uuid[], ?::integer[])
  ON CONFLICT (chat_id, user_id) DO UPDATE SET read_up_to = excluded.read_up_to`;
const DELETE_MEMBERS = `DELETE FROM rm_chat_members m USING json_to_recordset(?::json) AS d(chat_id uuid, user_id uuid)
  WHERE m.chat_id = d.chat_id AND m.user_id = d.user_id`;

/** statements of a write joined into one; a rebuild's flush (chunks of 10,000 rows) goes one by one */
const MAX_JOINED = 3;

/**
 * Stores what the folds changed: one statement per table and kind of change. The values are
 * taken before the first statement goes out, so later folds may go on changing the models.
 */
async function writeChats(tx: Knex.Transaction, chats: ReadonlyMap<string, ChatModel>, changes: ChatChanges): Promise<void> {
  const rows: ChatRow[] = [];
  const upserts: { chat_id: string; user_id: string; read_up_to: number }[] = [];
  const removed: { chat_id: string; user_id: string }[] = [];
  for (const [chat_id, users] of changes.chats) {
    const { row, members } = chats.get(chat_id)!;
    rows.push(row);
    for (const user_id of users) {
      const read_up_to = members.get(user_id);
      if (read_up_to === undefined) removed.push({ chat_id, user_id });
      else upserts.push({ chat_id, user_id, read_up_to });
    }
  }
  const statements: [string, Knex.RawBinding[]][] = [
    ...columnChunks(rows, ['uuid', 'name', 'is_group_chat', 'admin', 'created', 'last_activity', 'last_message', 'message_count']).map((chunk) => [UPSERT_CHATS, chunk] as [string, Knex.RawBinding[]]),
    ...columnChunks(upserts, ['chat_id', 'user_id', 'read_up_to']).map((chunk) => [UPSERT_MEMBERS, chunk] as [string, Knex.RawBinding[]]),
  ];
  if (removed.length > 0) statements.push([DELETE_MEMBERS, [JSON.stringify(removed)]]);
  if (statements.length > 1 && statements.length <= MAX_JOINED) {
    // a live batch's few writes as one statement, one round trip: each part writes rows of its own
    // (a member is upserted or deleted, never both), so none sees another's work
    const parts = statements.map(([sql], i) => `w${i} AS (${sql})`);
    await tx.raw(`WITH ${parts.join(', ')} SELECT 1`, statements.flatMap(([, bindings]) => bindings));
    return;
  }
  for (const [sql, bindings] of statements) await tx.raw(sql, bindings);
}

/** Past this many chats held, a rebuild's replay lets them go after a flush and reads back those it meets again. */
const MAX_HELD_CHATS = 500_000;

/** A rebuild's replay of the chat lists, holding up to `maxHeld` chats between flushes. */
export function chatsReplay(maxHeld = MAX_HELD_CHATS): Replay {
  // every chat met so far, as stored or about to be: after the first pages, a page reads nothing back
  let held = new Map<string, ChatModel>();
  // chats let go at the last flush, until the next: that flush may still be writing them, so a chat met again is taken from here, not read back
  let released = new Map<string, ChatModel>();
  let changes = noChatChanges();
  return {
    async add(events, db) {
      const mine = chatEvents(events);
      const missing: string[] = [];
      for (const id of chatIds(mine)) {
        if (held.has(id)) continue;
        const kept = released.get(id);
        if (kept) held.set(id, kept);
        else missing.push(id);
      }
      if (missing.length > 0) for (const [id, chat] of await load(db, missing)) held.set(id, chat);
      foldChats(held, changes, mine);
    },
    get pending() {
      return changes.rows;
    },
    async flush(tx) {
      const taken = changes;
      changes = noChatChanges();
      const writing = writeChats(tx, held, taken);
      // the last flush is done (the rebuild flushes one at a time), so the tables hold what it let go
      released = new Map();
      if (held.size > maxHeld) [released, held] = [held, new Map()];
      await writing;
    },
  };
}

/** rm_chats and rm_chat_members: each user's chat list, by last activity, with last message and unread counts. */
export const chatsProjection: Projection = {
  name: 'chats',
  version: 1,
  tables: ['rm_chats', 'rm_chat_members'],
  eventTypes: ['ChatCreated', 'ChatRenamed', 'ParticipantAdded', 'ParticipantLeft', 'ParticipantRemoved', 'MessagePosted', 'MessageEdited', 'MessageDeleted', 'MessagesRead', 'UserProfileUpdated'],
  async apply(events, tx) {
    const stale = new Set(await renamedPartners(events, tx));
    const mine = chatEvents(events);
    if (mine.length === 0) return stale;
    const chats = await load(tx, chatIds(mine));
    // the members before the batch: a leaver's chat list changed too
    for (const chat of chats.values()) for (const user of chat.members.keys()) stale.add(`user:${user}`);
    const changes = noChatChanges();
    foldChats(chats, changes, mine);
    await writeChats(tx, chats, changes);
    // every member's chat list changed (order, last message, unread count)
    for (const [id, chat] of chats) {
      stale.add(`chat:${id}`);
      for (const user of chat.members.keys()) stale.add(`user:${user}`);
    }
    return stale;
  },
  replay: () => chatsReplay(),
};
