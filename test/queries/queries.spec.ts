import { expect } from 'chai';
import type { Knex } from 'knex';
import { randomUUID } from 'node:crypto';
import { DomainError } from '../../src/commands/DomainError.ts';
import { createKnex } from '../../src/db/database.ts';
import { isoMicros } from '../../src/events/time.ts';
import { createQueries, type Queries } from '../../src/queries/createQueries.ts';
import { parseMessageCursor } from '../../src/queries/parseMessageCursor.ts';
import { freshDatabase, type TestDatabase } from '../support/services.ts';

/** The read-only queries over read models seeded directly with SQL: no projection involved. */

const T0 = 1_764_000_000_000_000; // µs, late 2025
const PAGE = { limit: 100, offset: 0 };

const id = () => randomUUID();
const u = {
  alice: id(),
  bob: id(),
  carol: id(),
  dave: id(),
  bobby: id(),
  bobFan: id(),
  underscore: id(),
  underX: id(),
  percent: id(),
  percentX: id(),
  backslash: id(),
  quote: id(),
};
const chats = { private: id(), group: id(), otherGroup: id(), tieA: id(), tieB: id(), carolPrivate: id() };

async function refusal(promise: Promise<unknown>): Promise<DomainError> {
  try {
    await promise;
  } catch (error) {
    expect(error).to.be.instanceOf(DomainError);
    return error as DomainError;
  }
  throw new Error('expected a refusal');
}

async function seed(knex: Knex) {
  const user = (uuid: string, username: string, extra: Record<string, unknown> = {}) => ({
    uuid,
    username,
    email: `${username.replace(/\W/g, '')}.${uuid.slice(0, 8)}@example.com`,
    description: `I am ${username}`,
    photo: null,
    is_active: true,
    date_joined: isoMicros(T0),
    ...extra,
  });
  await knex('rm_users').insert([
    user(u.alice, 'Alice', { photo: 'https://example.com/alice.png' }),
    user(u.bob, 'bob'),
    user(u.carol, 'carol'),
    user(u.dave, 'dave_bob', { is_active: false }),
    user(u.bobby, 'Bobby'),
    user(u.bobFan, 'a_big_bob_fan'),
    user(u.underscore, 'under_score'),
    user(u.underX, 'underXscore'),
    user(u.percent, 'percent%sign'),
    user(u.percentX, 'percentXsign'),
    user(u.backslash, 'back\\slash'),
    user(u.quote, "o'brien or 1=1"),
  ]);
  // a friendship is stored both ways: each user's friends are a prefix of the key
  await knex('rm_friendships').insert([
    { user_id: u.alice, friend_id: u.bob, since: isoMicros(T0) },
    { user_id: u.bob, friend_id: u.alice, since: isoMicros(T0) },
    { user_id: u.alice, friend_id: u.carol, since: isoMicros(T0) },
    { user_id: u.carol, friend_id: u.alice, since: isoMicros(T0) },
  ]);
  await knex('rm_invitations').insert([
    { id: id(), from_id: u.bobby, to_id: u.alice, created: isoMicros(T0 + 2), status: 'pending' },
    { id: id(), from_id: u.underscore, to_id: u.alice, created: isoMicros(T0 + 1), status: 'pending' },
    { id: id(), from_id: u.percent, to_id: u.alice, created: isoMicros(T0), status: 'rejected' },
    { id: id(), from_id: u.alice, to_id: u.percentX, created: isoMicros(T0), status: 'pending' },
  ]);

  const chat = (uuid: string, name: string, group: boolean, lastActivity: number, lastMessage: string | null, messageCount: number) => ({
    uuid,
    name,
    is_group_chat: group,
    admin: group ? u.alice : null,
    created: isoMicros(T0),
    last_activity: lastActivity,
    last_message: lastMessage,
    message_count: messageCount,
  });
  await knex('rm_chats').insert([
    chat(chats.private, '', false, T0 + 1_000_000, 'message 40', 40),
    chat(chats.group, 'Group', true, T0 + 2_000_000, 'hello group', 3),
    chat(chats.otherGroup, 'Not alice', true, T0 + 9_000_000, null, 0),
    // two chats with the same last activity: ordered by uuid
    chat(chats.tieA, 'Tie', true, T0 + 500, null, 0),
    chat(chats.tieB, 'Tie', true, T0 + 500, null, 0),
    chat(chats.carolPrivate, '', false, T0 + 100, null, 0),
  ]);
  await knex('rm_chat_members').insert([
    { chat_id: chats.private, user_id: u.alice, read_up_to: 35 },
    // read past the count (a replayed read): unread never goes below 0
    { chat_id: chats.private, user_id: u.bob, read_up_to: 41 },
    { chat_id: chats.group, user_id: u.alice, read_up_to: 0 },
    { chat_id: chats.group, user_id: u.bob, read_up_to: 3 },
    { chat_id: chats.group, user_id: u.carol, read_up_to: 1 },
    { chat_id: chats.otherGroup, user_id: u.bob, read_up_to: 0 },
    { chat_id: chats.tieA, user_id: u.alice, read_up_to: 0 },
    { chat_id: chats.tieB, user_id: u.alice, read_up_to: 0 },
    { chat_id: chats.carolPrivate, user_id: u.alice, read_up_to: 0 },
    { chat_id: chats.carolPrivate, user_id: u.carol, read_up_to: 0 },
  ]);

  // 40 messages: the first 20 one microsecond apart, then one a millisecond
  const texts: Record<number, string> = {
    5: 'a cat sat on the mat',
    7: 'the cat and the other cat',
    9: 'dogs only',
    12: "o'brien said or 1=1",
    13: '100% sure_thing',
  };
  const messages = Array.from({ length: 40 }, (_, i) => {
    const n = i + 1;
    return {
      chat_id: chats.private,
      id: n,
      author_id: n % 2 ? u.alice : u.bob,
      content: n === 30 ? '' : (texts[n] ?? `message ${n}`),
      time_stamp: n <= 20 ? T0 + n : T0 + 20 + (n - 20) * 1000,
      edited_at: n === 7 ? isoMicros(T0 + 5_000_000) : null,
      deleted: n === 30,
    };
  });
  await knex('rm_messages').insert(messages);
  await knex('rm_messages').insert([
    { chat_id: chats.group, id: 1, author_id: u.alice, content: 'cat in the group', time_stamp: T0 + 1, edited_at: null, deleted: false },
  ]);
}

