import type { Knex } from 'knex';
import { createHash } from 'node:crypto';
import type pg from 'pg';

/** SQL with named parameters (`:name`), turned once into a named pg statement with positional ones. */
export interface Prepared {
  name: string;
  text: string;
  /** the parameter name of each $n */
  params: string[];
}

const compiled = new Map<string, Prepared>();

/**
 * Compiles `:name` parameters to `$n` (a `::type` cast is left alone) and names the statement after
 * its text, so each connection parses and plans it once rather than on every call.
 */
export function prepare(sql: string): Prepared {
  let found = compiled.get(sql);
  if (!found) {
    const params: string[] = [];
    const text = sql.replace(/(?<!:):([a-zA-Z_]\w*)/g, (_, param: string) => {
      const at = params.indexOf(param);
      if (at >= 0) return `$${at + 1}`;
      params.push(param);
      return `$${params.length}`;
    });
    found = { name: `p_${createHash('sha1').update(text).digest('base64url').slice(0, 20)}`, text, params };
    compiled.set(sql, found);
  }
  return found;
}

/**
 * Runs a prepared statement on a connection of knex's pool: no query building per call, and a
 * named statement that the server parses once per connection. Rows come as pg gives them.
 */
export async function runPrepared<Row>(knex: Knex, statement: Prepared, bindings: Record<string, unknown>): Promise<Row[]> {
  const values = statement.params.map((param) => {
    const value = bindings[param];
    if (value === undefined) throw new Error(`no value for :${param} in ${statement.name}`);
    return value;
  });
  const client = knex.client as { acquireConnection(): Promise<pg.Client>; releaseConnection(connection: pg.Client): Promise<void> };
  const connection = await client.acquireConnection();
  try {
    const result = await connection.query<Row & pg.QueryResultRow>({ name: statement.name, text: statement.text, values });
    return result.rows;
  } finally {
    await client.releaseConnection(connection);
  }
}
