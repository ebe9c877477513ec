import pg from 'pg';
import type { AppendResult, BareEvent, EventStore, ExpectedRevision, NewEvent, ReadAllOptions, ReadStreamOptions, RecordedEvent, Subscription } from '../EventStore.ts';
import { validateAppend } from '../validateAppend.ts';
import { AppendBatcher } from './AppendBatcher.ts';
import { subscribeToPostgres } from './subscribeToPostgres.ts';

const RECORDED_AT = `to_char(recorded_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS recorded_at`;
export const EVENT_COLUMNS = `position, id, stream, revision, type, data::text, metadata::text, ${RECORDED_AT}`;
/** EVENT_COLUMNS less the metadata */
const BARE_COLUMNS = `position, id, stream, revision, type, data::text, ${RECORDED_AT}`;

/** EVENT_COLUMNS in order; rows come as arrays, which spares pg building an object per row. */
export type EventRow = [position: string, id: string, stream: string, revision: string, type: string, data: string, metadata: string, recordedAt: string];
type BareRow = [position: string, id: string, stream: string, revision: string, type: string, data: string, recordedAt: string];

export function toRecordedEvent([position, id, stream, revision, type, data, metadata, recordedAt]: EventRow): RecordedEvent {
  return { id, type, data: JSON.parse(data), metadata: JSON.parse(metadata), stream, revision: BigInt(revision), position: BigInt(position), recordedAt };
}

function toBareEvent([position, id, stream, revision, type, data, recordedAt]: BareRow): BareEvent {
  return { id, type, data: JSON.parse(data), stream, revision: BigInt(revision), position: BigInt(position), recordedAt };
}

type Queryable = Pick<pg.ClientBase, 'query'>;

/** Runs a query over es_events, its rows read as arrays and turned into events by `toEvent`. */
async function queryRows<Row extends unknown[], E>(db: Queryable, text: string, values: unknown[], toEvent: (row: Row) => E): Promise<E[]> {
  const { rows } = await db.query<Row>({ text, values, rowMode: 'array' });
  return rows.map(toEvent);
}

/** Runs a query over es_events whose columns are EVENT_COLUMNS. */
export const queryEvents = (db: Queryable, text: string, values: unknown[]): Promise<RecordedEvent[]> => queryRows(db, text, values, toRecordedEvent);

export const DEFAULT_READ_COUNT = 4096;

/**
 * Events after $1 in global order, up to the horizon below which no append is still running. The
 * page is read by the primary key, then cut at the horizon, which is computed once for the
 * statement (it reads pg_locks): as a bound or a filter inside, it made the planner guess the
 * range small and sort all of it for each page.
 */
const readAllSql = (columns: string) => `SELECT * FROM (SELECT ${columns} FROM es_events WHERE position > $1 ORDER BY position LIMIT $2) page
  WHERE position <= (SELECT es_horizon()) ORDER BY position`;
const READ_ALL = readAllSql(EVENT_COLUMNS);
const READ_ALL_BARE = readAllSql(BARE_COLUMNS);

/** Reads up to `count` events after `after`, in global order, below the horizon: with their metadata or without. */
export type PageReader<E extends BareEvent> = (db: Queryable, after: bigint, count: number) => Promise<E[]>;

export const readPage: PageReader<RecordedEvent> = (db, after, count) => queryEvents(db, READ_ALL, [String(after), count]);

export const readBarePage: PageReader<BareEvent> = (db, after, count) => queryRows(db, READ_ALL_BARE, [String(after), count], toBareEvent);

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

  /** Subscribes from `after` with `read`, and closes the subscription when the store closes. */
  function subscribe<E extends BareEvent>(after: bigint, read: PageReader<E>): Subscription<E> {
    const subscription = subscribeToPostgres(databaseUrl, after, read);
    subscriptions.add(subscription);
    return {
      [Symbol.asyncIterator]: () => subscription[Symbol.asyncIterator](),
      get caughtUp() {
        return subscription.caughtUp;
      },
      close: async () => {
        subscriptions.delete(subscription);
        await subscription.close();
      },
    };
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

    readAll: ({ after = 0n, maxCount = DEFAULT_READ_COUNT }: ReadAllOptions = {}) => readPage(pool, after, maxCount),
    readAllBare: ({ after = 0n, maxCount = DEFAULT_READ_COUNT }: ReadAllOptions = {}) => readBarePage(pool, after, maxCount),
    subscribeToAll: ({ after = 0n } = {}) => subscribe(after, readPage),
    subscribeToAllBare: ({ after = 0n } = {}) => subscribe(after, readBarePage),

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
