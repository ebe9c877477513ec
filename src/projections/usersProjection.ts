import type { EventData } from '../events/catalog.ts';
import type { Projection } from './Projection.ts';

/** rm_users: public profiles for user detail and search; `email` is shown only to its owner. */
export const usersProjection: Projection = {
  name: 'users',
  version: 1,
  tables: ['rm_users'],
  eventTypes: ['UserRegistered', 'UserProfileUpdated', 'UserDeactivated'],
  async apply(events, tx) {
    const stale: string[] = [];
    for (const { type, data, stream } of events) {
      if (!stream.startsWith('user-')) continue;
      const uuid = stream.slice('user-'.length);
      if (type === 'UserRegistered') {
        const user = data as EventData<'UserRegistered'>;
        await tx('rm_users').insert({ uuid, username: user.username, email: user.email, date_joined: user.date_joined }).onConflict('uuid').ignore();
      } else if (type === 'UserProfileUpdated') {
        await tx('rm_users').where({ uuid }).update(data as EventData<'UserProfileUpdated'>);
      } else if (type === 'UserDeactivated') {
        await tx('rm_users').where({ uuid }).update({ is_active: false });
      } else continue;
      stale.push(`user:${uuid}`, 'users');
    }
    return stale;
  },
};
