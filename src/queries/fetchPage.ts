import type { Knex } from 'knex';
import { prepare, runPrepared } from '../db/prepared.ts';
import type { Page, PageRequest } from './Page.ts';

export interface PageSql {
  /** the columns of a result row */
  select: string;
  /** FROM and WHERE: the whole list, counted as it is */
  from: string;
  orderBy: string;
}

interface Counted {
  __count: string;
  /** null on the one row of an empty page */
  __row: true | null;
}

/**
 * One page of a list and its full count, with named bindings (`:name`) shared by both, in one
 * prepared statement: one round trip, and the count comes along even when the page is empty.
 */
export async function fetchPage<Row>(knex: Knex, sql: PageSql, bindings: Record<string, unknown>, { limit, offset }: PageRequest): Promise<Page<Row>> {
  const statement = prepare(
    `SELECT n.__count, p.* FROM (SELECT count(*) AS __count ${sql.from}) n
     LEFT JOIN LATERAL (SELECT true AS __row, ${sql.select} ${sql.from} ORDER BY ${sql.orderBy} LIMIT :limit OFFSET :offset) p ON true`,
  );
  const rows = await runPrepared<Counted & Row>(knex, statement, { ...bindings, limit, offset });
  const results: Row[] = [];
  for (const { __count, __row, ...row } of rows) if (__row) results.push(row as Row);
  return { count: Number(rows[0]?.__count ?? 0), results };
}
