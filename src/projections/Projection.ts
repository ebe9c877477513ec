import type { Knex } from 'knex';
import type { BareEvent } from '../eventstore/EventStore.ts';

/**
 * A read model: a name, a version (bump it when the code changes what it writes), the tables it
 * owns, and how a batch of events becomes writes. The runner owns subscribing, batching,
 * checkpoints, locks and rebuilds.
 */
export interface Projection {
  name: string;
  version: number;
  tables: readonly string[];
  /**
   * The event types apply() reads, when known: the runner hands it only those, and commits no
   * transaction for a batch without any (its checkpoint then moves lazily). Absent: every event.
   */
  eventTypes?: readonly string[];
  /**
   * Writes what a batch of events means, inside the runner's transaction, skipping events it does
   * not know; answers the cache scopes the batch made stale (see src/queries/QueryCache.ts).
   */
  apply(events: readonly BareEvent[], tx: Knex.Transaction): Promise<Iterable<string>>;
  /**
   * For catching up — a rebuild filling empty tables from position 0, a runner far behind — when
   * the projection can do better than apply() batch by batch: a replay folds many batches in
   * memory with apply()'s own handlers and writes each row once per flush, over whatever the
   * tables hold already. Absent: apply() it is.
   */
  replay?(): Replay;
}

/**
 * Rows a replay holds before they are written (by a rebuild, by a runner catching up): each row is
 * written once per flush, so the fewer flushes the better (the bench's million-event log: 50,000
 * chats and their members, written once), as long as the rows held (messages: about 250 bytes
 * each) stay a modest share of the heap.
 */
export const REPLAY_FLUSH_ROWS = 250_000;

/** A projection's rows folded in memory across batches, written when flushed; applying its batches one by one would leave the same tables. */
export interface Replay {
  /** Folds a batch in; reads the tables (`db`: a transaction, or outside one) only for rows it does not hold. */
  add(events: readonly BareEvent[], db: Knex): Promise<void>;
  /** rows waiting to be written */
  readonly pending: number;
  /**
   * Writes the rows waiting. It takes them before its first await: the rebuild goes on folding
   * later batches while a flush writes, and flushes again only once the last flush is done.
   */
  flush(tx: Knex.Transaction): Promise<void>;
}
