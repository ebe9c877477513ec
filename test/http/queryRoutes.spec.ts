import { expect } from 'chai';
import type { Knex } from 'knex';
import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createKnex } from '../../src/db/database.ts';
import { isoMicros } from '../../src/events/time.ts';
import { createHttpApp } from '../../src/http/app.ts';
import { HttpError } from '../../src/http/errors.ts';
import { userRoutes } from '../../src/http/routes/userRoutes.ts';
import { queryRoutes } from '../../src/http/routes/queryRoutes.ts';
import { createLogger } from '../../src/log.ts';
import { createMemoryCache } from '../../src/queries/createMemoryCache.ts';
import { createQueries } from '../../src/queries/createQueries.ts';
import type { QueryCache } from '../../src/queries/QueryCache.ts';
import { freshDatabase, type TestDatabase } from '../support/services.ts';
import { client, type Client } from '../support/testBackend.ts';

/**
 * The query routes on a bare app, over read models seeded with SQL and a fake projection progress:
 * pagination, validation, route order and X-Min-Position, without the write side or projections.
 */

const T0 = 1_764_000_000_000_000;
const alice = randomUUID();
const bob = randomUUID();
const carol = randomUUID();
const privateChat = randomUUID();
/** the private chat and 18 groups; one more group below makes alice's 20 chats */
const CHATS = 19;

/** How far the fake projections have got; `reached` waits a little before answering, as the runner would. */
const progress = {
  at: 100n,
  async position() {
    return this.at;
  },
  async reached(position: bigint, timeoutMs: number) {
    await new Promise((resolve) => setTimeout(resolve, Math.min(timeoutMs, 10)));
    return position <= this.at;
  },
};

async function seed(knex: Knex) {
  const user = (uuid: string, username: string) => ({ uuid, username, email: `${username}@example.com`, description: '', photo: null, is_active: true, date_joined: isoMicros(T0) });
  await knex('rm_users').insert([user(alice, 'alice'), user(bob, 'bob'), user(carol, 'carol')]);
  await knex('rm_friendships').insert([
    { user_id: alice, friend_id: bob, since: isoMicros(T0) },
    { user_id: bob, friend_id: alice, since: isoMicros(T0) },
  ]);
  await knex('rm_invitations').insert({ id: randomUUID(), from_id: carol, to_id: alice, created: isoMicros(T0), status: 'pending' });
  const groups = Array.from({ length: CHATS }, (_, i) => ({
    uuid: i === 0 ? privateChat : randomUUID(),
    name: i === 0 ? '' : `group ${i}`,
    is_group_chat: i !== 0,
    admin: i === 0 ? null : alice,
    created: isoMicros(T0),
    last_activity: T0 + i,
    last_message: null,
    message_count: 0,
  }));
  groups.push({ ...groups[1]!, uuid: randomUUID(), name: 'group extra', last_activity: T0 - 1 });
  await knex('rm_chats').insert(groups);
  await knex('rm_chat_members').insert(groups.map((chat) => ({ chat_id: chat.uuid, user_id: alice, read_up_to: 0 })));
  await knex('rm_chat_members').insert({ chat_id: privateChat, user_id: bob, read_up_to: 0 });
  await knex('rm_messages').insert(
    Array.from({ length: 20 }, (_, i) => ({ chat_id: privateChat, id: i + 1, author_id: alice, content: `hello ${i + 1}`, time_stamp: T0 + i, edited_at: null, deleted: false })),
  );
}

