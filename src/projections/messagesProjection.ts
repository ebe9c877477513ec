import type { Knex } from 'knex';
import type { EventData } from '../events/catalog.ts';
import { parseIsoMicros } from '../events/time.ts';
import type { BareEvent } from '../eventstore/EventStore.ts';
import { columnChunks } from './columnChunks.ts';
import { copyRows } from './copyRows.ts';
import type { Projection } from './Projection.ts';

export interface MessageRow {
  chat_id: string;
  id: number;
  author_id: string;
  content: string;
  time_stamp: number;
  edited_at: string | null;
  deleted: boolean;
}

type MessageChange = { chat_id: string; id: number; content: string; edited_at: string | null; deleted: boolean };

export interface MessageWrites {
  /** new messages, as the events so far left them, by "chat/id" */
  inserts: Map<string, MessageRow>;
  /** changes to messages stored before, in order */
  updates: MessageChange[];
}

export const noMessageWrites = (): MessageWrites => ({ inserts: new Map(), updates: [] });

/**
 * Folds message events into writes — pure apart from updating `writes`. A message posted and then
 * edited or deleted before the writes are stored is inserted as it ended up.
 */
export function foldMessages(writes: MessageWrites, events: readonly BareEvent[]): void {
  const { inserts, updates } = writes;
  for (const { type, data, stream } of events) {
    if (!stream.startsWith('chat-')) continue;
    const chat_id = stream.slice('chat-'.length);
    if (type === 'MessagePosted') {
      const posted = data as EventData<'MessagePosted'>;
      inserts.set(`${chat_id}/${posted.message_id}`, {
        chat_id,
        id: posted.message_id,
        author_id: posted.author_id,
        content: posted.content,
        time_stamp: parseIsoMicros(posted.time_stamp)!,
        edited_at: null,
        deleted: false,
      });
      continue;
    }
    if (type !== 'MessageEdited' && type !== 'MessageDeleted') continue;
    const change =
      type === 'MessageEdited'
        ? { content: (data as EventData<'MessageEdited'>).content, edited_at: (data as EventData<'MessageEdited'>).edited_at, deleted: false }
        : { content: '', deleted: true };
    const id = (data as { message_id: number }).message_id;
    const pending = inserts.get(`${chat_id}/${id}`);
    if (pending) Object.assign(pending, change);
    else updates.push({ chat_id, id, edited_at: null, ...change });
  }
}

/** A batch of message events as writes — pure. */
export function messageWrites(events: readonly BareEvent[]): MessageWrites {
  const writes = noMessageWrites();
  foldMessages(writes, events);
  return writes;
}

const MESSAGE_COLUMNS = ['chat_id', 'id', 'author_id', 'content', 'time_stamp', 'edited_at', 'deleted'] as const;

/** New messages; one stored already is kept as it is. */
async function insertMessages(tx: Knex.Transaction, rows: readonly MessageRow[]): Promise<void> {
  for (const chunk of columnChunks(rows, MESSAGE_COLUMNS)) {
    await tx.raw(
      `INSERT INTO rm_messages (chat_id, id, author_id, content, time_stamp, edited_at, deleted)
       SELECT * FROM unnest(?::uuid[], ?::integer[], ?::uuid[], ?::text[], ?::bigint[], ?::text[], ?::boolean[])
       ON CONFLICT (chat_id, id) DO NOTHING`,
      chunk,
    );
  }
}

/** below this many new messages, one insert: a COPY and its savepoint take three round trips */
const COPY_FROM_ROWS = 1000;

/**
 * insertMessages for many rows (a rebuild, a catch-up): one COPY, the cheapest way in. A COPY
 * cannot skip a stored message, so should one be there already, it rolls back to its savepoint and
 * the rows go in as insertMessages puts them.
 */
async function addMessages(tx: Knex.Transaction, rows: readonly MessageRow[]): Promise<void> {
  if (rows.length < COPY_FROM_ROWS) return insertMessages(tx, rows);
  try {
    await tx.transaction((savepoint) => copyRows(savepoint, 'rm_messages', rows, MESSAGE_COLUMNS));
  } catch (error) {
    if ((error as { code?: string }).code !== '23505') throw error;
    await insertMessages(tx, rows);
  }
}

/** Stores folded writes: the inserts, then the changes to messages stored before. */
async function writeMessages(tx: Knex.Transaction, { inserts, updates }: MessageWrites): Promise<void> {
  await addMessages(tx, [...inserts.values()]);
  if (updates.length > 0) {
    // one row per message, as its changes in order leave it: the last content, the last edit's time, deleted once deleted
    const folded = new Map<string, MessageChange>();
    for (const u of updates) {
      const key = `${u.chat_id}/${u.id}`;
      const before = folded.get(key);
      folded.set(key, { ...u, edited_at: u.deleted ? (before?.edited_at ?? null) : u.edited_at, deleted: u.deleted || (before?.deleted ?? false) });
    }
    await tx.raw(
      `UPDATE rm_messages m SET content = u.content, edited_at = coalesce(u.edited_at, m.edited_at), deleted = m.deleted OR u.deleted
       FROM json_to_recordset(?::json) AS u(chat_id uuid, id integer, content text, edited_at text, deleted boolean)
       WHERE m.chat_id = u.chat_id AND m.id = u.id`,
      [JSON.stringify([...folded.values()])],
    );
  }
}

/** rm_messages: the 15-message pages and full-text search. */
export const messagesProjection: Projection = {
  name: 'messages',
  version: 1,
  tables: ['rm_messages'],
  eventTypes: ['MessagePosted', 'MessageEdited', 'MessageDeleted'],
  async apply(events, tx) {
    const writes = messageWrites(events);
    await writeMessages(tx, writes);
    return [...new Set([...writes.inserts.values(), ...writes.updates].map((m) => `chat:${m.chat_id}`))];
  },
  replay() {
    let writes = noMessageWrites();
    return {
      async add(events) {
        foldMessages(writes, events);
      },
      get pending() {
        return writes.inserts.size + writes.updates.length;
      },
      async flush(tx) {
        const taken = writes;
        writes = noMessageWrites();
        await writeMessages(tx, taken);
      },
    };
  },
};