describe('queries over the read models', () => {
  let db: TestDatabase;
  let knex: Knex;
  let q: Queries;

  before(async () => {
    db = await freshDatabase();
    knex = createKnex(db.url);
    await seed(knex);
    q = createQueries(knex);
  });
  after(async () => {
    await knex.destroy();
    await db.drop();
  });

  describe('mychats', () => {
    it('lists the viewer’s chats, most recent activity first, ties by uuid', async () => {
      const page = await q.mychats(u.alice, PAGE);
      const ties = [chats.tieA, chats.tieB].sort();
      expect(page.count).to.equal(5);
      expect(page.results.map((c) => c.uuid)).to.deep.equal([chats.group, chats.private, ...ties, chats.carolPrivate]);
    });

    it('answers the contract’s list item: unread = messages − read (never below 0), last message, ISO µs activity', async () => {
      const alice = await q.mychats(u.alice, PAGE);
      const privateChat = alice.results.find((c) => c.uuid === chats.private)!;
      expect(privateChat).to.deep.equal({
        uuid: chats.private,
        name: 'bob',
        is_group_chat: false,
        last_activity_date: isoMicros(T0 + 1_000_000),
        lastmessage: 'message 40',
        unread_count: 5,
      });
      expect(alice.results.find((c) => c.uuid === chats.group)).to.include({ name: 'Group', unread_count: 3, lastmessage: 'hello group' });
      expect(alice.results.find((c) => c.uuid === chats.tieA)).to.include({ lastmessage: null, unread_count: 0 });

      const bob = await q.mychats(u.bob, PAGE);
      expect(bob.results.find((c) => c.uuid === chats.private)).to.include({ name: 'Alice', unread_count: 0 });
    });

    it('filters private chats or groups', async () => {
      const privates = await q.mychats(u.alice, { ...PAGE, type: 'private' });
      expect(privates.count).to.equal(2);
      expect(privates.results.map((c) => [c.uuid, c.name])).to.deep.equal([
        [chats.private, 'bob'],
        [chats.carolPrivate, 'carol'],
      ]);
      const groups = await q.mychats(u.alice, { ...PAGE, type: 'groups' });
      expect(groups.count).to.equal(3);
      expect(groups.results.every((c) => c.is_group_chat)).to.equal(true);
    });

    it('pages with limit and offset, counting the whole list', async () => {
      const all = (await q.mychats(u.alice, PAGE)).results.map((c) => c.uuid);
      const second = await q.mychats(u.alice, { limit: 2, offset: 2 });
      expect(second.count).to.equal(5);
      expect(second.results.map((c) => c.uuid)).to.deep.equal(all.slice(2, 4));
      const beyond = await q.mychats(u.alice, { limit: 2, offset: 10 });
      expect(beyond).to.deep.equal({ count: 5, results: [] });
      expect(await q.mychats(u.dave, PAGE)).to.deep.equal({ count: 0, results: [] });
    });
  });

  describe('chatDetail', () => {
    it('answers the list item with participants (public users) and created', async () => {
      const detail = await q.chatDetail(u.alice, chats.group);
      expect(detail).to.include({ uuid: chats.group, name: 'Group', is_group_chat: true, unread_count: 3, created: isoMicros(T0) });
      expect(detail.participants.map((p) => p.username)).to.deep.equal(['Alice', 'bob', 'carol']);
      expect(detail.participants[0]).to.deep.equal({
        uuid: u.alice,
        username: 'Alice',
        description: 'I am Alice',
        photo: 'https://example.com/alice.png',
        is_active: true,
        date_joined: isoMicros(T0),
      });
      expect((await q.chatDetail(u.bob, chats.private)).name).to.equal('Alice');
    });

    it('is 403 for a non-participant and 404 for no such chat', async () => {
      expect(await refusal(q.chatDetail(u.carol, chats.private))).to.include({ kind: 'forbidden', code: 'not_a_participant' });
      expect(await refusal(q.chatDetail(u.alice, id()))).to.include({ kind: 'not_found' });
      expect(await refusal(q.chatDetail(u.alice, 'not-a-uuid'))).to.include({ kind: 'not_found' });
    });
  });

  describe('fetchMessages', () => {
    it('pages 40 messages as 15, 15, 10 (LAST PACKAGE), then NO MESSAGES, with no skip or repeat', async () => {
      const seen: number[] = [];
      const pages: Array<{ size: number; error?: string }> = [];
      let before: bigint | null = null;
      for (;;) {
        const batch = await q.fetchMessages(u.alice, chats.private, before);
        pages.push({ size: batch.messages.length, ...(batch.error ? { error: batch.error } : {}) });
        seen.push(...batch.messages.map((m) => m.id));
        if (batch.error === 'NO MESSAGES') {
          expect(batch.last_message_time_stamp).to.equal(isoMicros(Number(before)));
          break;
        }
        expect(batch.last_message_time_stamp).to.equal(batch.messages.at(-1)!.time_stamp);
        // the next page starts from the time stamp as a client sends it back
        before = parseMessageCursor(batch.last_message_time_stamp)!;
      }
      expect(pages).to.deep.equal([{ size: 15 }, { size: 15 }, { size: 10, error: 'LAST PACKAGE' }, { size: 0, error: 'NO MESSAGES' }]);
      expect(seen).to.deep.equal(Array.from({ length: 40 }, (_, i) => 40 - i));
    });

    it('answers the contract’s message objects, newest first; a deleted one keeps its place, empty', async () => {
      const newest = await q.fetchMessages(u.alice, chats.private, null);
      expect(newest.messages[0]).to.deep.equal({
        id: 40,
        chat: chats.private,
        author_id: u.bob,
        content: 'message 40',
        time_stamp: isoMicros(T0 + 20 + 20 * 1000),
        edited_at: null,
        deleted: false,
      });
      expect(newest.messages.find((m) => m.id === 30)).to.include({ content: '', deleted: true });
      const older = await q.fetchMessages(u.alice, chats.private, BigInt(T0 + 8));
      expect(older.messages.map((m) => m.id)).to.deep.equal([7, 6, 5, 4, 3, 2, 1]);
      expect(older.messages[0]).to.include({ content: 'the cat and the other cat', edited_at: isoMicros(T0 + 5_000_000) });
      expect(older.error).to.equal('LAST PACKAGE');
      expect(older.messages[1]!.time_stamp).to.match(/\.\d{6}Z$/);
    });

    it('answers NO MESSAGES with "0" for an empty chat', async () => {
      expect(await q.fetchMessages(u.alice, chats.tieA, null)).to.deep.equal({ messages: [], last_message_time_stamp: '0', error: 'NO MESSAGES' });
    });

    it('is 403 for a non-participant and 404 for no such chat', async () => {
      expect(await refusal(q.fetchMessages(u.carol, chats.private, null))).to.include({ kind: 'forbidden', code: 'not_a_participant' });
      expect(await refusal(q.fetchMessages(u.alice, id(), null))).to.include({ kind: 'not_found' });
      expect(await refusal(q.fetchMessages(u.alice, 'nope', null))).to.include({ kind: 'not_found' });
    });
  });

  describe('memberIds', () => {
    it('answers who is in a chat, none for no such chat', async () => {
      expect(await q.memberIds(chats.group)).to.have.members([u.alice, u.bob, u.carol]);
      expect(await q.memberIds(id())).to.deep.equal([]);
      expect(await q.memberIds('not-a-uuid')).to.deep.equal([]);
    });
  });

  describe('searchMessages', () => {
    const search = (phrase: string, viewer = u.alice, chat = chats.private) => q.searchMessages(viewer, chat, phrase, PAGE);

    it('finds the messages of this chat with every word, best match first', async () => {
      const cat = await search('cat');
      expect(cat.results.map((m) => m.id)).to.deep.equal([7, 5]);
      expect(cat.count).to.equal(2);
      expect((await search('CAT mat')).results.map((m) => m.id)).to.deep.equal([5]);
      expect((await search('cat', u.alice, chats.group)).results.map((m) => m.id)).to.deep.equal([1]);
    });

    it('pages its results', async () => {
      const page = await q.searchMessages(u.alice, chats.private, 'message', { limit: 10, offset: 30 });
      expect(page.count).to.equal(34);
      expect(page.results).to.have.length(4);
    });

    it('reads query syntax and SQL as plain words', async () => {
      // every word of the phrase must be there: "or", "1", "1"
      expect((await search("' or 1=1 --")).results.map((m) => m.id)).to.deep.equal([12]);
      // "a" is the only word; & | ! are not operators
      expect((await search('a & | !')).results.map((m) => m.id)).to.deep.equal([5]);
      expect((await search('sure_thing 100%')).results.map((m) => m.id)).to.deep.equal([13]);
      expect((await search('dogs | cat')).results.map((m) => m.id)).to.deep.equal([]);
    });

    it('answers nothing, not an error, for a phrase with no words', async () => {
      expect(await search('!!! & | ()')).to.deep.equal({ count: 0, results: [] });
      expect(await search('%')).to.deep.equal({ count: 0, results: [] });
    });

    it('never finds a deleted message, and is 403 for a non-participant', async () => {
      expect((await search('message')).results.map((m) => m.id)).to.not.include(30);
      expect(await refusal(search('cat', u.carol))).to.include({ kind: 'forbidden', code: 'not_a_participant' });
      expect(await refusal(search('cat', u.alice, id()))).to.include({ kind: 'not_found' });
    });
  });

  describe('users', () => {
    it('userDetail answers a public user without email; currentUser with it', async () => {
      const bob = await q.userDetail(u.bob);
      expect(bob).to.deep.equal({ uuid: u.bob, username: 'bob', description: 'I am bob', photo: null, is_active: true, date_joined: isoMicros(T0) });
      expect(await q.userDetail(u.dave)).to.include({ is_active: false });
      const own = await q.currentUser(u.bob);
      expect(own).to.deep.equal({ ...bob, email: `bob.${u.bob.slice(0, 8)}@example.com` });
      expect(await refusal(q.userDetail(id()))).to.include({ kind: 'not_found', code: 'user_not_found' });
      expect(await refusal(q.userDetail('not-a-uuid'))).to.include({ kind: 'not_found' });
    });

    it('searchUsers: active users containing the phrase in any case, best match first, never an email', async () => {
      const found = await q.searchUsers(u.alice, 'BOB', PAGE);
      // dave_bob is inactive
      expect(found.results.map((r) => r.username)).to.deep.equal(['bob', 'Bobby', 'a_big_bob_fan']);
      expect(found.count).to.equal(3);
      for (const result of found.results) expect(result).to.not.have.property('email');
      expect(Object.keys(found.results[0]!)).to.deep.equal(['uuid', 'username', 'description', 'photo', 'is_active', 'date_joined', 'is_friend_of_current_user']);
    });

    it('searchUsers: says who is a friend of the current user', async () => {
      const byAlice = await q.searchUsers(u.alice, 'bob', PAGE);
      expect(byAlice.results.map((r) => [r.username, r.is_friend_of_current_user])).to.deep.equal([
        ['bob', true],
        ['Bobby', false],
        ['a_big_bob_fan', false],
      ]);
      const byCarol = await q.searchUsers(u.carol, 'alice', PAGE);
      expect(byCarol.results.map((r) => [r.username, r.is_friend_of_current_user])).to.deep.equal([['Alice', true]]);
      const byBobby = await q.searchUsers(u.bobby, 'alice', PAGE);
      expect(byBobby.results[0]!.is_friend_of_current_user).to.equal(false);
    });

    it('searchUsers: %, _, \\ and quotes are plain characters', async () => {
      const names = async (phrase: string) => (await q.searchUsers(u.alice, phrase, PAGE)).results.map((r) => r.username);
      expect(await names('_')).to.have.members(['a_big_bob_fan', 'under_score']);
      expect(await names('r_s')).to.deep.equal(['under_score']);
      expect(await names('%')).to.deep.equal(['percent%sign']);
      expect(await names('t%s')).to.deep.equal(['percent%sign']);
      expect(await names('\\')).to.deep.equal(['back\\slash']);
      expect(await names("' or 1=1 --")).to.deep.equal([]);
      expect(await names("'brien or 1=1")).to.deep.equal(["o'brien or 1=1"]);
      expect(await names('x'.repeat(300))).to.deep.equal([]);
    });

    it('searchUsers: pages', async () => {
      const page = await q.searchUsers(u.alice, 'bob', { limit: 1, offset: 1 });
      expect(page.count).to.equal(3);
      expect(page.results.map((r) => r.username)).to.deep.equal(['Bobby']);
    });

    it('friends: the viewer’s friends as public users', async () => {
      const friends = await q.friends(u.alice, PAGE);
      expect(friends.count).to.equal(2);
      expect(friends.results.map((f) => f.username)).to.deep.equal(['bob', 'carol']);
      expect(friends.results[0]).to.not.have.property('email');
      expect((await q.friends(u.bob, PAGE)).results.map((f) => f.uuid)).to.deep.equal([u.alice]);
      expect(await q.friends(u.bobby, PAGE)).to.deep.equal({ count: 0, results: [] });
    });

    it('invitations: the pending ones to the viewer, oldest first', async () => {
      const invitations = await q.invitations(u.alice, PAGE);
      expect(invitations.count).to.equal(2);
      expect(invitations.results.map((i) => [i.from.username, i.to.username, i.created])).to.deep.equal([
        ['under_score', 'Alice', isoMicros(T0 + 1)],
        ['Bobby', 'Alice', isoMicros(T0 + 2)],
      ]);
      expect(Object.keys(invitations.results[0]!)).to.deep.equal(['id', 'from', 'to', 'created']);
      expect(invitations.results[0]!.from).to.not.have.property('email');
      expect((await q.invitations(u.percentX, PAGE)).results.map((i) => i.from.uuid)).to.deep.equal([u.alice]);
    });
  });
});
