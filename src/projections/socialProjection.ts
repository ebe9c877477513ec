import type { EventData } from '../events/catalog.ts';
import type { Projection } from './Projection.ts';

const UUID_LENGTH = 36;

/** The pair a friendship stream belongs to: friendship-<uuidA>-<uuidB>. */
function pairOf(stream: string): [string, string] {
  const ids = stream.slice('friendship-'.length);
  return [ids.slice(0, UUID_LENGTH), ids.slice(UUID_LENGTH + 1)];
}

/** rm_friendships (both directions) and rm_invitations, from the friendship streams. */
export const socialProjection: Projection = {
  name: 'social',
  version: 1,
  tables: ['rm_friendships', 'rm_invitations'],
  eventTypes: ['InvitationSent', 'InvitationAccepted', 'InvitationRejected', 'FriendshipEnded'],
  async apply(events, tx) {
    const stale: string[] = [];
    for (const { type, data, stream, recordedAt } of events) {
      if (!stream.startsWith('friendship-')) continue;
      const [a, b] = pairOf(stream);
      switch (type) {
        case 'InvitationSent': {
          const sent = data as EventData<'InvitationSent'>;
          await tx('rm_invitations')
            .insert({ id: sent.invitation_id, from_id: sent.from, to_id: sent.to, created: sent.created, status: 'pending' })
            .onConflict('id')
            .ignore();
          break;
        }
        case 'InvitationAccepted': {
          await tx('rm_invitations').where({ id: (data as EventData<'InvitationAccepted'>).invitation_id }).update({ status: 'accepted' });
          await tx('rm_friendships')
            .insert([
              { user_id: a, friend_id: b, since: recordedAt },
              { user_id: b, friend_id: a, since: recordedAt },
            ])
            .onConflict(['user_id', 'friend_id'])
            .ignore();
          break;
        }
        case 'InvitationRejected':
          await tx('rm_invitations').where({ id: (data as EventData<'InvitationRejected'>).invitation_id }).update({ status: 'rejected' });
          break;
        case 'FriendshipEnded':
          await tx('rm_friendships').where({ user_id: a, friend_id: b }).orWhere({ user_id: b, friend_id: a }).delete();
          break;
        default:
          continue;
      }
      stale.push(`user:${a}`, `user:${b}`);
    }
    return stale;
  },
};
