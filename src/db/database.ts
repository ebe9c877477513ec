import knexFactory, { type Knex } from 'knex';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const MIGRATIONS_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../migrations');

interface KnexLog {
  warn(message: string): void;
}

/** A knex instance; its warnings (a dropped connection, say) go to `log` rather than the console. */
export function createKnex(databaseUrl: string, { pool = { min: 0, max: 10 }, log }: { pool?: { min: number; max: number }; log?: KnexLog } = {}): Knex {
  const warn = (message: unknown) => log?.warn(String(message));
  return knexFactory({ client: 'pg', connection: databaseUrl, pool, log: { warn, error: warn, deprecate: warn, debug: () => {} } });
}

/** Brings the schema up to date; safe to run from several processes at once (knex locks its migrations table). */
export async function migrate(knex: Knex): Promise<string[]> {
  const [, applied] = await knex.migrate.latest({ directory: MIGRATIONS_DIR, loadExtensions: ['.ts'] });
  return applied as string[];
}