describe('HTTP: query routes', () => {
  let db: TestDatabase;
  let knex: Knex;
  let server: Server;
  let url: string;
  let cache: QueryCache;
  let api: Client;

  before(async () => {
    db = await freshDatabase();
    knex = createKnex(db.url);
    await seed(knex);
    cache = createMemoryCache();
    const fakeUsers = { ownUser: async (id: string) => ({ uuid: id, from: 'write side' }) };
    const app = createHttpApp({
      log: createLogger('silent'),
      readiness: [],
      // the caller is the user whose id is the token
      authenticate: async (ctx, next) => {
        const token = /^Token (\S+)$/.exec(ctx.get('Authorization'))?.[1];
        if (!token) throw new HttpError(401, 'not_authenticated', 'Authentication credentials were not provided.');
        ctx.state.auth = { userId: token, tokenId: 'token' };
        await next();
      },
      // the order the lead mounts them in: userRoutes before queryRoutes
      routes: [...userRoutes(fakeUsers as never, {} as never), ...queryRoutes({ queries: createQueries(knex), cache, progress })],
    });
    server = createServer(app.callback());
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    api = client(url, alice);
  });
  after(async () => {
    await new Promise((resolve) => server.close(resolve));
    await knex.destroy();
    await db.drop();
  });

  describe('pagination', () => {
    it('answers 8 by default with absolute links, like LimitOffsetPagination', async () => {
      const first = await api.get('/api/chat/mychats/');
      expect(first.status).to.equal(200);
      expect(first.body.count).to.equal(20);
      expect(first.body.results).to.have.length(8);
      expect(first.body.next).to.equal(`${url}/api/chat/mychats/?limit=8&offset=8`);
      expect(first.body.previous).to.equal(null);

      const second = await api.get('/api/chat/mychats/?limit=8&offset=8');
      expect(second.body.next).to.equal(`${url}/api/chat/mychats/?limit=8&offset=16`);
      expect(second.body.previous).to.equal(`${url}/api/chat/mychats/?limit=8`);

      const last = await api.get('/api/chat/mychats/?offset=16');
      expect(last.body.results).to.have.length(4);
      expect(last.body.next).to.equal(null);
      expect(last.body.previous).to.equal(`${url}/api/chat/mychats/?limit=8&offset=8`);

      const uneven = await api.get('/api/chat/mychats/?limit=5&offset=3');
      expect(uneven.body.previous).to.equal(`${url}/api/chat/mychats/?limit=5`);
    });

    it('walks the whole list by its next links without skip or repeat', async () => {
      const seen: string[] = [];
      let next: string | null = `${url}/api/chat/mychats/?limit=3`;
      while (next) {
        const page: { status: number; body: any } = await api.get(next.slice(url.length));
        expect(page.status).to.equal(200);
        seen.push(...page.body.results.map((c: { uuid: string }) => c.uuid));
        next = page.body.next;
      }
      expect(seen).to.have.length(20);
      expect(new Set(seen).size).to.equal(20);
    });

    it('answers 200 with no results past the end, and for an empty list', async () => {
      const past = await api.get('/api/chat/mychats/?offset=100');
      expect(past.status).to.equal(200);
      expect(past.body).to.deep.include({ count: 20, next: null, results: [] });
      const none = await client(url, carol).get('/api/user/friends/');
      expect(none.body).to.deep.equal({ count: 0, next: null, previous: null, results: [] });
    });

    it('takes limit up to 100 and an empty parameter as absent', async () => {
      expect((await api.get('/api/chat/mychats/?limit=100')).body.results).to.have.length(20);
      expect((await api.get('/api/chat/mychats/?limit=&offset=')).body.results).to.have.length(8);
    });

    for (const [name, query, field] of [
      ['limit 0', 'limit=0', 'limit'],
      ['limit over 100', 'limit=101', 'limit'],
      ['a negative limit', 'limit=-1', 'limit'],
      ['a fractional limit', 'limit=1.5', 'limit'],
      ['a limit in exponent notation', 'limit=1e1', 'limit'],
      ['a word for limit', 'limit=ten', 'limit'],
      ['a repeated limit', 'limit=1&limit=2', 'limit'],
      ['a negative offset', 'offset=-1', 'offset'],
      ['a word for offset', 'offset=x', 'offset'],
      ['an offset beyond a safe integer', 'offset=99999999999999999999', 'offset'],
    ] as const) {
      it(`refuses ${name} with 400 naming the field`, async () => {
        for (const path of ['/api/chat/mychats/', '/api/user/friends/', '/api/user/invitations/', '/api/user/search/bob/', `/api/chat/${privateChat}/search/hello/`]) {
          const reply = await api.get(`${path}?${query}`);
          expect(reply.status, path).to.equal(400);
          expect(reply.body.code).to.equal('invalid');
          expect(reply.body.fields).to.have.property(field);
        }
      });
    }
  });

  describe('routes', () => {
    it('reaches friends, invitations and search, not the {user} route; currentuser stays the write side’s', async () => {
      const friends = await api.get('/api/user/friends/');
      expect(friends.status).to.equal(200);
      expect(friends.body.results.map((u: { uuid: string }) => u.uuid)).to.deep.equal([bob]);
      const invitations = await api.get('/api/user/invitations/');
      expect(invitations.status).to.equal(200);
      expect(invitations.body.results[0].from.uuid).to.equal(carol);
      const search = await api.get('/api/user/search/BO/');
      expect(search.status).to.equal(200);
      expect(search.body.results).to.deep.equal([{ uuid: bob, username: 'bob', description: '', photo: null, is_active: true, date_joined: isoMicros(T0), is_friend_of_current_user: true }]);
      expect((await api.get('/api/user/currentuser/')).body).to.deep.equal({ uuid: alice, from: 'write side' });
    });

    it('answers a public user, and 404 for a malformed or unknown id', async () => {
      const user = await api.get(`/api/user/${bob}/`);
      expect(user.status).to.equal(200);
      expect(user.body).to.not.have.property('email');
      expect(user.body.username).to.equal('bob');
      expect((await api.get('/api/user/not-a-uuid/')).status).to.equal(404);
      expect((await api.get(`/api/user/${randomUUID()}/`)).body.code).to.equal('user_not_found');
    });

    it('mychats/{type}: private or groups, anything else 400', async () => {
      const privates = await api.get('/api/chat/mychats/private/');
      expect(privates.status).to.equal(200);
      expect(privates.body.results.map((c: { name: string }) => c.name)).to.deep.equal(['bob']);
      const groups = await api.get('/api/chat/mychats/groups/?limit=100');
      expect(groups.body.count).to.equal(19);
      for (const type of ['other', 'Private', 'messages']) {
        const bad = await api.get(`/api/chat/mychats/${type}/`);
        expect(bad.status, type).to.equal(400);
        expect(bad.body.fields).to.have.property('type');
      }
    });

    it('chat detail: 200 for a participant, 403 for others, 404 for a bad id', async () => {
      const detail = await api.get(`/api/chat/${privateChat}/`);
      expect(detail.status).to.equal(200);
      expect(detail.body.participants.map((p: { uuid: string }) => p.uuid)).to.have.members([alice, bob]);
      const outsider = await client(url, carol).get(`/api/chat/${privateChat}/`);
      expect(outsider.status).to.equal(403);
      expect(outsider.body.code).to.equal('not_a_participant');
      expect((await api.get('/api/chat/not-a-uuid/')).status).to.equal(404);
    });

    it('messages: before absent, 0 or a time stamp; malformed is 400', async () => {
      const newest = await api.get(`/api/chat/${privateChat}/messages/`);
      expect(newest.status).to.equal(200);
      expect(newest.body.messages).to.have.length(15);
      expect(newest.body).to.not.have.property('error');
      expect((await api.get(`/api/chat/${privateChat}/messages/?before=0`)).body).to.deep.equal(newest.body);
      const rest = await api.get(`/api/chat/${privateChat}/messages/?before=${encodeURIComponent(newest.body.last_message_time_stamp)}`);
      expect(rest.body.messages.map((m: { id: number }) => m.id)).to.deep.equal([5, 4, 3, 2, 1]);
      expect(rest.body.error).to.equal('LAST PACKAGE');
      for (const before of ['yesterday', '2026-13-01T00:00:00Z', '12345', '2026-11-24T09:15:02.1234567Z']) {
        const bad = await api.get(`/api/chat/${privateChat}/messages/?before=${encodeURIComponent(before)}`);
        expect(bad.status, before).to.equal(400);
        expect(bad.body.fields).to.have.property('before');
      }
      expect((await client(url, carol).get(`/api/chat/${privateChat}/messages/`)).status).to.equal(403);
    });

    it('message search: paginated, 403 for non-participants', async () => {
      const found = await api.get(`/api/chat/${privateChat}/search/${encodeURIComponent('hello 7')}/`);
      expect(found.status).to.equal(200);
      expect(found.body.results.map((m: { id: number }) => m.id)).to.deep.equal([7]);
      expect((await api.get(`/api/chat/${privateChat}/search/${encodeURIComponent("' or 1=1 --")}/`)).body.count).to.equal(0);
      expect((await client(url, carol).get(`/api/chat/${privateChat}/search/hello/`)).status).to.equal(403);
    });

    it('needs authentication', async () => {
      expect((await client(url).get('/api/chat/mychats/')).status).to.equal(401);
    });
  });

  describe('X-Min-Position', () => {
    it('is 400 when it is not a position', async () => {
      for (const given of ['abc', '-1', '1.5', '0x10']) {
        const reply = await api.get('/api/chat/mychats/', { 'X-Min-Position': given });
        expect(reply.status, given).to.equal(400);
        expect(reply.body.fields).to.have.property('X-Min-Position');
      }
    });

    it('answers once the read models have reached it, 503 projection_lag when they do not', async () => {
      expect((await api.get(`/api/chat/${privateChat}/`, { 'X-Min-Position': '100' })).status).to.equal(200);
      const lag = await api.get(`/api/chat/${privateChat}/`, { 'X-Min-Position': '101' });
      expect(lag.status).to.equal(503);
      expect(lag.body.code).to.equal('projection_lag');
      expect(lag.headers.get('retry-after')).to.equal('1');
    });

    it('bypasses a cached answer older than it; a scope bump invalidates for everyone', async () => {
      const before = await api.get(`/api/user/${carol}/`);
      expect(before.body.username).to.equal('carol');
      // the read model changes under the cache without a bump: the cached answer stays...
      await knex('rm_users').where({ uuid: carol }).update({ username: 'caroline' });
      expect((await api.get(`/api/user/${carol}/`)).body.username).to.equal('carol');
      expect((await api.get(`/api/user/${carol}/`, { 'X-Min-Position': '100' })).body.username).to.equal('carol');
      // ...until a request asks for a position after it was stored
      progress.at = 101n;
      expect((await api.get(`/api/user/${carol}/`, { 'X-Min-Position': '101' })).body.username).to.equal('caroline');
      await knex('rm_users').where({ uuid: carol }).update({ username: 'carol' });
      expect((await api.get(`/api/user/${carol}/`)).body.username).to.equal('caroline');
      await cache.bump([`user:${carol}`]);
      expect((await api.get(`/api/user/${carol}/`)).body.username).to.equal('carol');
    });
  });
});
