import type { EventData } from '../events/catalog.ts';
import type { BareEvent } from '../eventstore/EventStore.ts';
import type { Projection } from './Projection.ts';

const UUID_LENGTH = 36;

/** The pair a friendship stream belongs to: friendship-<uuidA>-<uuidB>. */
function pairOf(stream: string): [string, string] {
  const ids = stream.slice('friendship-'.length);
  return [ids.slice(0, UUID_LENGTH), ids.slice(UUID_LENGTH + 1)];
}

export interface InvitationRow {
  id: string;
  from_id: string;
  to_id: string;
  created: string;
  status: string;
}

export interface SocialWrites {
  /** status changes to invitations stored before the batch: written first */
  statuses: { id: string; status: string }[];
  /** new invitations, as the batch left them; one already stored is kept as it is */
  invitations: InvitationRow[];
  /** friendship rows (one direction each) the batch ended: deleted before the inserts */
  ended: { user_id: string; friend_id: string }[];
  /** friendship rows the batch began; one already stored is kept as it is */
  begun: { user_id: string; friend_id: string; since: string }[];
  stale: string[];
}

/**
 * A batch of friendship events as a few set-based writes — pure, and equal to applying them one
 * by one: updates first reach the rows stored before the batch, then inserts add the new rows
 * carrying what later events did to them; a friendship ended and begun again is deleted, then inserted.
 */
export function socialWrites(events: readonly BareEvent[]): SocialWrites {
  const statuses = new Map<string, string>();
  const invitations = new Map<string, InvitationRow>();
  const friendships = new Map<string, { user_id: string; friend_id: string; ended: boolean; since: string | null }>();
  const stale: string[] = [];
  const setStatus = (id: string, status: string) => {
    statuses.set(id, status);
    const pending = invitations.get(id);
    if (pending) pending.status = status;
  };
  const friendship = (user_id: string, friend_id: string) => {
    const key = `${user_id}/${friend_id}`;
    let found = friendships.get(key);
    if (!found) friendships.set(key, (found = { user_id, friend_id, ended: false, since: null }));
    return found;
  };
  for (const { type, data, stream, recordedAt } of events) {
    if (!stream.startsWith('friendship-')) continue;
    const [a, b] = pairOf(stream);
    switch (type) {
      case 'InvitationSent': {
        const sent = data as EventData<'InvitationSent'>;
        if (!invitations.has(sent.invitation_id)) invitations.set(sent.invitation_id, { id: sent.invitation_id, from_id: sent.from, to_id: sent.to, created: sent.created, status: 'pending' });
        break;
      }
      case 'InvitationAccepted':
        setStatus((data as EventData<'InvitationAccepted'>).invitation_id, 'accepted');
        for (const [user, friend] of [[a, b], [b, a]] as const) {
          const row = friendship(user, friend);
          row.since ??= recordedAt;
        }
        break;
      case 'InvitationRejected':
        setStatus((data as EventData<'InvitationRejected'>).invitation_id, 'rejected');
        break;
      case 'FriendshipEnded':
        for (const [user, friend] of [[a, b], [b, a]] as const) {
          const row = friendship(user, friend);
          row.ended = true;
          row.since = null;
        }
        break;
      default:
        continue;
    }
    stale.push(`user:${a}`, `user:${b}`);
  }
  const all = [...friendships.values()];
  return {
    statuses: [...statuses].map(([id, status]) => ({ id, status })),
    invitations: [...invitations.values()],
    ended: all.filter((f) => f.ended).map(({ user_id, friend_id }) => ({ user_id, friend_id })),
    begun: all.filter((f) => f.since !== null).map(({ user_id, friend_id, since }) => ({ user_id, friend_id, since: since! })),
    stale,
  };
}

/** rm_friendships (both directions) and rm_invitations, from the friendship streams. */
export const socialProjection: Projection = {
  name: 'social',
  version: 1,
  tables: ['rm_friendships', 'rm_invitations'],
  eventTypes: ['InvitationSent', 'InvitationAccepted', 'InvitationRejected', 'FriendshipEnded'],
  async apply(events, tx) {
    const writes = socialWrites(events);
    if (writes.statuses.length > 0) {
      await tx.raw(`UPDATE rm_invitations i SET status = u.status FROM json_to_recordset(?::json) AS u(id uuid, status text) WHERE i.id = u.id`, [JSON.stringify(writes.statuses)]);
    }
    if (writes.invitations.length > 0) {
      await tx.raw(
        `INSERT INTO rm_invitations (id, from_id, to_id, created, status)
         SELECT * FROM json_to_recordset(?::json) AS r(id uuid, from_id uuid, to_id uuid, created text, status text)
         ON CONFLICT (id) DO NOTHING`,
        [JSON.stringify(writes.invitations)],
      );
    }
    if (writes.ended.length > 0) {
      await tx.raw(
        `DELETE FROM rm_friendships f USING json_to_recordset(?::json) AS d(user_id uuid, friend_id uuid) WHERE f.user_id = d.user_id AND f.friend_id = d.friend_id`,
        [JSON.stringify(writes.ended)],
      );
    }
    if (writes.begun.length > 0) {
      await tx.raw(
        `INSERT INTO rm_friendships (user_id, friend_id, since)
         SELECT * FROM json_to_recordset(?::json) AS r(user_id uuid, friend_id uuid, since text)
         ON CONFLICT (user_id, friend_id) DO NOTHING`,
        [JSON.stringify(writes.begun)],
      );
    }
    return writes.stale;
  },
};
