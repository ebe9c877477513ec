import type { Knex } from 'knex';
import type { RecordedEvent } from '../eventstore/EventStore.ts';

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
  apply(events: readonly RecordedEvent[], tx: Knex.Transaction): Promise<Iterable<string>>;
}
