import type { Knex } from 'knex';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';

type CopyValue = string | number | boolean | null;

/** characters COPY's text format escapes */
const SPECIAL = /[\\\t\n\r]/g;
const ESCAPED: Record<string, string> = { '\\': '\\\\', '\t': '\\t', '\n': '\\n', '\r': '\\r' };

/** A value as COPY's text format reads it: null as \N, the separators and the escape character escaped. */
const copyText = (value: CopyValue): string => (value === null ? '\\N' : typeof value === 'string' ? value.replace(SPECIAL, (c) => ESCAPED[c]!) : String(value));

/** text handed to COPY at once */
const CHUNK_CHARS = 64 * 1024;

/**
 * Writes `rows` into `table` with one COPY on the transaction's connection: the cheapest way for
 * Postgres to take many rows (250,000 messages: 3.4 s, against 8 s as unnest() inserts).
 */
export async function copyRows<T>(tx: Knex.Transaction, table: string, rows: readonly T[], keys: readonly (keyof T & string)[]): Promise<void> {
  if (rows.length === 0) return;
  // a transaction's client hands out the transaction's own connection, and releasing it is a no-op
  const connection = (await tx.client.acquireConnection()) as pg.ClientBase;
  const copy = connection.query(copyFrom(`COPY ${table} (${keys.join(', ')}) FROM STDIN`));
  async function* lines() {
    let text = '';
    for (const row of rows) {
      text += `${keys.map((key) => copyText(row[key] as CopyValue)).join('\t')}\n`;
      if (text.length >= CHUNK_CHARS) {
        yield text;
        text = '';
      }
    }
    if (text.length > 0) yield text;
  }
  await pipeline(Readable.from(lines()), copy);
}
