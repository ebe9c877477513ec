import type { Knex } from 'knex';
import type { Page, PageRequest } from './Page.ts';

export interface PageSql {
  /** the columns of a result row */
  select: string;
  /** FROM and WHERE: the whole list, counted as it is */
  from: string;
  orderBy: string;
}

/** One page of a list and its full count, with named bindings (`:name`) shared by both queries. */
export async function fetchPage<Row>(knex: Knex, sql: PageSql, bindings: Record<string, unknown>, { limit, offset }: PageRequest): Promise<Page<Row>> {
  const [rows, counted] = await Promise.all([
    knex.raw(`SELECT ${sql.select} ${sql.from} ORDER BY ${sql.orderBy} LIMIT :limit OFFSET :offset`, { ...bindings, limit, offset }),
    knex.raw(`SELECT count(*) AS count ${sql.from}`, bindings),
  ]);
  return { count: Number(counted.rows[0].count), results: rows.rows as Row[] };
}
