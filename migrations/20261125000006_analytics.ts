import type { Knex } from 'knex';

// The read models of the "analytics" projection (src/projections/analyticsProjection.ts): per chat
// and UTC day, messages posted and distinct authors; the (chat, day, user) table lets each batch
// count new authors with one insert instead of rereading the day.
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE TABLE rm_analytics_chat_days (
      chat_id      uuid NOT NULL,
      day          date NOT NULL,
      messages     integer NOT NULL,
      active_users integer NOT NULL,
      PRIMARY KEY (chat_id, day)
    );
    -- ranges over every chat: a day's rows together
    CREATE INDEX rm_analytics_chat_days_day ON rm_analytics_chat_days (day, chat_id);
    CREATE TABLE rm_analytics_chat_day_users (
      chat_id uuid NOT NULL,
      day     date NOT NULL,
      user_id uuid NOT NULL,
      PRIMARY KEY (chat_id, day, user_id)
    );
    -- distinct authors over a range of every chat
    CREATE INDEX rm_analytics_chat_day_users_day ON rm_analytics_chat_day_users (day, user_id);
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('DROP TABLE rm_analytics_chat_day_users, rm_analytics_chat_days;');
}
