import type { Knex } from 'knex';
import { parseIsoMicros } from '../events/time.ts';
import type { EventStore } from '../eventstore/EventStore.ts';
import type { Projection } from './Projection.ts';

export interface StoredProjectionStatus {
  name: string;
  /** the version this code writes */
  version: number;
  /** the version the stored read model was built by (null: never started) */
  storedVersion: number | null;
  /** some process holds the projection's runner lock */
  active: boolean;
  /** some process is rebuilding it */
  rebuilding: boolean;
  checkpoint: bigint;
  head: bigint;
  /** events after the checkpoint up to the head (null when the log is not in this Postgres) */
  lagEvents: number | null;
  /** how long the oldest event not yet applied has waited (0 when caught up) */
  lagSeconds: number;
}

/** Whether a session of this database holds the advisory lock taken with hashtext(key). */
const HOLDS_LOCK = `EXISTS (SELECT 1 FROM pg_locks
  WHERE locktype = 'advisory' AND granted AND objsubid = 1
    AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
    AND classid::bigint = ((hashtext(?)::bigint >> 32) & 4294967295)
    AND objid::bigint = (hashtext(?)::bigint & 4294967295))`;

/**
 * Each projection as stored: its checkpoint against the log's head, read from the database, so
 * it answers for whichever process runs the projections. `logInPostgres`: count the lag in events.
 */
export async function projectionStatus(knex: Knex, store: EventStore, projections: readonly Projection[], logInPostgres: boolean): Promise<StoredProjectionStatus[]> {
  const head = await store.headPosition();
  const rows = await knex('projection_checkpoints').whereIn('name', projections.map((p) => p.name)).select<{ name: string; version: number; position: string }[]>('name', 'version', 'position');
  const now = Date.now() * 1000;
  return Promise.all(
    projections.map(async (projection) => {
      const row = rows.find((r) => r.name === projection.name);
      const checkpoint = row ? BigInt(row.position) : 0n;
      const locks = await knex.raw<{ rows: { active: boolean; rebuilding: boolean }[] }>(`SELECT ${HOLDS_LOCK} AS active, ${HOLDS_LOCK} AS rebuilding`, [
        `projection:${projection.name}`,
        `projection:${projection.name}`,
        `rebuild:${projection.name}`,
        `rebuild:${projection.name}`,
      ]);
      let lagEvents: number | null = 0;
      let lagSeconds = 0;
      if (checkpoint < head) {
        const [oldest] = await store.readAllBare({ after: checkpoint, maxCount: 1 });
        const waitedSince = oldest ? parseIsoMicros(oldest.recordedAt) : null;
        lagSeconds = waitedSince === null ? 0 : Math.max(0, (now - waitedSince) / 1e6);
        lagEvents = logInPostgres
          ? Number((await knex.raw<{ rows: { count: string }[] }>('SELECT count(*) AS count FROM es_events WHERE position > ? AND position <= ?', [String(checkpoint), String(head)])).rows[0]!.count)
          : null;
      }
      return {
        name: projection.name,
        version: projection.version,
        storedVersion: row?.version ?? null,
        active: locks.rows[0]!.active,
        rebuilding: locks.rows[0]!.rebuilding,
        checkpoint,
        head,
        lagEvents,
        lagSeconds,
      };
    }),
  );
}
