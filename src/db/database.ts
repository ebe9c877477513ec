import knexFactory, { type Knex } from 'knex';
import pg from 'pg';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const MIGRATIONS_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../migrations');

interface KnexLog {
  warn(message: string): void;
}

interface KnexOptions {
  pool?: { min: number; max: number };
  log?: KnexLog;
  /** server settings for every session, such as synchronous_commit */
  settings?: Record<string, string>;
}

/** A knex instance; its warnings (a dropped connection, say) go to `log` rather than the console. */
export function createKnex(databaseUrl: string, { pool = { min: 0, max: 10 }, log, settings }: KnexOptions = {}): Knex {
  const warn = (message: unknown) => log?.warn(String(message));
  const options = Object.entries(settings ?? {}).map(([name, value]) => `-c ${name}=${value}`);
  const connection = options.length > 0 ? { connectionString: databaseUrl, options: options.join(' ') } : databaseUrl;
  return knexFactory({ client: 'pg', connection, pool, log: { warn, error: warn, deprecate: warn, debug: () => {} } });
}

/**
 * Brings the schema up to date. Replicas starting together take turns on an advisory lock: knex's
 * own lock makes a second runner fail ("already locked") rather than wait.
 */
export async function migrate(knex: Knex): Promise<string[]> {
  // knex holds the connection settings parsed from the URL, the password as a non-enumerable
  // property (kept out of logs), which a spread alone would drop
  const connection = knex.client.config.connection as pg.ClientConfig;
  const lock = new pg.Client({ ...connection, password: connection.password, application_name: 'chat-migrations' });
  await lock.connect();
  try {
    await lock.query('SELECT pg_advisory_lock(hashtext($1))', ['chat-backend:migrations']);
    const [, applied] = await knex.migrate.latest({ directory: MIGRATIONS_DIR, loadExtensions: ['.ts'] });
    return applied as string[];
  } finally {
    await lock.end();
  }
}
