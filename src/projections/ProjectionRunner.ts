import type { Knex } from 'knex';
import pg from 'pg';
import type { EventStore, RecordedEvent } from '../eventstore/EventStore.ts';
import type { Logger } from '../log.ts';
import type { Projection } from './Projection.ts';

/** Hears a batch once it is committed, with the cache scopes it made stale. */
export type ProjectedListener = (projection: Projection, events: readonly RecordedEvent[], staleScopes: readonly string[]) => void;

export interface ProjectionStatus {
  name: string;
  version: number;
  active: boolean;
  checkpoint: bigint;
  /** when the log recorded the newest event this projection has applied (null: none yet) */
  checkpointRecordedAt: string | null;
}

const BATCH = 1000;
/** how long a batch waits for more events once it has some: short, so live events show up at once */
const GATHER_MS = 2;
const STANDBY_RETRY_MS = 1000;

/**
 * Runs projections: each subscribes to the log from its checkpoint, applies events in batches,
 * and stores the checkpoint in the same transaction as the rows, so a crash replays nothing twice
 * and loses nothing. One runner per projection is active across processes (a Postgres advisory
 * lock); others stand by. Listeners hear each batch after it commits.
 */
export class ProjectionRunner {
  private readonly checkpoints = new Map<string, bigint>();
  private readonly recordedAt = new Map<string, string>();
  private readonly active = new Set<string>();
  private readonly listeners = new Set<ProjectedListener>();
  private readonly waiters = new Set<() => void>();
  private readonly loops: Promise<void>[] = [];
  private readonly stops = new Set<() => Promise<void>>();
  private stopped = false;

  constructor(
    private readonly knex: Knex,
    private readonly databaseUrl: string,
    private readonly store: EventStore,
    readonly projections: readonly Projection[],
    private readonly log: Logger,
  ) {}

  start(): void {
    for (const projection of this.projections) this.loops.push(this.keepRunning(projection));
  }

  onProjected(listener: ProjectedListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  status(): ProjectionStatus[] {
    return this.projections.map((p) => ({
      name: p.name,
      version: p.version,
      active: this.active.has(p.name),
      checkpoint: this.checkpoints.get(p.name) ?? 0n,
      checkpointRecordedAt: this.recordedAt.get(p.name) ?? null,
    }));
  }

  /** The lowest checkpoint of this runner's projections: every read model includes the log up to it. */
  low(): bigint {
    return this.projections.reduce((low, p) => {
      const at = this.checkpoints.get(p.name) ?? 0n;
      return at < low ? at : low;
    }, BigInt(Number.MAX_SAFE_INTEGER) ** 2n);
  }

  async position(): Promise<bigint> {
    return this.low();
  }

  /** Resolves true once every projection has reached `position`, false after `timeoutMs`. */
  async reached(position: bigint, timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (this.low() < position) {
      const left = deadline - Date.now();
      if (left <= 0 || this.stopped) return false;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, left);
        function done() {
          clearTimeout(timer);
          resolve();
        }
        this.waiters.add(done);
      });
    }
    return true;
  }

  /** Lets each projection finish the batch it is writing, then stops. */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const wake of this.waiters) wake();
    await Promise.all([...this.stops].map((stop) => stop()));
    await Promise.all(this.loops);
  }

  private async keepRunning(projection: Projection): Promise<void> {
    let backoff = 100;
    while (!this.stopped) {
      const lock = new pg.Client({ connectionString: this.databaseUrl, application_name: `chat-projection-${projection.name}` });
      lock.on('error', () => {});
      try {
        await lock.connect();
        const { rows } = await lock.query<{ locked: boolean }>('SELECT pg_try_advisory_lock(hashtext($1)) AS locked', [`projection:${projection.name}`]);
        if (!rows[0]!.locked) {
          await this.pause(STANDBY_RETRY_MS);
          continue;
        }
        this.active.add(projection.name);
        await this.project(projection);
        backoff = 100;
      } catch (error) {
        this.log.error({ err: error, projection: projection.name }, 'projection failed; restarting it');
        await this.pause(backoff);
        backoff = Math.min(backoff * 2, 10_000);
      } finally {
        this.active.delete(projection.name);
        await lock.end().catch(() => {});
      }
    }
  }

  private async project(projection: Projection): Promise<void> {
    let checkpoint = await this.prepare(projection);
    this.advance(projection.name, checkpoint);
    const subscription = this.store.subscribeToAll({ after: checkpoint });
    const events = subscription[Symbol.asyncIterator]();
    let pending: Promise<IteratorResult<RecordedEvent>> | null = null;
    let writing: Promise<void> = Promise.resolve();
    const stop = async () => {
      await writing;
      await subscription.close();
    };
    this.stops.add(stop);
    try {
      while (!this.stopped) {
        const batch: RecordedEvent[] = [];
        pending ??= events.next();
        let next = await pending;
        pending = null;
        while (!next.done) {
          batch.push(next.value);
          if (batch.length === BATCH) break;
          pending = events.next();
          const more = await Promise.race([pending, delay(GATHER_MS)]);
          if (!more) break;
          pending = null;
          next = more;
        }
        if (batch.length > 0) {
          writing = this.write(projection, batch, checkpoint);
          await writing;
          checkpoint = batch[batch.length - 1]!.position;
        }
        if (next.done) break;
      }
    } finally {
      this.stops.delete(stop);
      await subscription.close();
    }
  }

  /** The stored checkpoint; a new version of a projection starts over from an empty read model. */
  private async prepare(projection: Projection): Promise<bigint> {
    const row = await this.knex('projection_checkpoints').where({ name: projection.name }).first<{ version: number; position: string } | undefined>();
    if (row && row.version === projection.version) return BigInt(row.position);
    await this.knex.transaction(async (tx) => {
      for (const table of projection.tables) await tx.raw('TRUNCATE ??', [table]);
      await tx.raw(
        `INSERT INTO projection_checkpoints (name, version, position) VALUES (?, ?, 0)
         ON CONFLICT (name) DO UPDATE SET version = excluded.version, position = 0, updated_at = now()`,
        [projection.name, projection.version],
      );
    });
    if (row) this.log.info({ projection: projection.name, from: row.version, to: projection.version }, 'projection version changed: rebuilding it from the start');
    return 0n;
  }

  private async write(projection: Projection, batch: RecordedEvent[], from: bigint): Promise<void> {
    const to = batch[batch.length - 1]!.position;
    let stale: string[] = [];
    await this.knex.transaction(async (tx) => {
      stale = [...new Set(await projection.apply(batch, tx))];
      // moves only from where this runner started: if another runner got here first, nothing is written twice
      const moved = await tx('projection_checkpoints')
        .where({ name: projection.name, position: String(from) })
        .update({ position: String(to), updated_at: tx.fn.now() });
      if (moved !== 1) throw new Error(`projection ${projection.name} moved on elsewhere; this runner stands down`);
    });
    this.advance(projection.name, to);
    this.recordedAt.set(projection.name, batch[batch.length - 1]!.recordedAt);
    for (const listener of this.listeners) {
      try {
        listener(projection, batch, stale);
      } catch (error) {
        this.log.error({ err: error, projection: projection.name }, 'a projection listener failed');
      }
    }
  }

  private advance(name: string, position: bigint): void {
    this.checkpoints.set(name, position);
    for (const wake of this.waiters) wake();
    this.waiters.clear();
  }

  private pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.waiters.add(done);
    });
  }
}

const delay = (ms: number) => new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), ms));
