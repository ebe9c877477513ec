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
const SECOND_BATCH_MIN = 8;
const MAX_ATTEMPTS = 20;
const UNIQUE_VIOLATION = '23505';
const CAREFUL_AFTER_CONFLICT = 100;

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
  private scheduled: NodeJS.Immediate | null = null;
  private carefulBatches = 0;
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
      // start batches once the current turn of the event loop is over, so every append it makes joins them
      this.scheduled ??= setImmediate(() => {
        this.scheduled = null;
        this.pump();
      });
    });
  }

  /** Resolves once every append queued so far has been written or refused. */
  drain(): Promise<void> {
    if (this.inFlight === 0 && this.queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idle.push(resolve));
  }

  private pump(): void {
    while (this.inFlight < CONCURRENT_BATCHES) {
      // a second batch only pays when enough is waiting; a few appends are better off joining the next one
      if (this.inFlight > 0 && this.queue.length < SECOND_BATCH_MIN) break;
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
    let i = 0;
    // once the batch is full the rest of the queue stays as it is, unscanned
    for (; i < this.queue.length && batch.length < this.maxBatch; i++) {
      const waiting = this.queue[i]!;
      if (!this.busyStreams.has(waiting.stream) && !blocked.has(waiting.stream)) batch.push(waiting);
      else {
        blocked.add(waiting.stream);
        rest.push(waiting);
      }
    }
    this.queue = i === this.queue.length ? rest : rest.concat(this.queue.slice(i));
    return batch;
  }

  /** Writes a batch, planning again the appends of streams whose heads proved stale, until all are decided. */
  private async commit(batch: readonly PendingAppend[]): Promise<AppendOutcome[]> {
    const outcomes: AppendOutcome[] = new Array(batch.length);
    let pending = batch.map((_, i) => i);
    const unknown = [...new Set(batch.map((a) => a.stream))].filter((s) => !this.heads.has(s));
    if (unknown.length > 0) await this.learn(unknown);
    let stored = new Map<string, StoredId>();
    // after a conflict, the next batches start careful too: other writers are busy on these streams
    let careful = this.carefulBatches > 0;
    this.carefulBatches = Math.max(0, this.carefulBatches - 1);
    for (let attempt = 1; pending.length > 0; attempt++) {
      if (attempt > MAX_ATTEMPTS) {
        const error = new EventStoreError('append_contention', `the stream kept changing under this append; gave up after ${MAX_ATTEMPTS} tries`);
        for (const i of pending) outcomes[i] = { ok: false, error };
        break;
      }
      const appends = pending.map((i) => batch[i]!);
      const round = await this.write(appends, stored, careful).catch((error) => {
        // a stale head or an id stored already (a repeat nobody knew of) met a unique key and nothing
        // was written: from now on check every head and id first, and write what is known
        if ((error as { code?: string }).code !== UNIQUE_VIOLATION) throw error;
        careful = true;
        this.carefulBatches = CAREFUL_AFTER_CONFLICT;
        return { outcomes: [], retry: appends.map((_, j) => j), stored };
      });
      round.outcomes.forEach((outcome, j) => {
        if (outcome) outcomes[pending[j]!] = outcome;
      });
      pending = round.retry.map((j) => pending[j]!);
      stored = round.stored;
    }
    return outcomes;
  }

  private async learn(streams: string[]): Promise<void> {
    const { rows } = await this.pool.query<{ state: BatchState }>('SELECT es_batch_state($1, $2) AS state', [streams, []]);
    for (const head of rows[0]!.state.heads) this.rememberRow(head);
  }

  /**
   * One round trip: writes the appends whose stream heads were as believed, decides them, and
   * names the others (by index) to be planned again from the truth the answer brought.
   */
  private async write(appends: readonly PendingAppend[], known: ReadonlyMap<string, StoredId>, careful: boolean) {
    const believed = new Map(appends.map((a) => [a.stream, this.heads.get(a.stream) ?? null]));
    const plan = planBatch(appends, believed, known);
    // each row is the event's canonical body (already made for its hash) with the hash and its place in the batch
    const rows = `[${plan.rows.map((r) => `${r.body.slice(0, -1)},"hash":"${r.metadata.hash}","offset":${r.offset}}`).join(',')}]`;
    // what the batch writes is guarded by the unique keys; what it refused must be checked
    const written = new Set(plan.rows.map((r) => r.stream));
    const heads = [...believed].filter(([stream]) => careful || !written.has(stream)).map(([stream, head]) => ({ stream, revision: head ? Number(head.revision) : null }));
    const ids = appends.filter((_, j) => careful || !plan.outcomes[j]!.ok).flatMap((a) => a.events.map((e) => e.id));
    const { rows: answer } = await this.pool.query<{ answer: { base: string; stale: BatchState['heads']; stored: BatchState['stored'] } }>('SELECT es_append_batch($1, $2, $3, $4) AS answer', [
      rows,
      JSON.stringify(heads),
      ids,
      careful,
    ]);
    const { base, stale, stored } = answer[0]!.answer;

    const storedIds = new Map(known);
    for (const s of stored) storedIds.set(s.id, { stream: s.stream, revision: BigInt(s.revision), position: BigInt(s.position) });
    // the same rule the function applied: a stream is skipped when its head was stale or one of its rows was stored
    const skipped = new Set(stale.map((h) => h.stream));
    for (const row of plan.rows) if (storedIds.has(row.id.toLowerCase()) && !known.has(row.id.toLowerCase())) skipped.add(row.stream);
    for (const head of stale) this.rememberRow(head);
    for (const [stream, head] of plan.heads) if (!skipped.has(stream)) this.remember(stream, head);

    const retry: number[] = [];
    const outcomes = plan.outcomes.map((outcome, j): AppendOutcome | undefined => {
      const append = appends[j]!;
      const unknownRepeat = !outcome.ok && append.events.some((e) => storedIds.has(e.id.toLowerCase()) && !known.has(e.id.toLowerCase()));
      if (skipped.has(append.stream) || unknownRepeat) {
        retry.push(j);
        return undefined;
      }
      return outcome.ok && outcome.relative ? { ...outcome, result: { ...outcome.result, position: BigInt(base) + outcome.result.position } } : outcome;
    });
    return { outcomes, retry, stored: storedIds };
  }

  private rememberRow(head: BatchState['heads'][number]): void {
    this.remember(head.stream, head.revision === null ? null : { revision: BigInt(head.revision), hash: head.hash });
  }

  private remember(stream: string, head: StreamHead | null): void {
    this.heads.delete(stream);
    this.heads.set(stream, head);
    // a Map iterates in insertion order, so the first key is the least recently written stream
    if (this.heads.size > CACHED_STREAMS) this.heads.delete(this.heads.keys().next().value!);
  }
}
