import type { Knex } from 'knex';

// The read models clients query. Each table belongs to one projection (src/projections), which
// alone writes it; time stamps are microseconds since the epoch (bigint), shown as ISO strings.
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    -- projection "users"
    CREATE TABLE rm_users (
      uuid        uuid PRIMARY KEY,
      username    text NOT NULL,
      email       text NOT NULL,
      description text NOT NULL DEFAULT '',
      photo       text,
      is_active   boolean NOT NULL DEFAULT true,
      date_joined text NOT NULL
    );
    -- substring search, any letter case, best match first
    CREATE INDEX rm_users_username_trgm ON rm_users USING gin (lower(username) gin_trgm_ops);

    -- projection "social"
    CREATE TABLE rm_friendships (
      user_id   uuid NOT NULL,
      friend_id uuid NOT NULL,
      since     text NOT NULL,
      PRIMARY KEY (user_id, friend_id)
    );
    CREATE TABLE rm_invitations (
      id      uuid PRIMARY KEY,
      from_id uuid NOT NULL,
      to_id   uuid NOT NULL,
      created text NOT NULL,
      status  text NOT NULL CHECK (status IN ('pending', 'accepted', 'rejected'))
    );
    CREATE INDEX rm_invitations_pending_to ON rm_invitations (to_id, created) WHERE status = 'pending';

    -- projection "chats"
    CREATE TABLE rm_chats (
      uuid          uuid PRIMARY KEY,
      name          text NOT NULL,
      is_group_chat boolean NOT NULL,
      admin         uuid,
      created       text NOT NULL,
      last_activity bigint NOT NULL,
      last_message  text,
      message_count integer NOT NULL DEFAULT 0
    );
    CREATE TABLE rm_chat_members (
      chat_id    uuid NOT NULL,
      user_id    uuid NOT NULL,
      read_up_to integer NOT NULL DEFAULT 0,
      PRIMARY KEY (chat_id, user_id)
    );
    CREATE INDEX rm_chat_members_user ON rm_chat_members (user_id);

    -- projection "messages"
    CREATE TABLE rm_messages (
      chat_id    uuid NOT NULL,
      id         integer NOT NULL,
      author_id  uuid NOT NULL,
      content    text NOT NULL,
      time_stamp bigint NOT NULL,
      edited_at  text,
      deleted    boolean NOT NULL DEFAULT false,
      search     tsvector GENERATED ALWAYS AS (to_tsvector('simple', content)) STORED,
      PRIMARY KEY (chat_id, id)
    );
    -- 15-message pages by time stamp, newest first
    CREATE UNIQUE INDEX rm_messages_page ON rm_messages (chat_id, time_stamp DESC);
    CREATE INDEX rm_messages_search ON rm_messages USING gin (search);
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('DROP TABLE rm_messages, rm_chat_members, rm_chats, rm_invitations, rm_friendships, rm_users;');
}
