import pg from 'pg';
import type { Config } from '../config.ts';
import { createKnex, migrate } from '../db/database.ts';
import { startEmbeddedPostgres, type EmbeddedDatabase } from '../db/embeddedPostgres.ts';
import { createEventStore } from '../eventstore/createEventStore.ts';
import type { Logger } from '../log.ts';
import type { CliConnection } from './CliCommand.ts';

export interface OpenConnection extends CliConnection {
  close(): Promise<void>;
}

/**
 * The database and event store a command needs, from the configuration. With no DATABASE_URL it
 * uses the embedded Postgres: the one a running `npm start` serves, when it answers, or else one
 * started here from the same data directory and stopped by `close`.
 */
export async function connect(config: Config, log: Logger): Promise<OpenConnection> {
  let embedded: EmbeddedDatabase | undefined;
  let databaseUrl = config.DATABASE_URL;
  if (!databaseUrl) {
    const running = `postgres://postgres:postgres@127.0.0.1:${config.EMBEDDED_PG_PORT}/postgres`;
    if (await answers(running)) {
      log.debug({ port: config.EMBEDDED_PG_PORT }, 'using the embedded Postgres already running');
      databaseUrl = running;
    } else {
      log.debug({ dir: config.EMBEDDED_PG_DIR, port: config.EMBEDDED_PG_PORT }, 'starting embedded Postgres');
      embedded = await startEmbeddedPostgres(config.EMBEDDED_PG_DIR, config.EMBEDDED_PG_PORT, (line) => log.debug({ postgres: line.trim() }));
      databaseUrl = embedded.url;
    }
  }
  // knex's warnings (a refused connection, with its stack) would repeat the one line main prints
  const knex = createKnex(databaseUrl, { pool: { min: 0, max: 4 }, log: { warn: (message) => log.debug({ knex: message }) } });
  try {
    await migrate(knex);
  } catch (error) {
    await knex.destroy();
    await embedded?.stop();
    throw error;
  }
  const eventStore = createEventStore({ eventstoreUrl: config.EVENTSTORE_URL, databaseUrl });
  return {
    knex,
    eventStore,
    databaseUrl,
    async close() {
      await eventStore.close().catch((error: unknown) => log.warn({ err: error }, 'closing the event store failed'));
      await knex.destroy();
      await embedded?.stop();
    },
  };
}

/** Whether a Postgres server takes a connection at `url` now. */
async function answers(url: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2000 });
  // an error event after a failed connect must not crash the process
  client.on('error', () => {});
  try {
    await client.connect();
    await client.query('SELECT 1');
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => {});
  }
}
