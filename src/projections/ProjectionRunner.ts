import type { Knex } from 'knex';
import pg from 'pg';
import type { BareEvent, EventStore } from '../eventstore/EventStore.ts';
import type { Logger } from '../log.ts';
import { GENERATION_SCOPE } from '../queries/QueryCache.ts';
import { EventFeed } from './EventFeed.ts';
import { REPLAY_FLUSH_ROWS, type Projection, type Replay } from './Projection.ts';
import { rebuildProjections } from './rebuildProjections.ts';

/**
 * Hears each batch once the projection's checkpoint has passed it (committed, nothing in it for
 * that projection, or applied by a rebuild's swap). Every projection hears every event; after a
 * restart it may hear one again (take them by position).
 */
export type ProjectedListener = (projection: Projection, events: readonly BareEvent[]) => void;

/** Hears the cache scopes a committed batch made stale. */
export type StaleListener = (staleScopes: readonly string[]) => void;

export interface ProjectionStatus {
  name: string;
  version: number;
  active: boolean;
  checkpoint: bigint;
  /** when the log recorded the newest event this projection has applied (null: none yet) */
  checkpointRecordedAt: string | null;
}

/** events per batch at most: large while catching up, a live batch is whatever arrived meanwhile */
const BATCH = 5000;
const READ_AHEAD = 3 * BATCH;
/** how long a batch waits for more events once it has some: short, so live events show up at once */
const GATHER_MS = 2;
const STANDBY_RETRY_MS = 1000;
/** a lock query unanswered this long means the connection holding the locks is gone */
const LOCK_QUERY_TIMEOUT_MS = 10_000;
/**
 * How soon a checkpoint that moved over events its projection ignores is stored: seldom while
 * catching up, soon once live (processes serving queries without a runner read the stored ones).
 */
const LAZY_CHECKPOINT_MS = 1000;
const LIVE_CHECKPOINT_MS = 20;
const REBUILD_RETRY_MS = 5000;
/**
 * A projection catching up writes what it folded once its replay holds REPLAY_FLUSH_ROWS rows (a
 * chat list row that every batch touches is written once per write), or once it has folded this
 * many events: its checkpoint moves with the write, so a restart folds at most these again.
 */
const CATCH_UP_EVENTS = 500_000;
/** past every position: no listener wants events */
const NO_EVENTS = 2n ** 63n;
/** events a catch-up keeps for listeners (the log's new events, to push) before it writes: they wait for that write */
const CATCH_UP_KEPT = 100_000;

/**
 * Runs `work` for every projection and fails with the first failure once all are done: a session
 * never ends while a projection still writes (its checkpoint would move under the next session).
 */
async function eachOf(projections: readonly Projection[], work: (projection: Projection) => Promise<void>): Promise<void> {
  const results = await Promise.allSettled(projections.map(work));
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
}

/** The checkpoint row is not where this runner left it: another runner or a rebuild moved it. */
class MovedOn extends Error {}
/** The session must start over (a new projection to run, a moved checkpoint it cannot follow). */
class Restart extends Error {}

/**
 * Where a batch stands in the log. Behind: far from the log's head, so the projection starts
 * catching up — the batch is full, or the batches taken since the subscription last said it was
 * not behind add up to a full one (a reading slower than the runner hands over short batches
 * however far behind it is; a live burst of less than a batch stays live). At its head: short, and
 * the reading has reached the log's end, which ends a catch-up. Short while the reading fell
 * behind the folding for a moment: neither.
 */
interface Pace {
  behind: boolean;
  atHead: boolean;
}

/** A projection catching up through its replay. */
interface CatchUp {
  replay: Replay;
  /** how many events were folded since the last write took the replay's rows, and the last of them */
  folded: number;
  last: BareEvent | null;
  /** those of them a listener is to be handed once they are written (see keptAfter) */
  kept: BareEvent[];
  /** the write under way (or the last one): the next waits for it */
  writing: Promise<void>;
}

