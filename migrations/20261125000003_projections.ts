import type { Knex } from 'knex';

// Where each projection has got to. A projection writes its rows and its checkpoint in one
// transaction, so after a crash it resumes exactly where its last committed batch ended.
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE EXTENSION IF NOT EXISTS pg_trgm;
    CREATE TABLE projection_checkpoints (
      name       text PRIMARY KEY,
      version    integer NOT NULL,
      position   bigint NOT NULL,
      updated_at timestamptz NOT NULL DEFAULT now()
    );
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('DROP TABLE projection_checkpoints;');
}
