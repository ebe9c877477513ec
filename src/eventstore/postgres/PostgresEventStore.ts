import pg from 'pg';
import type { AppendResult, EventStore, ExpectedRevision, NewEvent, ReadAllOptions, ReadStreamOptions, RecordedEvent } from '../EventStore.ts';
import { validateAppend } from '../validateAppend.ts';
import { AppendBatcher } from './AppendBatcher.ts';
import { subscribeToPostgres } from './subscribeToPostgres.ts';

export const EVENT_COLUMNS = `position, id, stream, revision, type, data::text AS data, metadata::text AS metadata,
  to_char(recorded_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS recorded_at`;

export interface EventRow {
  position: string;
  id: string;
  stream: string;
  revision: string;
  type: string;
  data: string;
  metadata: string;
  recorded_at: string;
}

export function toRecordedEvent(row: EventRow): RecordedEvent {
  return {
    id: row.id,
    type: row.type,
    data: JSON.parse(row.data),
    metadata: JSON.parse(row.metadata),
    stream: row.stream,
    revision: BigInt(row.revision),
    position: BigInt(row.position),
    recordedAt: row.recorded_at,
  };
}

export const DEFAULT_READ_COUNT = 4096;

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
    const { rows } = await pool.query<EventRow>(`SELECT ${EVENT_COLUMNS} FROM es_events WHERE position > $1 ORDER BY position LIMIT $2`, [
      String(after),
      maxCount,
    ]);
    return rows.map(toRecordedEvent);
  }

  return {
    async append(stream: string, events: readonly NewEvent[], expected: ExpectedRevision): Promise<AppendResult> {
      validateAppend(stream, events, expected);
      return batcher.append({ stream, events, expected });
    },

    async readStream(stream, { direction = 'forwards', fromRevision, maxCount = DEFAULT_READ_COUNT }: ReadStreamOptions = {}) {
      const forwards = direction === 'forwards';
      const from = fromRevision ?? (forwards ? 0n : BigInt(Number.MAX_SAFE_INTEGER));
      const { rows } = await pool.query<EventRow>(
        `SELECT ${EVENT_COLUMNS} FROM es_events WHERE stream = $1 AND revision ${forwards ? '>=' : '<='} $2
         ORDER BY revision ${forwards ? 'ASC' : 'DESC'} LIMIT $3`,
        [stream, String(from), maxCount],
      );
      return rows.map(toRecordedEvent);
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
      const { rows } = await pool.query<{ position: string }>('SELECT position FROM es_head');
      return BigInt(rows[0]?.position ?? 0);
    },

    async close() {
      await Promise.all([...subscriptions].map((s) => s.close()));
      await batcher.drain();
      await pool.end();
    },
  };
}