/**
 * Runs projections over one shared reading of the log: each batch is handed to every projection,
 * which applies the events it reads in a transaction of its own that also moves its checkpoint, so
 * a crash replays nothing twice and loses nothing. A batch with nothing for a projection costs it
 * no transaction; its checkpoint is stored with its next real batch or within a second (replaying
 * ignored events is harmless). One runner per projection is active across processes (a Postgres
 * advisory lock); others stand by. A projection whose version changed is rebuilt in shadow tables
 * while its old read model keeps serving (see rebuildProjections.ts).
 */
export class ProjectionRunner {
  private readonly checkpoints = new Map<string, bigint>();
  /** the position stored in the checkpoint row, as far as this runner knows */
  private readonly stored = new Map<string, bigint>();
  private readonly storedAt = new Map<string, number>();
  private readonly recordedAt = new Map<string, string>();
  private readonly active = new Set<string>();
  private readonly rebuilding = new Map<string, Promise<void>>();
  private readonly catchingUp = new Map<string, CatchUp>();
  /** each listener, and the position after which it is handed events */
  private readonly listeners = new Map<ProjectedListener, bigint>();
  private readonly staleListeners = new Set<StaleListener>();
  private readonly waiters = new Set<() => void>();
  private readonly stops = new Set<() => Promise<void>>();
  private loop: Promise<void> | null = null;
  private restartWanted = false;
  private stopped = false;

  constructor(
    private readonly knex: Knex,
    private readonly databaseUrl: string,
    private readonly store: EventStore,
    readonly projections: readonly Projection[],
    private readonly log: Logger,
    /** rows a catching-up projection's replay holds before they are written (tests write more often) */
    private readonly catchUpRows = REPLAY_FLUSH_ROWS,
  ) {}

  start(): void {
    this.loop ??= this.keepRunning();
  }

  /**
   * `listener` hears every batch, with its events after `eventsAfter` (default: all of them). A
   * projection far behind keeps the events its listeners will hear until it writes them, and only
   * those: the gateway pushes what came after it started, so the catch-up at a start keeps only
   * what the log adds meanwhile. Add listeners before start(): one added while a projection
   * catches up does not hear the events folded before it that no other listener wanted.
   */
  onProjected(listener: ProjectedListener, { eventsAfter = 0n }: { eventsAfter?: bigint } = {}): () => void {
    this.listeners.set(listener, eventsAfter);
    return () => this.listeners.delete(listener);
  }

  onStale(listener: StaleListener): () => void {
    this.staleListeners.add(listener);
    return () => this.staleListeners.delete(listener);
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

  /**
   * The lowest checkpoint of this runner's projections: every read model includes the log up to it.
   * One being rebuilt is left out — it serves its old tables meanwhile, and waiting for it would
   * hold every push and read-your-writes query until its swap.
   */
  low(): bigint {
    const counted = this.projections.filter((p) => !this.rebuilding.has(p.name));
    return (counted.length > 0 ? counted : this.projections).reduce((low, p) => {
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
      await this.pause(left);
    }
    return true;
  }

  /** Lets each projection finish the batch it is writing, stores the checkpoints, then stops. */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const wake of this.waiters) wake();
    await Promise.all([...this.stops].map((stop) => stop()));
    await this.loop;
    await Promise.allSettled(this.rebuilding.values());
  }

