import knexFactory, { type Knex } from 'knex';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const MIGRATIONS_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../migrations');

export function createKnex(databaseUrl: string, pool = { min: 0, max: 10 }): Knex {
  return knexFactory({ client: 'pg', connection: databaseUrl, pool });
}

/** Brings the schema up to date; safe to run from several processes at once (knex locks its migrations table). */
export async function migrate(knex: Knex): Promise<string[]> {
  const [, applied] = await knex.migrate.latest({ directory: MIGRATIONS_DIR, loadExtensions: ['.ts'] });
  return applied as string[];
}
