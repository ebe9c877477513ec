import type { Knex } from 'knex';
import type { EventData } from '../events/catalog.ts';
import { parseIsoMicros } from '../events/time.ts';
import type { BareEvent } from '../eventstore/EventStore.ts';
import { columnChunks } from './columnChunks.ts';
import type { Projection } from './Projection.ts';

const MILLIS_PER_DAY = 86_400_000;
const MICROS_PER_DAY = MILLIS_PER_DAY * 1000;

/** Messages one author posted in one chat on one UTC day, within a batch. */
export interface AuthorDay {
  chat_id: string;
  /** YYYY-MM-DD, UTC */
  day: string;
  user_id: string;
  messages: number;
}

/**
 * Counts posted messages per chat, UTC day and author into `counted` — pure apart from updating
 * it. Deleted messages still count (posting them was activity) and edits add nothing, so only
 * MessagePosted matters.
 */
function countAuthorDays(counted: Map<string, AuthorDay>, events: readonly BareEvent[]): void {
  for (const { type, data, stream } of events) {
    if (type !== 'MessagePosted' || !stream.startsWith('chat-')) continue;
    const posted = data as EventData<'MessagePosted'>;
    const micros = parseIsoMicros(posted.time_stamp);
    if (micros === null) continue;
    const chat_id = stream.slice('chat-'.length);
    // the UTC day as a number for the key; written out only for a new row
    const dayNumber = Math.floor(micros / MICROS_PER_DAY);
    const key = `${chat_id}/${dayNumber}/${posted.author_id}`;
    const found = counted.get(key);
    if (found) found.messages++;
    else counted.set(key, { chat_id, day: new Date(dayNumber * MILLIS_PER_DAY).toISOString().slice(0, 10), user_id: posted.author_id, messages: 1 });
  }
}

/** A batch's posted messages counted per chat, UTC day and author — pure. */
export function authorDays(events: readonly BareEvent[]): AuthorDay[] {
  const counted = new Map<string, AuthorDay>();
  countAuthorDays(counted, events);
  return [...counted.values()];
}

/**
 * Adds counts to the tables in one statement: the authors new to their (chat, day) are those the
 * insert did not find, and they raise active_users.
 */
async function addAuthorDays(tx: Knex.Transaction, rows: readonly AuthorDay[]): Promise<void> {
  // counts add up, so a large set may be added in several statements
  for (const chunk of columnChunks(rows, ['chat_id', 'day', 'user_id', 'messages'])) await addChunk(tx, chunk);
}

async function addChunk(tx: Knex.Transaction, columns: Knex.RawBinding[]): Promise<void> {
  await tx.raw(
    `WITH posted AS (
       SELECT * FROM unnest(?::uuid[], ?::date[], ?::uuid[], ?::integer[]) AS r(chat_id, day, user_id, messages)
     ), fresh AS (
       INSERT INTO rm_analytics_chat_day_users (chat_id, day, user_id)
       SELECT chat_id, day, user_id FROM posted
       ON CONFLICT DO NOTHING
       RETURNING chat_id, day
     ), per_day AS (
       SELECT p.chat_id, p.day, p.messages, coalesce(f.authors, 0) AS authors
       FROM (SELECT chat_id, day, sum(messages)::integer AS messages FROM posted GROUP BY chat_id, day) p
       LEFT JOIN (SELECT chat_id, day, count(*)::integer AS authors FROM fresh GROUP BY chat_id, day) f USING (chat_id, day)
     )
     INSERT INTO rm_analytics_chat_days AS d (chat_id, day, messages, active_users)
     SELECT chat_id, day, messages, authors FROM per_day
     ON CONFLICT (chat_id, day) DO UPDATE
       SET messages = d.messages + excluded.messages, active_users = d.active_users + excluded.active_users`,
    columns,
  );
}

/**
 * rm_analytics_chat_days: messages and active users per chat per UTC day, for analysts. One
 * statement per batch. Counts add up, so this relies on the runner applying each batch exactly
 * once (its checkpoint moves in the batch's transaction).
 */
export const analyticsProjection: Projection = {
  name: 'analytics',
  version: 1,
  tables: ['rm_analytics_chat_days', 'rm_analytics_chat_day_users'],
  eventTypes: ['MessagePosted'],
  async apply(events, tx) {
    const rows = authorDays(events);
    await addAuthorDays(tx, rows);
    // analytics answers are not cached (see src/queries/analyticsQueries.ts): nothing to make stale
    return [];
  },
  replay() {
    // counts add up, so many pages' counts written at once equal each page's written in turn
    let counted = new Map<string, AuthorDay>();
    return {
      async add(events) {
        countAuthorDays(counted, events);
      },
      get pending() {
        return counted.size;
      },
      async flush(tx) {
        const taken = [...counted.values()];
        counted = new Map();
        await addAuthorDays(tx, taken);
      },
    };
  },
};
