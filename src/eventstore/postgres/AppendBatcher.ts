import type pg from 'pg';
import type { AppendResult } from '../EventStore.ts';
import { planBatch, type AppendOutcome, type PendingAppend, type StoredId, type StreamHead } from './planBatch.ts';

interface Waiting extends PendingAppend {
  resolve(result: AppendResult): void;
  reject(error: unknown): void;
}

/** The heads of a batch's streams and which of its event ids are stored, as es_batch_state answers. */
interface BatchState {
  heads: { stream: string; revision: string | null; hash: string | null }[];
  stored: { id: string; stream: string; revision: string; position: string }[];
}

type Queryable = Pick<pg.PoolClient, 'query'>;

const CACHED_STREAMS = 50_000;
/** batches on the wire at once: the next is planned while the last is being written */
const PIPELINE = 2;
const UNIQUE_VIOLATION = '23505';

/**
 * Group commit: appends that arrive while a batch is being written wait and then share the next
 * transaction, as EventStoreDB batches writes, so one fsync serves them all. Batches are planned
 * from the stream heads this process expects (including those of the batch still in flight) and
 * written with one function call that refuses a plan made from a stale head; a refused batch is
 * planned again under the writers' lock, where nothing can change under it.
 */
export class AppendBatcher {
  private queue: Waiting[] = [];
  private inFlight = 0;
  private idle: (() => void)[] = [];
  /** expected head per stream; null: known not to exist */
  private readonly heads = new Map<string, StreamHead | null>();

  constructor(
    private readonly pool: pg.Pool,
    private readonly maxBatch: number,
  ) {}

  append(append: PendingAppend): Promise<AppendResult> {
    return new Promise((resolve, reject) => {
      this.queue.push({ ...append, resolve, reject });
      this.pump();
    });
  }

  /** Resolves once every append queued so far has been written or refused. */
  drain(): Promise<void> {
    if (this.inFlight === 0 && this.queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idle.push(resolve));
  }

  private pump(): void {
    while (this.inFlight < PIPELINE && this.queue.length > 0) {
      const batch = this.queue.splice(0, this.maxBatch);
      this.inFlight++;
      this.commit(batch)
        .then(
          (outcomes) => outcomes.forEach((outcome, i) => (outcome.ok ? batch[i]!.resolve(outcome.result) : batch[i]!.reject(outcome.error))),
          // nothing of the batch was written; callers may retry with the same event ids
          (error) => batch.forEach((waiting) => waiting.reject(error)),
        )
        .finally(() => {
          this.inFlight--;
          this.pump();
          if (this.inFlight === 0 && this.queue.length === 0) for (const resolve of this.idle.splice(0)) resolve();
        });
    }
  }

  private async commit(batch: readonly PendingAppend[]): Promise<AppendOutcome[]> {
    const streams = [...new Set(batch.map((a) => a.stream))];
    const unknown = streams.filter((s) => !this.heads.has(s));
    if (unknown.length > 0) await this.learn(this.pool, unknown, []);
    try {
      const outcomes = await this.write(this.pool, batch, new Map());
      if (outcomes) return outcomes;
    } catch (error) {
      if ((error as { code?: string }).code !== UNIQUE_VIOLATION) throw error;
      this.forget(streams);
    }

    // another writer got to these streams first, or these ids were stored before: plan again under the lock
    const client = await this.pool.connect();
    let broken: Error | undefined;
    try {
      await client.query('BEGIN');
      await client.query('SELECT 1 FROM es_head FOR UPDATE');
      const stored = await this.learn(client, streams, batch.flatMap((a) => a.events.map((e) => e.id.toLowerCase())));
      const outcomes = await this.write(client, batch, stored);
      if (!outcomes) throw new Error('the event store changed under its own lock');
      await client.query('COMMIT');
      return outcomes;
    } catch (error) {
      broken = error as Error;
      await client.query('ROLLBACK').catch(() => {});
      this.forget(streams);
      throw error;
    } finally {
      client.release(broken);
    }
  }

  /** Reads the heads of `streams` into the cache, and returns which of `ids` are stored. */
  private async learn(db: Queryable, streams: string[], ids: string[]): Promise<Map<string, StoredId>> {
    const { rows } = await db.query<{ state: BatchState }>('SELECT es_batch_state($1, $2) AS state', [streams, ids]);
    const { heads, stored } = rows[0]!.state;
    for (const head of heads) this.remember(head.stream, head.revision === null ? null : { revision: BigInt(head.revision), hash: head.hash });
    return new Map(stored.map((s) => [s.id, { stream: s.stream, revision: BigInt(s.revision), position: BigInt(s.position) }]));
  }

  /** Writes the batch as planned from the expected heads; null when they proved stale. */
  private async write(db: Queryable, batch: readonly PendingAppend[], stored: ReadonlyMap<string, StoredId>): Promise<AppendOutcome[] | null> {
    const believed = new Map(batch.map((a) => [a.stream, this.heads.get(a.stream) ?? null]));
    const plan = planBatch(batch, believed, stored);
    const check = {
      heads: [...believed].map(([stream, head]) => ({ stream, revision: head ? Number(head.revision) : null })),
      ids: batch.filter((_, i) => !plan.outcomes[i]!.ok).flatMap((a) => a.events.map((e) => e.id)).filter((id) => !stored.has(id.toLowerCase())),
    };
    const rows = plan.rows.map((r) => ({ id: r.id, stream: r.stream, revision: Number(r.revision), type: r.type, data: r.data, metadata: r.metadata }));
    // the next batch may be planned while this one is on the wire: it expects these heads
    for (const [stream, head] of plan.heads) this.remember(stream, head);
    const { rows: answer } = await db.query<{ base: string | null }>('SELECT es_append_batch($1, $2) AS base', [JSON.stringify(rows), JSON.stringify(check)]);
    const base = answer[0]!.base;
    if (base === null) {
      this.forget(believed.keys());
      return null;
    }
    return plan.outcomes.map((o) => (o.ok && o.relative ? { ...o, result: { ...o.result, position: BigInt(base) + o.result.position } } : o));
  }

  private remember(stream: string, head: StreamHead | null): void {
    this.heads.delete(stream);
    this.heads.set(stream, head);
    // a Map iterates in insertion order, so the first key is the least recently written stream
    if (this.heads.size > CACHED_STREAMS) this.heads.delete(this.heads.keys().next().value!);
  }

  private forget(streams: Iterable<string>): void {
    for (const stream of streams) this.heads.delete(stream);
  }
}
