import type { Knex } from 'knex';
import type { PublicUser } from '../commands/answers.ts';
import { DomainError } from '../commands/DomainError.ts';
import { prepare, runPrepared } from '../db/prepared.ts';
import { fetchPage } from './fetchPage.ts';
import type { Page, PageRequest } from './Page.ts';
import { publicUserJson } from './publicUserJson.ts';

export interface OwnUser extends PublicUser {
  email: string;
}

export interface SearchedUser extends PublicUser {
  is_friend_of_current_user: boolean;
}

export interface InvitationView {
  id: string;
  from: PublicUser;
  to: PublicUser;
  created: string;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

const noSuchUser = () => new DomainError('not_found', 'user_not_found', 'No such user.');

const INVITATION_COLUMNS = `i.id, ${publicUserJson('f')} AS "from", ${publicUserJson('t')} AS "to", i.created`;
const INVITATIONS = 'FROM rm_invitations i JOIN rm_users f ON f.uuid = i.from_id JOIN rm_users t ON t.uuid = i.to_id';

const ONE_USER = prepare(`SELECT ${publicUserJson('u')} AS user, u.email FROM rm_users u WHERE u.uuid = :id`);
const ONE_INVITATION = prepare(`SELECT ${INVITATION_COLUMNS} ${INVITATIONS} WHERE i.id = :id`);

/** LIKE treats %, _ and \ as syntax; a phrase means them literally. */
const likeLiteral = (phrase: string) => phrase.replace(/[\\%_]/g, '\\$&');

/** Read-only queries over the user read models (rm_users, rm_friendships, rm_invitations). */
export function userQueries(knex: Knex) {
  async function oneUser(id: string): Promise<{ user: PublicUser; email: string }> {
    if (!UUID.test(id)) throw noSuchUser();
    const rows = await runPrepared<{ user: PublicUser; email: string }>(knex, ONE_USER, { id });
    if (!rows[0]) throw noSuchUser();
    return rows[0];
  }

  return {
    /** one invitation, whatever its state, or null */
    async invitation(id: string): Promise<InvitationView | null> {
      const rows = await runPrepared<InvitationView>(knex, ONE_INVITATION, { id });
      return rows[0] ?? null;
    },

    /** a public user, active or not: no email */
    async userDetail(id: string): Promise<PublicUser> {
      return (await oneUser(id)).user;
    },

    async currentUser(id: string): Promise<OwnUser> {
      const { user, email } = await oneUser(id);
      return { ...user, email };
    },

    /** Active users whose username contains the phrase in any letter case, best match first. */
    async searchUsers(viewer: string, phrase: string, page: PageRequest): Promise<Page<SearchedUser>> {
      const found = await fetchPage<{ user: PublicUser; is_friend: boolean }>(
        knex,
        {
          select: `${publicUserJson('u')} AS user, EXISTS (SELECT 1 FROM rm_friendships f WHERE f.user_id = :viewer AND f.friend_id = u.uuid) AS is_friend`,
          // the trigram index on lower(username) serves this LIKE
          from: `FROM rm_users u WHERE u.is_active AND lower(u.username) LIKE '%' || lower(:pattern) || '%'`,
          orderBy: 'similarity(lower(u.username), lower(:phrase)) DESC, u.username, u.uuid',
        },
        { viewer, phrase, pattern: likeLiteral(phrase) },
        page,
      );
      return { count: found.count, results: found.results.map((row) => ({ ...row.user, is_friend_of_current_user: row.is_friend })) };
    },

    async friends(viewer: string, page: PageRequest): Promise<Page<PublicUser>> {
      const found = await fetchPage<{ user: PublicUser }>(
        knex,
        {
          select: `${publicUserJson('u')} AS user`,
          from: 'FROM rm_friendships f JOIN rm_users u ON u.uuid = f.friend_id WHERE f.user_id = :viewer',
          orderBy: 'u.username, u.uuid',
        },
        { viewer },
        page,
      );
      return { count: found.count, results: found.results.map((row) => row.user) };
    },

    /** invitations to the viewer still waiting for an answer, oldest first */
    async invitations(viewer: string, page: PageRequest): Promise<Page<InvitationView>> {
      return fetchPage<InvitationView>(
        knex,
        {
          select: INVITATION_COLUMNS,
          from: `${INVITATIONS} WHERE i.to_id = :viewer AND i.status = 'pending'`,
          orderBy: 'i.created, i.id',
        },
        { viewer },
        page,
      );
    },
  };
}

export type UserQueries = ReturnType<typeof userQueries>;
