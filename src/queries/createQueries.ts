import type { Knex } from 'knex';
import { analyticsQueries } from './analyticsQueries.ts';
import { chatQueries } from './chatQueries.ts';
import { userQueries } from './userQueries.ts';

/** Every read-only query of the REST contract and the gateway, over the read models. */
export function createQueries(knex: Knex) {
  return { ...userQueries(knex), ...chatQueries(knex), ...analyticsQueries(knex) };
}

export type Queries = ReturnType<typeof createQueries>;
