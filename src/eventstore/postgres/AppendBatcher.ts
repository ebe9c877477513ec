import type pg from 'pg';
import type { AppendResult } from '../EventStore.ts';
import { EventStoreError } from '../errors.ts';
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

const CACHED_STREAMS = 50_000;
/** batches written at once, on separate connections; their streams never overlap */
const CONCURRENT_BATCHES = 2;
const MAX_ATTEMPTS = 10;
/** another writer created the same stream at the same moment, or the two deadlocked: plan again */
const RETRYABLE = new Set(['23505', '40P01']);

/**
 * Group commit: appends that arrive while batches are being written wait and then share the
 * next transaction, as EventStoreDB batches writes, so one fsync serves them all. A batch is
 * planned from the stream heads this process last saw and written by one function call that
 * refuses a plan made from a stale head; then the batch learns the truth and is planned again.
 */
export class AppendBatcher {
  private queue: Waiting[] = [];
  private readonly busyStreams = new Set<string>();
  private inFlight = 0;
  private idle: (() => void)[] = [];
  /** last known head per stream; null: known not to exist */
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
    while (this.inFlight < CONCURRENT_BATCHES) {
      const batch = this.takeBatch();
      if (batch.length === 0) break;
      const streams = new Set(batch.map((a) => a.stream));
      for (const stream of streams) this.busyStreams.add(stream);
      this.inFlight++;
      this.commit(batch)
        .then(
          (outcomes) => outcomes.forEach((outcome, i) => (outcome.ok ? batch[i]!.resolve(outcome.result) : batch[i]!.reject(outcome.error))),
          // nothing of the batch was written; callers may retry with the same event ids
          (error) => batch.forEach((waiting) => waiting.reject(error)),
        )
        .finally(() => {
          this.inFlight--;
          for (const stream of streams) this.busyStreams.delete(stream);
          this.pump();
          if (this.inFlight === 0 && this.queue.length === 0) for (const resolve of this.idle.splice(0)) resolve();
        });
    }
  }

  /** The oldest waiting appends whose streams no batch in flight is writing: each stream's appends stay in order. */
  private takeBatch(): Waiting[] {
    const batch: Waiting[] = [];
    const rest: Waiting[] = [];
    const blocked = new Set<string>();
    for (const waiting of this.queue) {
      const free = batch.length < this.maxBatch && !this.busyStreams.has(waiting.stream) && !blocked.has(waiting.stream);
      if (free) batch.push(waiting);
      else {
        blocked.add(waiting.stream);
        rest.push(waiting);
      }
    }
    this.queue = rest;
    return batch;
  }

  private async commit(batch: readonly PendingAppend[]): Promise<AppendOutcome[]> {
    const streams = [...new Set(batch.map((a) => a.stream))];
    const unknown = streams.filter((s) => !this.heads.has(s));
    let stored = unknown.length > 0 ? await this.learn(unknown, []) : new Map<string, StoredId>();
    for (let attempt = 1; ; attempt++) {
      try {
        const outcomes = await this.write(batch, stored);
        if (outcomes) return outcomes;
      } catch (error) {
        if (!RETRYABLE.has((error as { code?: string }).code ?? '')) throw error;
      }
      if (attempt === MAX_ATTEMPTS) throw new EventStoreError('append_contention', `streams kept changing under this batch; gave up after ${attempt} tries`);
      // another writer got to these streams first, or these ids were stored before; a random pause
      // keeps writers that collided from colliding again in step
      await new Promise((resolve) => setTimeout(resolve, Math.random() * 2 ** attempt));
      stored = await this.learn(streams, batch.flatMap((a) => a.events.map((e) => e.id.toLowerCase())));
    }
  }

  /** Reads the heads of `streams` into the cache, and returns which of `ids` are stored. */
  private async learn(streams: string[], ids: string[]): Promise<Map<string, StoredId>> {
    const { rows } = await this.pool.query<{ state: BatchState }>('SELECT es_batch_state($1, $2) AS state', [streams, ids]);
    const { heads, stored } = rows[0]!.state;
    for (const head of heads) this.remember(head.stream, head.revision === null ? null : { revision: BigInt(head.revision), hash: head.hash });
    return new Map(stored.map((s) => [s.id, { stream: s.stream, revision: BigInt(s.revision), position: BigInt(s.position) }]));
  }

  /** Writes the batch as planned from the known heads; null when they proved stale. */
  private async write(batch: readonly PendingAppend[], stored: ReadonlyMap<string, StoredId>): Promise<AppendOutcome[] | null> {
    const believed = new Map(batch.map((a) => [a.stream, this.heads.get(a.stream) ?? null]));
    const plan = planBatch(batch, believed, stored);
    const written = new Set(plan.rows.map((r) => r.stream));
    const refused = {
      heads: [...believed].filter(([stream]) => !written.has(stream)).map(([stream, head]) => ({ stream, revision: head ? Number(head.revision) : null })),
      ids: batch.filter((_, i) => !plan.outcomes[i]!.ok).flatMap((a) => a.events.map((e) => e.id)).filter((id) => !stored.has(id.toLowerCase())),
    };
    // each row is the event's canonical body (already made for its hash) with the hash beside it
    const rows = `[${plan.rows.map((r) => `${r.body.slice(0, -1)},"hash":"${r.metadata.hash}"}`).join(',')}]`;
    const { rows: answer } = await this.pool.query<{ base: string | null }>('SELECT es_append_batch($1, $2) AS base', [rows, JSON.stringify(refused)]);
    const base = answer[0]!.base;
    if (base === null) return null;
    for (const [stream, head] of plan.heads) this.remember(stream, head);
    return plan.outcomes.map((o) => (o.ok && o.relative ? { ...o, result: { ...o.result, position: BigInt(base) + o.result.position } } : o));
  }

  private remember(stream: string, head: StreamHead | null): void {
    this.heads.delete(stream);
    this.heads.set(stream, head);
    // a Map iterates in insertion order, so the first key is the least recently written stream
    if (this.heads.size > CACHED_STREAMS) this.heads.delete(this.heads.keys().next().value!);
  }
}
