import type { Knex } from 'knex';

// Chat rows and members' read marks are updated on nearly every message: room left in each page
// lets those updates stay on the page (HOT), writing no index entries and leaving no dead tuples
// in the indexes. Pages written from now on keep the room; a rebuild writes all of them so.
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    ALTER TABLE rm_chats SET (fillfactor = 80);
    ALTER TABLE rm_chat_members SET (fillfactor = 80);
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`
    ALTER TABLE rm_chats RESET (fillfactor);
    ALTER TABLE rm_chat_members RESET (fillfactor);
  `);
}
