import type { Knex } from 'knex';

// Identity: the secrets of accounts, kept out of the event log so that the log holds only what
// an auditor may read. Every account has a credentials row (password_hash null for Google-only
// accounts), so tokens and Google links reference it and go with it.
//
// Email uniqueness is enforced first by the log's reservation streams; the index on lower(email)
// is a second line, and what makes case-insensitive lookups fast.
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE TABLE identity_credentials (
      user_id       uuid PRIMARY KEY,
      email         text NOT NULL,
      password_hash text NULL,
      created_at    timestamptz NOT NULL DEFAULT now()
    );
    CREATE UNIQUE INDEX identity_credentials_email_key ON identity_credentials (lower(email));

    -- only sha256(key) is stored: a copy of this table does not let anyone in
    CREATE TABLE identity_tokens (
      id         uuid PRIMARY KEY,
      user_id    uuid NOT NULL REFERENCES identity_credentials (user_id) ON DELETE CASCADE,
      token_hash bytea NOT NULL UNIQUE,
      created_at timestamptz NOT NULL DEFAULT now(),
      revoked_at timestamptz NULL
    );
    CREATE INDEX identity_tokens_user_id ON identity_tokens (user_id);

    CREATE TABLE identity_google (
      google_sub text PRIMARY KEY,
      user_id    uuid NOT NULL REFERENCES identity_credentials (user_id) ON DELETE CASCADE,
      created_at timestamptz NOT NULL DEFAULT now()
    );
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`
    DROP TABLE identity_google;
    DROP TABLE identity_tokens;
    DROP TABLE identity_credentials;
  `);
}