  private async keepRunning(): Promise<void> {
    let backoff = 100;
    while (!this.stopped) {
      // a query that gets no answer (a connection dropped without a word) fails, and the locks count as lost
      const lock = new pg.Client({ connectionString: this.databaseUrl, application_name: 'chat-projections', query_timeout: LOCK_QUERY_TIMEOUT_MS });
      let lost = false;
      lock.on('error', () => void (lost = true));
      lock.on('end', () => void (lost = true));
      // one query at a time on the lock connection: a session's checks may still run when the loop takes locks again
      let lockWork: Promise<unknown> = Promise.resolve();
      const onLock = <T>(work: () => Promise<T>): Promise<T> => {
        const run = lockWork.then(work);
        lockWork = run.catch(() => {});
        return run;
      };
      const held: Projection[] = [];
      try {
        await lock.connect();
        while (!this.stopped && !lost) {
          await onLock(() => this.lockFree(lock, held));
          const running = held.filter((p) => !this.rebuilding.has(p.name));
          if (running.length === 0) {
            await this.pause(STANDBY_RETRY_MS);
            continue;
          }
          this.restartWanted = false;
          let nextCheck = Date.now() + STANDBY_RETRY_MS;
          await this.session(running, () => {
            if (lost || this.restartWanted) return true;
            if (Date.now() >= nextCheck) {
              nextCheck = Date.now() + STANDBY_RETRY_MS;
              // the locks still free are tried; holding them all, the connection is asked whether it is
              // still there: had it gone silently, the server would free the locks for another runner
              const check =
                held.length < this.projections.length
                  ? onLock(() => this.lockFree(lock, held)).then((more) => void (more && (this.restartWanted = true)))
                  : onLock(() => lock.query('SELECT 1'));
              check.catch(() => void (lost = true));
            }
            return false;
          });
          backoff = 100;
        }
        if (lost && !this.stopped) throw new Error('the connection holding the projection locks was lost');
      } catch (error) {
        this.log.error({ err: error, projections: held.map((p) => p.name) }, 'projections failed; restarting them');
        await this.pause(backoff);
        backoff = Math.min(backoff * 2, 10_000);
      } finally {
        // another runner may take a lock given up, and move the rows on: what this one heard no longer counts
        for (const p of held) {
          this.active.delete(p.name);
          this.checkpoints.delete(p.name);
        }
        await lockWork;
        await lock.end().catch(() => {});
      }
    }
  }

  /**
   * Takes the advisory lock of each projection no runner is running; true when it got any. Calls
   * never overlap (onLock): a session's advisory locks stack, so a lock taken twice would be run once
   * but given back once.
   */
  private async lockFree(lock: pg.Client, held: Projection[]): Promise<boolean> {
    let more = false;
    for (const projection of this.projections) {
      if (held.includes(projection)) continue;
      const key = `projection:${projection.name}`;
      const { rows } = await lock.query<{ locked: boolean }>('SELECT pg_try_advisory_lock(hashtext($1)) AS locked', [key]);
      if (!rows[0]!.locked) continue;
      held.push(projection);
      this.active.add(projection.name);
      more = true;
    }
    return more;
  }

  /** One reading of the log from the lowest checkpoint, each batch applied by every projection. */
  private async session(projections: Projection[], shouldEnd: () => boolean): Promise<void> {
    const running: Projection[] = [];
    for (const projection of projections) if (await this.prepare(projection)) running.push(projection);
    if (running.length === 0) return;
    const from = running.reduce((low, p) => (this.checkpoints.get(p.name)! < low ? this.checkpoints.get(p.name)! : low), this.checkpoints.get(running[0]!.name)!);
    const subscription = this.store.subscribeToAllBare({ after: from });
    const feed = new EventFeed(subscription, READ_AHEAD);
    let writing: Promise<unknown> = Promise.resolve();
    const stop = async () => {
      await writing.catch(() => {});
      await Promise.all([subscription.close(), feed.close()]);
    };
    this.stops.add(stop);
    try {
      // events taken while the subscription said more was right behind them
      let takenBehind = 0;
      while (!this.stopped && !shouldEnd()) {
        const unstored = running.some((p) => this.checkpoints.get(p.name) !== this.stored.get(p.name));
        const batch = await feed.take(BATCH, GATHER_MS, unstored ? LIVE_CHECKPOINT_MS : STANDBY_RETRY_MS / 4);
        if (batch === null) break;
        if (batch.length === 0) {
          // nothing came: at the log's head, a catch-up is over; a reading slower than the folding for a moment ends nothing
          if (feed.caughtUp) await eachOf(running, (p) => this.finishCatchUp(p));
          await eachOf(running, (p) => this.storeLazily(p, LIVE_CHECKPOINT_MS));
          continue;
        }
        const full = batch.length === BATCH;
        takenBehind = feed.behind ? takenBehind + batch.length : 0;
        const pace: Pace = { behind: full || takenBehind >= BATCH, atHead: !full && feed.caughtUp };
        writing = eachOf(running, (p) => this.applyBatch(p, batch, pace));
        await writing;
      }
      await eachOf(running, (p) => this.finishCatchUp(p));
      await eachOf(running, (p) => this.storeLazily(p, 0));
    } catch (error) {
      if (!(error instanceof Restart)) throw error;
    } finally {
      // what a failed session folded is read again from the stored checkpoints, once no write is under way
      await Promise.allSettled(running.map((p) => this.catchingUp.get(p.name)?.writing));
      for (const p of running) this.catchingUp.delete(p.name);
      this.stops.delete(stop);
      await Promise.all([subscription.close(), feed.close()]);
    }
  }

