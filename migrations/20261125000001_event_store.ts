import type { Knex } from 'knex';

// The Postgres event store. Writers serialize on the single es_head row, which hands out
// dense global positions in commit order: a reader that has seen position N has seen every
// position below it, so no subscriber can skip an event that commits late.
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE TABLE es_events (
      position    bigint PRIMARY KEY,
      id          uuid NOT NULL UNIQUE,
      stream      text NOT NULL,
      revision    bigint NOT NULL,
      type        text NOT NULL,
      data        jsonb NOT NULL,
      metadata    jsonb NOT NULL,
      recorded_at timestamptz NOT NULL DEFAULT clock_timestamp(),
      UNIQUE (stream, revision)
    );
    CREATE TABLE es_head (
      singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
      position  bigint NOT NULL
    );
    INSERT INTO es_head (position) VALUES (0);
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('DROP TABLE es_head; DROP TABLE es_events;');
}
