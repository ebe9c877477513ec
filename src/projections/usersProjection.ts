import type { Knex } from 'knex';
import type { EventData } from '../events/catalog.ts';
import type { Projection } from './Projection.ts';

interface UserRow {
  uuid: string;
  username: string;
  email: string;
  date_joined: string;
}

async function insertUsers(tx: Knex.Transaction, rows: UserRow[]): Promise<void> {
  if (rows.length === 0) return;
  await tx.raw(
    `INSERT INTO rm_users (uuid, username, email, date_joined)
     SELECT * FROM json_to_recordset(?::json) AS r(uuid uuid, username text, email text, date_joined text)
     ON CONFLICT (uuid) DO NOTHING`,
    [JSON.stringify(rows)],
  );
  rows.length = 0;
}

/** rm_users: public profiles for user detail and search; `email` is shown only to its owner. */
export const usersProjection: Projection = {
  name: 'users',
  version: 1,
  tables: ['rm_users'],
  eventTypes: ['UserRegistered', 'UserProfileUpdated', 'UserDeactivated'],
  async apply(events, tx) {
    const stale: string[] = [];
    // registrations, most of the log's user events, go in one insert per run of them; changes in order
    const registered: UserRow[] = [];
    for (const { type, data, stream } of events) {
      if (!stream.startsWith('user-')) continue;
      const uuid = stream.slice('user-'.length);
      if (type === 'UserRegistered') {
        const user = data as EventData<'UserRegistered'>;
        registered.push({ uuid, username: user.username, email: user.email, date_joined: user.date_joined });
      } else if (type === 'UserProfileUpdated') {
        await insertUsers(tx, registered);
        await tx('rm_users').where({ uuid }).update(data as EventData<'UserProfileUpdated'>);
      } else if (type === 'UserDeactivated') {
        await insertUsers(tx, registered);
        await tx('rm_users').where({ uuid }).update({ is_active: false });
      } else continue;
      stale.push(`user:${uuid}`, 'users');
    }
    await insertUsers(tx, registered);
    return stale;
  },
};