  /**
   * Reads the stored checkpoint; true when the projection can run now. A new projection starts
   * from 0 on its (new, empty) tables; a new version is rebuilt in shadow tables meanwhile.
   */
  private async prepare(projection: Projection): Promise<boolean> {
    let row = await this.knex('projection_checkpoints').where({ name: projection.name }).first<{ version: number; position: string } | undefined>();
    if (!row) {
      await this.knex.raw('INSERT INTO projection_checkpoints (name, version, position) VALUES (?, ?, 0) ON CONFLICT (name) DO NOTHING', [projection.name, projection.version]);
      row = await this.knex('projection_checkpoints').where({ name: projection.name }).first<{ version: number; position: string }>();
    }
    const position = BigInt(row!.position);
    // while this runner has held the projection's lock, only a rebuild's swap moves its row forward:
    // the events it covered are still to be handed over, from where the handing over is (applyBatch)
    const heard = this.checkpoints.get(projection.name);
    const swapped = heard !== undefined && heard < position && row!.version === projection.version;
    this.checkpoints.set(projection.name, swapped ? heard : position);
    this.stored.set(projection.name, position);
    this.storedAt.set(projection.name, Date.now());
    if (row!.version === projection.version) return true;
    this.log.info({ projection: projection.name, from: row!.version, to: projection.version }, 'projection version changed: rebuilding it in shadow tables');
    const rebuild = rebuildProjections({ knex: this.knex, store: this.store, databaseUrl: this.databaseUrl, projections: [projection], log: this.log, shouldStop: () => this.stopped })
      .then(({ position }) => {
        // with every projection rebuilding, nobody handed over what the log added meanwhile (it is in the
        // rebuilt tables): as after any swap, the next session hands it over, so its pushes go out.
        // Otherwise the running projections did, and this one carries on from the swap's checkpoint.
        if (!this.projections.every((p) => this.rebuilding.has(p.name))) this.checkpoints.set(projection.name, position);
        this.log.info({ projection: projection.name }, 'projection rebuilt and swapped in');
      })
      .catch(async (error) => {
        if (this.stopped) return;
        this.log.error({ err: error, projection: projection.name }, 'projection rebuild failed; retrying it');
        await this.pause(REBUILD_RETRY_MS);
      })
      .finally(() => {
        this.rebuilding.delete(projection.name);
        this.restartWanted = true;
        for (const wake of this.waiters) wake();
      });
    this.rebuilding.set(projection.name, rebuild);
    return false;
  }

