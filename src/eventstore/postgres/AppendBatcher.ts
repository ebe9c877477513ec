import type pg from 'pg';
import type { AppendResult } from '../EventStore.ts';
import { planBatch, type PendingAppend, type StreamHead, type StoredId } from './planBatch.ts';

interface Waiting extends PendingAppend {
  resolve(result: AppendResult): void;
  reject(error: unknown): void;
}

/**
 * Group commit: appends that arrive while a transaction is committing wait and then share the
 * next one, as EventStoreDB batches writes. One transaction costs one fsync whether it holds one
 * append or hundreds, which is what lets concurrent writers go far past Postgres' commit rate.
 */
export class AppendBatcher {
  private queue: Waiting[] = [];
  private running: Promise<void> | null = null;

  constructor(
    private readonly pool: pg.Pool,
    private readonly maxBatch: number,
  ) {}

  append(append: PendingAppend): Promise<AppendResult> {
    return new Promise((resolve, reject) => {
      this.queue.push({ ...append, resolve, reject });
      this.running ??= this.run();
    });
  }

  /** Resolves once every append queued so far has been written or refused. */
  async drain(): Promise<void> {
    while (this.running) await this.running;
  }

  private async run(): Promise<void> {
    try {
      while (this.queue.length > 0) {
        const batch = this.queue.splice(0, this.maxBatch);
        try {
          const outcomes = await this.commit(batch);
          outcomes.forEach((outcome, i) => (outcome.ok ? batch[i]!.resolve(outcome.result) : batch[i]!.reject(outcome.error)));
        } catch (error) {
          // the transaction rolled back, so none of the batch was written; callers may retry by event id
          for (const waiting of batch) waiting.reject(error);
        }
      }
    } finally {
      this.running = null;
    }
  }

  private async commit(batch: readonly PendingAppend[]) {
    const client = await this.pool.connect();
    let broken: Error | undefined;
    try {
      await client.query('BEGIN');
      // the row lock on es_head serializes writers across processes, so positions commit in order
      const head = await client.query<{ position: string }>('SELECT position FROM es_head FOR UPDATE');
      const streams = [...new Set(batch.map((a) => a.stream))];
      const ids = batch.flatMap((a) => a.events.map((e) => e.id));
      const known = await client.query<{ kind: 'head' | 'id'; key: string; stream: string; revision: string; position: string; hash: string | null }>(
        `SELECT 'head' AS kind, s.stream AS key, s.stream, e.revision, e.position, e.metadata->>'hash' AS hash
           FROM unnest($1::text[]) AS s(stream)
           CROSS JOIN LATERAL (SELECT revision, position, metadata FROM es_events WHERE stream = s.stream ORDER BY revision DESC LIMIT 1) e
         UNION ALL
         SELECT 'id', lower(id::text), stream, revision, position, NULL FROM es_events WHERE id = ANY($2::uuid[])`,
        [streams, ids],
      );
      const heads = new Map<string, StreamHead>();
      const storedIds = new Map<string, StoredId>();
      for (const row of known.rows) {
        if (row.kind === 'head') heads.set(row.key, { revision: BigInt(row.revision), hash: row.hash });
        else storedIds.set(row.key, { stream: row.stream, revision: BigInt(row.revision), position: BigInt(row.position) });
      }
      const plan = planBatch(batch, heads, storedIds, BigInt(head.rows[0]!.position));
      if (plan.rows.length > 0) {
        await client.query(
          `WITH written AS (
             INSERT INTO es_events (position, id, stream, revision, type, data, metadata)
             SELECT * FROM unnest($1::bigint[], $2::uuid[], $3::text[], $4::bigint[], $5::text[], $6::jsonb[], $7::jsonb[])
           ), moved AS (UPDATE es_head SET position = $8)
           SELECT pg_notify('es_events', $8::text)`,
          [
            plan.rows.map((r) => String(r.position)),
            plan.rows.map((r) => r.id),
            plan.rows.map((r) => r.stream),
            plan.rows.map((r) => String(r.revision)),
            plan.rows.map((r) => r.type),
            plan.rows.map((r) => JSON.stringify(r.data)),
            plan.rows.map((r) => JSON.stringify(r.metadata)),
            String(plan.headPosition),
          ],
        );
      }
      await client.query('COMMIT');
      return plan.outcomes;
    } catch (error) {
      broken = error as Error;
      await client.query('ROLLBACK').catch(() => {});
      throw error;
    } finally {
      client.release(broken);
    }
  }
}
