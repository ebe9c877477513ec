import pg from 'pg';
import type { AppendResult, EventStore, ExpectedRevision, NewEvent, ReadAllOptions, ReadStreamOptions, RecordedEvent } from '../EventStore.ts';
import { validateAppend } from '../validateAppend.ts';
import { AppendBatcher } from './AppendBatcher.ts';
import { subscribeToPostgres } from './subscribeToPostgres.ts';

export const EVENT_COLUMNS = `position, id, stream, revision, type, data::text, metadata::text,
  to_char(recorded_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS recorded_at`;

/** EVENT_COLUMNS in order; rows come as arrays, which spares pg building an object per row. */
export type EventRow = [position: string, id: string, stream: string, revision: string, type: string, data: string, metadata: string, recordedAt: string];

export function toRecordedEvent([position, id, stream, revision, type, data, metadata, recordedAt]: EventRow): RecordedEvent {
  return { id, type, data: JSON.parse(data), metadata: JSON.parse(metadata), stream, revision: BigInt(revision), position: BigInt(position), recordedAt };
}

/** Runs a query over es_events whose columns are EVENT_COLUMNS. */
export async function queryEvents(db: Pick<pg.ClientBase, 'query'>, text: string, values: unknown[]): Promise<RecordedEvent[]> {
  const { rows } = await db.query<EventRow>({ text, values, rowMode: 'array' });
  return rows.map(toRecordedEvent);
}

export const DEFAULT_READ_COUNT = 4096;

/**
 * Events after $1 in global order, up to the horizon below which no append is still running. The
 * page is read by the primary key, then cut at the horizon, which is computed once for the
 * statement (it reads pg_locks): as a bound or a filter inside, it made the planner guess the
 * range small and sort all of it for each page.
 */
export const READ_ALL = `SELECT * FROM (SELECT ${EVENT_COLUMNS} FROM es_events WHERE position > $1 ORDER BY position LIMIT $2) page
  WHERE position <= (SELECT es_horizon()) ORDER BY position`;

export interface PostgresEventStoreOptions {
  /** connections for reads and the append batcher */
  poolSize?: number;
  /** most appends that share one transaction */
  maxBatch?: number;
}

/** The default event store: the es_events table of migrations/, appends batched into shared transactions. */
export function createPostgresEventStore(databaseUrl: string, options: PostgresEventStoreOptions = {}): EventStore {
  const pool = new pg.Pool({ connectionString: databaseUrl, max: options.poolSize ?? 4, application_name: 'chat-event-store' });
  // an idle client dropped by the server must not take the process down; the pool replaces it
  pool.on('error', () => {});
  const batcher = new AppendBatcher(pool, options.maxBatch ?? 512);
  const subscriptions = new Set<{ close(): Promise<void> }>();

  async function readAll({ after = 0n, maxCount = DEFAULT_READ_COUNT }: ReadAllOptions = {}): Promise<RecordedEvent[]> {
    return queryEvents(pool, READ_ALL, [String(after), maxCount]);
  }

  return {
    async append(stream: string, events: readonly NewEvent[], expected: ExpectedRevision): Promise<AppendResult> {
      validateAppend(stream, events, expected);
      return batcher.append({ stream, events, expected });
    },

    async readStream(stream, { direction = 'forwards', fromRevision, maxCount = DEFAULT_READ_COUNT }: ReadStreamOptions = {}) {
      // a stream's revisions are dense, so a page is a closed range of them: the index serves it
      // even when the table's statistics are stale (after a bulk import, say)
      if (direction === 'forwards') {
        const from = fromRevision ?? 0n;
        return queryEvents(pool, `SELECT ${EVENT_COLUMNS} FROM es_events WHERE stream = $1 AND revision BETWEEN $2 AND $3 ORDER BY revision`, [
          stream,
          String(from),
          String(from + BigInt(maxCount) - 1n),
        ]);
      }
      if (fromRevision === undefined) {
        return queryEvents(pool, `SELECT ${EVENT_COLUMNS} FROM es_events WHERE stream = $1 ORDER BY stream DESC, revision DESC LIMIT $2`, [stream, maxCount]);
      }
      return queryEvents(pool, `SELECT ${EVENT_COLUMNS} FROM es_events WHERE stream = $1 AND revision BETWEEN $2 AND $3 ORDER BY revision DESC`, [
        stream,
        String(fromRevision - BigInt(maxCount) + 1n),
        String(fromRevision),
      ]);
    },

    readAll,

    subscribeToAll({ after = 0n } = {}) {
      const subscription = subscribeToPostgres(databaseUrl, after);
      subscriptions.add(subscription);
      return {
        [Symbol.asyncIterator]: () => subscription[Symbol.asyncIterator](),
        close: async () => {
          subscriptions.delete(subscription);
          await subscription.close();
        },
      };
    },

    async headPosition() {
      const { rows } = await pool.query<{ position: string }>('SELECT coalesce(max(position), 0) AS position FROM es_events WHERE position <= (SELECT es_horizon())');
      return BigInt(rows[0]!.position);
    },

    async close() {
      await Promise.all([...subscriptions].map((s) => s.close()));
      await batcher.drain();
      await pool.end();
    },
  };
}