  private async applyBatch(projection: Projection, batch: readonly BareEvent[], pace: Pace): Promise<void> {
    const name = projection.name;
    const cursor = this.checkpoints.get(name)!;
    const last = batch[batch.length - 1]!;
    if (last.position <= cursor) return;
    const swapped = this.stored.get(name)!;
    if (swapped > cursor) {
      // a rebuild's swap stored a checkpoint beyond what this runner has handed over: the events up
      // to it are in the rebuilt tables, so they are only handed over (their pushes still go out)
      const rebuilt = batch.filter((e) => e.position > cursor && e.position <= swapped);
      if (rebuilt.length > 0) this.passed(projection, rebuilt, []);
      // the batch reached the swap's checkpoint, so nothing up to it is still to come
      if (last.position >= swapped) this.advance(name, swapped);
      if (last.position <= swapped) return;
      return this.applyBatch(projection, batch, pace);
    }
    const covered = batch[0]!.position > cursor ? batch : batch.filter((e) => e.position > cursor);
    const types = projection.eventTypes;
    const mine = types ? covered.filter((e) => types.includes(e.type)) : covered;
    if (projection.replay && (pace.behind || this.catchingUp.has(name))) return this.foldBatch(projection, covered, mine, pace);
    if (mine.length === 0) {
      this.passed(projection, covered, []);
      await this.storeLazily(projection, pace.behind ? LAZY_CHECKPOINT_MS : LIVE_CHECKPOINT_MS);
      return;
    }
    let stale: string[] = [];
    try {
      await this.knex.transaction(async (tx) => {
        // the checkpoint row first: a rebuild's swap locks it before the tables, so neither waits for the other's second lock;
        // it moves only from where this runner left it, so two runners never write a batch twice
        await this.moveCheckpoint(tx, name, last.position);
        stale = [...new Set(await projection.apply(mine, tx))];
      });
    } catch (error) {
      if (!(error instanceof MovedOn)) throw error;
      await this.rejoin(projection);
      // a rebuild's swap applied the log as far as it read it, which may stop short of this batch
      // (read from the log after it): what the swap did not cover goes onto the rebuilt tables now
      return this.applyBatch(projection, batch, pace);
    }
    this.stored.set(name, last.position);
    this.storedAt.set(name, Date.now());
    this.passed(projection, covered, stale);
  }

  /**
   * Far behind, a projection with a replay folds batches in memory and writes them
   * when its replay holds enough rows, it has folded CATCH_UP_EVENTS events or kept CATCH_UP_KEPT
   * for listeners (while it folds the next ones), and once it reaches the log's head: each row once per write
   * rather than once per batch (a chat list row, say, that every batch touches).
   */
  private async foldBatch(projection: Projection, covered: readonly BareEvent[], mine: readonly BareEvent[], pace: Pace): Promise<void> {
    let catchUp = this.catchingUp.get(projection.name);
    if (!catchUp) this.catchingUp.set(projection.name, (catchUp = { replay: projection.replay!(), folded: 0, last: null, kept: [], writing: Promise.resolve() }));
    const { replay } = catchUp;
    // folding reads only what is committed, and writes nothing: no transaction of its own
    if (mine.length > 0) await replay.add(mine, this.knex);
    catchUp.folded += covered.length;
    catchUp.last = covered[covered.length - 1]!;
    const keptAfter = this.keptAfter();
    for (const event of covered) if (event.position > keptAfter) catchUp.kept.push(event);
    if (pace.atHead) return this.finishCatchUp(projection);
    if (replay.pending < this.catchUpRows && catchUp.folded < CATCH_UP_EVENTS && catchUp.kept.length < CATCH_UP_KEPT) return;
    // one write at a time, so checkpoints move in order; this one goes on while the next batches fold
    await catchUp.writing;
    await this.startWrite(projection, catchUp);
  }

  /** Writes what a projection catching up has folded, and ends its catch-up. */
  private async finishCatchUp(projection: Projection): Promise<void> {
    const catchUp = this.catchingUp.get(projection.name);
    if (!catchUp) return;
    await catchUp.writing;
    this.catchingUp.delete(projection.name);
    if (catchUp.folded === 0) return;
    await this.startWrite(projection, catchUp);
    await catchUp.writing;
  }

  /**
   * Starts writing the replay's rows with the checkpoint of the last event folded, in one
   * transaction; resolves once the replay has taken its rows (no batch is folded meanwhile, so
   * they are exactly those of the events up to that checkpoint). The write goes on in `writing`.
   */
  private startWrite(projection: Projection, catchUp: CatchUp): Promise<void> {
    const name = projection.name;
    const { kept, last } = catchUp as CatchUp & { last: BareEvent };
    [catchUp.folded, catchUp.last, catchUp.kept] = [0, null, []];
    return new Promise<void>((taken, failed) => {
      catchUp.writing = this.knex
        .transaction(async (tx) => {
          // the checkpoint row first, as in applyBatch; a replay takes its rows when flush() is called
          await this.moveCheckpoint(tx, name, last.position);
          const flushing = catchUp.replay.flush(tx);
          taken();
          await flushing;
        })
        .then(
          () => {
            this.stored.set(name, last.position);
            this.storedAt.set(name, Date.now());
            // a replay does not tell which cached answers it made stale: after a catch-up write, all are
            this.passed(projection, kept, [GENERATION_SCOPE], last);
          },
          async (error: unknown) => {
            if (!(error instanceof MovedOn)) throw error;
            // moved by a rebuild or another runner while folding: what was folded is dropped, and the
            // session starts over from the stored checkpoints
            await this.rejoin(projection);
            throw new Restart();
          },
        );
      catchUp.writing.catch(failed); // before the rows were taken: the fold fails; after: the next write or the finish meets it
    });
  }

