import pg from 'pg';
import type { EventStore } from '../../src/eventstore/EventStore.ts';
import { createPostgresEventStore } from '../../src/eventstore/postgres/PostgresEventStore.ts';

/** The services a test run found, decided once by test/run.ts and handed to specs through the environment. */
export type Service = 'postgres' | 'eventstoredb' | 'redis' | 'memcached';

const ENV: Record<Service, string> = {
  postgres: 'TEST_PG_ADMIN_URL',
  eventstoredb: 'EVENTSTORE_URL',
  redis: 'REDIS_URL',
  memcached: 'MEMCACHED_SERVERS',
};

/** Only EventStoreDB may be missing in CI: it cannot run on the build machines. */
const MAY_BE_SKIPPED_IN_CI: ReadonlySet<Service> = new Set(['eventstoredb']);

export function serviceUrl(service: Service): string | undefined {
  return process.env[ENV[service]] || undefined;
}

/**
 * Call in a suite's `before`: the service's address, or the suite is skipped saying why —
 * except in CI, where a missing service fails the run instead of passing it quietly.
 */
export function requireService(context: Mocha.Context, service: Service): string {
  const url = serviceUrl(service);
  if (url) return url;
  const why = `${service} suite skipped: set ${ENV[service]} to run it`;
  if (process.env.CI === 'true' && !MAY_BE_SKIPPED_IN_CI.has(service)) throw new Error(`${why} (a skipped service suite fails CI)`);
  skippedSuites.add(why);
  context.skip();
}

/** Shared through globalThis: the runner and the specs may not see one instance of this module. */
export const skippedSuites: Set<string> = ((globalThis as { skippedSuites?: Set<string> }).skippedSuites ??= new Set());

let counter = 0;

export interface TestDatabase {
  url: string;
  drop(): Promise<void>;
}

/** A new database cloned from the run's migrated template: each suite gets its own log and read models. */
export async function freshDatabase(): Promise<TestDatabase> {
  const adminUrl = process.env.TEST_PG_ADMIN_URL!;
  const template = process.env.TEST_PG_TEMPLATE!;
  const name = `${template.replace('_tpl_', '_t_')}_${++counter}`;
  await adminQuery(adminUrl, `CREATE DATABASE ${name} TEMPLATE ${template}`);
  const url = withDatabase(adminUrl, name);
  return { url, drop: async () => void (await adminQuery(adminUrl, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)) };
}

export function withDatabase(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${database}`;
  return parsed.toString();
}

/** how the tests' own admin connections name themselves, so tests that kill connections can spare them */
export const ADMIN_APPLICATION = 'chat-test-admin';

export async function adminQuery(url: string, sql: string): Promise<pg.QueryResult> {
  const client = new pg.Client({ connectionString: url, application_name: ADMIN_APPLICATION });
  await client.connect();
  try {
    return await client.query(sql);
  } finally {
    await client.end();
  }
}

/** A suite's own database and Postgres event store, made before its tests and dropped after them. */
export function eventStoreFixture(): { db: TestDatabase; store: EventStore } {
  const fixture = {} as { db: TestDatabase; store: EventStore };
  before(async () => {
    fixture.db = await freshDatabase();
    fixture.store = createPostgresEventStore(fixture.db.url);
  });
  after(async () => {
    await fixture.store.close();
    await fixture.db.drop();
  });
  return fixture;
}
