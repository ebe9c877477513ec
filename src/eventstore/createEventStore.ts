import type { EventStore } from './EventStore.ts';
import { createEventStoreDbEventStore } from './eventstoredb/EventStoreDbEventStore.ts';
import { createPostgresEventStore } from './postgres/PostgresEventStore.ts';

/** EventStoreDB when it is configured, else the Postgres event store beside the read models. */
export function createEventStore(config: { eventstoreUrl?: string | undefined; databaseUrl: string }): EventStore {
  return config.eventstoreUrl ? createEventStoreDbEventStore(config.eventstoreUrl) : createPostgresEventStore(config.databaseUrl);
}