  /** Stores a checkpoint that moved over ignored events, once the last store is `afterMs` old. */
  private async storeLazily(projection: Projection, afterMs: number): Promise<void> {
    const name = projection.name;
    const at = this.checkpoints.get(name)!;
    // below the stored checkpoint while a swap's events are handed over: never store it backwards
    if (at <= this.stored.get(name)! || Date.now() - this.storedAt.get(name)! < afterMs) return;
    try {
      await this.moveCheckpoint(this.knex, name, at);
      this.stored.set(name, at);
      this.storedAt.set(name, Date.now());
    } catch (error) {
      if (!(error instanceof MovedOn)) throw error;
      await this.rejoin(projection);
    }
  }

  private async moveCheckpoint(db: Knex | Knex.Transaction, name: string, to: bigint): Promise<void> {
    const moved = await db('projection_checkpoints')
      .where({ name, position: String(this.stored.get(name)) })
      .update({ position: String(to), updated_at: db.fn.now() });
    if (moved !== 1) throw new MovedOn();
  }

  /**
   * The checkpoint moved elsewhere: a rebuild swapped its read model in (carry on from its
   * checkpoint, and make every cached answer stale), or another runner took over (start over).
   */
  private async rejoin(projection: Projection): Promise<void> {
    const row = await this.knex('projection_checkpoints').where({ name: projection.name }).first<{ version: number; position: string } | undefined>();
    const stored = this.stored.get(projection.name)!;
    if (!row || row.version !== projection.version || BigInt(row.position) < stored) {
      this.log.info({ projection: projection.name }, 'projection checkpoint moved elsewhere; starting over from it');
      throw new Restart();
    }
    const position = BigInt(row.position);
    this.log.info({ projection: projection.name, position: String(position) }, 'projection was rebuilt elsewhere; carrying on from its checkpoint');
    this.stored.set(projection.name, position);
    this.storedAt.set(projection.name, Date.now());
    // events up to the rebuild's checkpoint were applied by the rebuild, and are handed over as the
    // log brings them (applyBatch): the checkpoint in memory, which pushes follow, moves only then
    this.notify(projection, [], [GENERATION_SCOPE]);
  }

  private passed(projection: Projection, events: readonly BareEvent[], stale: readonly string[], last = events[events.length - 1]!): void {
    this.recordedAt.set(projection.name, last.recordedAt);
    this.advance(projection.name, last.position);
    this.notify(projection, events, stale);
  }

  private notify(projection: Projection, events: readonly BareEvent[], stale: readonly string[]): void {
    const heard = (hear: () => void) => {
      try {
        hear();
      } catch (error) {
        this.log.error({ err: error, projection: projection.name }, 'a projection listener failed');
      }
    };
    for (const [listener, after] of this.listeners) {
      const wanted = events.length === 0 || events[0]!.position > after ? events : events.filter((e) => e.position > after);
      heard(() => listener(projection, wanted));
    }
    if (stale.length > 0) for (const listener of this.staleListeners) heard(() => listener(stale));
  }

  /** the position after which some listener is handed events (none: past any position) */
  private keptAfter(): bigint {
    let low = NO_EVENTS;
    for (const after of this.listeners.values()) if (after < low) low = after;
    return low;
  }

  private advance(name: string, position: bigint): void {
    this.checkpoints.set(name, position);
    for (const wake of this.waiters) wake();
    this.waiters.clear();
  }

  private pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      const waiters = this.waiters;
      function done() {
        clearTimeout(timer);
        waiters.delete(done);
        resolve();
      }
      this.waiters.add(done);
    });
  }
}
