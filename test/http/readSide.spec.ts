import { expect } from 'chai';
import memjs from 'memjs';
import { randomUUID } from 'node:crypto';
import { nowMicros, type Micros } from '../../src/events/time.ts';
import { cacheKey } from '../../src/queries/QueryCache.ts';
import { newEvent } from '../support/events.ts';
import { requireService } from '../support/services.ts';
import { client, registerUser, startTestBackend, type Client, type Reply, type TestBackend } from '../support/testBackend.ts';

/**
 * The read side through HTTP against the whole backend: commands append, projections build the
 * read models, queries answer from them. A query sent with `X-Min-Position: <a command's position>`
 * reads that command's writes, so no test sleeps to wait for the projections.
 */

type User = Awaited<ReturnType<typeof registerUser>>;

const PUBLIC_USER_KEYS = ['uuid', 'username', 'description', 'photo', 'is_active', 'date_joined'];
const CHAT_ITEM_KEYS = ['uuid', 'name', 'is_group_chat', 'last_activity_date', 'lastmessage', 'unread_count'];
const ISO_MICROS = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/;

const at = (position: string | bigint) => ({ 'X-Min-Position': String(position) });
const later = (a: string, b: string | null | undefined) => (b != null && BigInt(b) > BigInt(a) ? b : a);
const uuids = (list: Array<{ uuid: string }>) => list.map((item) => item.uuid);

/**
 * A query that reads the writes up to `position`. The server waits at most 2 s for the projections
 * (then 503 projection_lag); on a busy machine they may take longer, so ask again a few times.
 */
async function readAt(user: User, path: string, position: string): Promise<Reply> {
  for (let attempt = 1; ; attempt++) {
    const reply = await user.api.get(path, at(position));
    if (reply.status !== 503 || reply.body?.code !== 'projection_lag' || attempt === 5) return reply;
  }
}

/** Befriends two users; the accepted invitation's answer: the private chat (detail) and its position. */
async function makeFriends(a: User, b: User) {
  const invited = await a.api.post('/api/user/friends/', { user_uuid: b.id });
  expect(invited.status, `invite: ${JSON.stringify(invited.body)}`).to.equal(201);
  const accepted = await b.api.post('/api/user/invitations/', { invitation_id: invited.body.id, decision: true });
  expect(accepted.status, `accept: ${JSON.stringify(accepted.body)}`).to.equal(201);
  return { chat: accepted.body.chat.uuid as string, answer: accepted.body.chat, position: accepted.body.position as string };
}

/** GET of an absolute URL (a `next` / `previous` link) as the user with this key. */
const follow = (key: string, url: string) => client('', key).get(url);

describe('read side over HTTP: the issue scenario (7 users, 3 private chats, a group with 40 messages)', function () {
  this.timeout(60_000);
  let backend: TestBackend;
  let api: Client;
  /** the newest position a command of this suite answered: a query sent with it reads every write before it */
  let latest = '0';
  const note = (reply: Reply) => {
    latest = later(latest, reply.body?.position);
    return reply;
  };

  let ann: User, bob: User, cid: User, dan: User, eve: User, frank: User, gus: User;
  /** ann's private chats with bob, eve and cid, and ann's group with bob and cid */
  let AB: string, AE: string, AC: string, G: string;
  let abAccepted: any;
  /** the 40 messages of G as their commands answered them, by id (index 0 is id 1) */
  let frozenAt: Micros | null = null;
  let posted: Array<{ id: number; content: string; author_id: string; time_stamp: string }>;

  /** message contents that search looks for; the others are "burst i" and "message i" */
  const CONTENT: Record<number, string> = {
    22: 'banana bread',
    24: 'banana banana banana split',
    25: 'a plain word',
    33: 'I like banana',
  };

  before(async () => {
    // the server's clock, which the burst below stops inside one millisecond
    backend = await startTestBackend({}, { clock: () => frozenAt ?? nowMicros() });
    api = client(backend.url);
    // a fresh database per suite: these are the only users the searches can find
    [ann, bob, cid, dan, eve, frank] = [
      await registerUser(api, 'ann.rs'),
      await registerUser(api, 'bob.rs'),
      await registerUser(api, 'cid.rs'),
      await registerUser(api, 'dan.rs'),
      await registerUser(api, 'eve.rs'),
      await registerUser(api, 'frank.rs'),
    ];
    gus = await registerUser(api, 'gus.rs');
    note(await gus.api.patch('/api/user/currentuser/', { username: 'abbott.bobson.rs' }));

    const ab = await makeFriends(ann, bob);
    [AB, abAccepted] = [ab.chat, ab.answer];
    AC = (await makeFriends(ann, cid)).chat;
    const ae = await makeFriends(ann, eve);
    [AE, latest] = [ae.chat, later(latest, ae.position)];
    note(await bob.api.post(`/api/chat/${AB}/messages/`, { message: 'hello ann' }));

    const created = note(await ann.api.post('/api/chat/mychats/groups/', { name: 'Fruit club' }));
    expect(created.status).to.equal(201);
    G = created.body.chat.uuid;
    for (const user of [bob, cid]) expect(note(await ann.api.post(`/api/chat/${G}/`, { user_uuid: user.id })).status).to.equal(200);

    // 20 at once, all in one millisecond of the server's clock: the write side orders them by the µs
    frozenAt = Math.floor(nowMicros() / 1000) * 1000 + 1000;
    const burst = await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 ? ann : bob).api.post(`/api/chat/${G}/messages/`, { message: `burst ${i}` })));
    frozenAt = null;
    expect(burst.map((r) => r.status)).to.deep.equal(Array(20).fill(201));
    burst.forEach(note);
    // then 20 in turn: bob and ann alternate, and ann writes the last one (40)
    const sequential: Reply[] = [];
    for (let id = 21; id <= 40; id++) {
      const author = id % 2 === 1 ? bob : ann;
      const reply = note(await author.api.post(`/api/chat/${G}/messages/`, { message: CONTENT[id] ?? `message ${id}` }));
      expect(reply.status).to.equal(201);
      expect(reply.body.message.id).to.equal(id);
      sequential.push(reply);
    }
    posted = [...burst, ...sequential].map((r) => r.body.message).sort((a, b) => a.id - b.id);
  });
  after(async () => {
    await backend?.close();
  });

  describe('messages', () => {
    it('has 40 messages with strictly increasing µs time stamps, several sharing a millisecond', () => {
      expect(posted.map((m) => m.id)).to.deep.equal(Array.from({ length: 40 }, (_, i) => i + 1));
      for (const m of posted) expect(m.time_stamp).to.match(ISO_MICROS);
      for (let i = 1; i < posted.length; i++) expect(posted[i]!.time_stamp > posted[i - 1]!.time_stamp, `time stamp of ${i + 1}`).to.equal(true);
      // the point of the burst: paging by millisecond would skip or repeat messages here
      expect(new Set(posted.slice(0, 20).map((m) => m.time_stamp.slice(0, 23))).size, 'the burst shares one millisecond').to.equal(1);
    });

    it('pages them 15, 15, 10 (LAST PACKAGE), then NO MESSAGES: newest first, none skipped or repeated', async () => {
      const pages: any[] = [];
      let before = '';
      for (let i = 0; i < 4; i++) {
        const path = `/api/chat/${G}/messages/${before ? `?before=${encodeURIComponent(before)}` : ''}`;
        const page = await readAt(cid, path, latest);
        expect(page.status, path).to.equal(200);
        pages.push(page.body);
        before = page.body.last_message_time_stamp;
      }
      expect(pages.map((p) => p.messages.length)).to.deep.equal([15, 15, 10, 0]);
      expect(pages.map((p) => p.error)).to.deep.equal([undefined, undefined, 'LAST PACKAGE', 'NO MESSAGES']);
      for (const page of pages.slice(0, 3)) expect(page.last_message_time_stamp).to.equal(page.messages.at(-1).time_stamp);
      // the empty page echoes the cursor it was given
      expect(pages[3].last_message_time_stamp).to.equal(pages[2].last_message_time_stamp);

      const all = pages.flatMap((p) => p.messages);
      expect(all.map((m: { id: number }) => m.id)).to.deep.equal(Array.from({ length: 40 }, (_, i) => 40 - i));
      for (let i = 1; i < all.length; i++) expect(all[i].time_stamp < all[i - 1].time_stamp, `newest first at ${i}`).to.equal(true);
      for (const message of all) {
        const sent = posted[message.id - 1]!;
        expect(message).to.deep.equal({ id: sent.id, chat: G, author_id: sent.author_id, content: sent.content, time_stamp: sent.time_stamp, edited_at: null, deleted: false });
      }
      const zero = await readAt(cid, `/api/chat/${G}/messages/?before=0`, latest);
      expect(zero.body).to.deep.equal(pages[0]);
    });

    it('pages by the microsecond: before = a time stamp answers the message right before it, even in the same millisecond', async () => {
      const shared = posted.filter((m, i) => i > 0 && m.time_stamp.slice(0, 23) === posted[i - 1]!.time_stamp.slice(0, 23));
      expect(shared, 'messages sharing a millisecond with the one before').to.not.be.empty;
      for (const message of shared) {
        const page = await readAt(cid, `/api/chat/${G}/messages/?before=${encodeURIComponent(message.time_stamp)}`, latest);
        expect(page.status).to.equal(200);
        expect(page.body.messages[0].id, `before message ${message.id}`).to.equal(message.id - 1);
      }
    });

    it('refuses a malformed before with 400', async () => {
      for (const before of ['yesterday', '-1', '1764000000000000', '2026-13-01T00:00:00Z', '2026-01-01T00:00:00.1234567Z', '2026-01-01 00:00:00']) {
        const reply = await cid.api.get(`/api/chat/${G}/messages/?before=${encodeURIComponent(before)}`);
        expect(reply.status, before).to.equal(400);
        expect(reply.body.code, before).to.equal('invalid');
        expect(reply.body.fields, before).to.have.property('before');
      }
      expect((await cid.api.get(`/api/chat/${G}/messages/?before=0&before=0`)).status, 'before twice').to.equal(400);
    });

    it('refuses an impossible calendar date in before (30 February)', async () => {
      // DEFECT (minor): src/events/time.ts parseIsoMicros relies on Date.parse, which reads 2026-02-30 as 2 March
      const reply = await cid.api.get(`/api/chat/${G}/messages/?before=${encodeURIComponent('2026-02-30T00:00:00Z')}`);
      expect(reply.status).to.equal(400);
    });

    it('searches a chat in full text, best match first, taking any phrase as plain words', async () => {
      const search = (phrase: string) => readAt(cid, `/api/chat/${G}/search/${encodeURIComponent(phrase)}/?limit=100`, latest);
      const banana = await search('banana');
      expect(banana.status).to.equal(200);
      expect(banana.body.count).to.equal(3);
      expect(banana.body.results[0].id, 'the message saying banana three times').to.equal(24);
      expect(banana.body.results.map((m: { id: number }) => m.id)).to.have.members([22, 24, 33]);
      expect((await search('BANANA')).body.results.map((m: { id: number }) => m.id)).to.deep.equal(banana.body.results.map((m: { id: number }) => m.id));

      const injection = await search("' or 1=1 --");
      expect(injection.status).to.equal(200);
      expect(injection.body).to.deep.include({ count: 0, results: [] });
      const operators = await search('a & | !');
      expect(operators.status).to.equal(200);
      // only the word "a" is left of it
      expect(operators.body.results.map((m: { id: number }) => m.id)).to.deep.equal([25]);
      for (const phrase of ['!!!', ':*', '\\', "'", '%', 'banana:* | burst']) {
        const reply = await search(phrase);
        expect(reply.status, phrase).to.equal(200);
        expect(reply.body.count, phrase).to.be.lessThan(40);
      }
    });
  });

  describe('chat lists', () => {
    it("lists each viewer's chats, most recent activity first, with lastmessage and unread_count", async () => {
      const last = posted[39]!;
      const annChats = await readAt(ann, '/api/chat/mychats/', latest);
      expect(annChats.status).to.equal(200);
      expect(annChats.body.count).to.equal(4);
      for (const item of annChats.body.results) expect(Object.keys(item)).to.have.members(CHAT_ITEM_KEYS);
      // AB, AC and AE were opened in that order; bob wrote in AB after that
      expect(annChats.body.results).to.deep.equal([
        { uuid: G, name: 'Fruit club', is_group_chat: true, last_activity_date: last.time_stamp, lastmessage: last.content, unread_count: 0 },
        { ...annChats.body.results[1], uuid: AB, name: 'bob.rs', is_group_chat: false, lastmessage: 'hello ann', unread_count: 1 },
        { ...annChats.body.results[2], uuid: AE, name: 'eve.rs', is_group_chat: false, lastmessage: null, unread_count: 0 },
        { ...annChats.body.results[3], uuid: AC, name: 'cid.rs', is_group_chat: false, lastmessage: null, unread_count: 0 },
      ]);
      const activity = annChats.body.results.map((c: { last_activity_date: string }) => c.last_activity_date);
      for (const date of activity) expect(date).to.match(ISO_MICROS);
      expect([...activity].sort().reverse()).to.deep.equal(activity);
      // bob wrote 39 but not 40; your own messages count as read
      const bobChats = await readAt(bob, '/api/chat/mychats/', latest);
      expect(bobChats.body.results.map((c: any) => [c.uuid, c.name, c.unread_count])).to.deep.equal([
        [G, 'Fruit club', 1],
        [AB, 'ann.rs', 0],
      ]);
      const cidChats = await readAt(cid, '/api/chat/mychats/', latest);
      expect(cidChats.body.results.map((c: any) => [c.uuid, c.unread_count, c.lastmessage])).to.deep.equal([
        [G, 40, last.content],
        [AC, 0, null],
      ]);
      expect((await readAt(dan, '/api/chat/mychats/', latest)).body).to.deep.equal({ count: 0, next: null, previous: null, results: [] });
    });

    it('filters by type: private, groups; any other type is 400', async () => {
      const privates = await readAt(ann, '/api/chat/mychats/private/', latest);
      expect(privates.status).to.equal(200);
      expect(privates.body.count).to.equal(3);
      expect(uuids(privates.body.results)).to.deep.equal([AB, AE, AC]);
      const groups = await readAt(ann, '/api/chat/mychats/groups/', latest);
      expect(groups.status).to.equal(200);
      expect(groups.body.count).to.equal(1);
      expect(uuids(groups.body.results)).to.deep.equal([G]);
      for (const type of ['other', 'Private', 'group', 'all']) {
        const reply = await ann.api.get(`/api/chat/mychats/${type}/`);
        expect(reply.status, type).to.equal(400);
        expect(reply.body.code, type).to.equal('invalid');
      }
    });

    it('lowers unread_count with read marks, and never raises it again with an older mark', async () => {
      const unreadOfG = async (user: User) => {
        const list = await readAt(user, '/api/chat/mychats/', latest);
        return list.body.results.find((c: { uuid: string }) => c.uuid === G).unread_count as number;
      };
      const read30 = note(await cid.api.post(`/api/chat/${G}/read/`, { message_id: 30 }));
      expect(read30.status).to.equal(200);
      expect(read30.body.unread_count).to.equal(10);
      expect(read30.body.position).to.match(/^\d+$/);
      expect(await unreadOfG(cid)).to.equal(10);
      expect((await readAt(cid, `/api/chat/${G}/`, latest)).body.unread_count).to.equal(10);

      const older = note(await cid.api.post(`/api/chat/${G}/read/`, { message_id: 20 }));
      expect(older.status).to.equal(200);
      expect(older.body.unread_count).to.equal(10);
      expect(await unreadOfG(cid)).to.equal(10);

      note(await bob.api.post(`/api/chat/${G}/read/`, { message_id: 40 }));
      expect(await unreadOfG(bob)).to.equal(0);
      expect(await unreadOfG(cid), "bob's mark leaves cid's alone").to.equal(10);
      expect((await cid.api.post(`/api/chat/${G}/read/`, { message_id: 41 })).status).to.equal(404);
      expect((await dan.api.post(`/api/chat/${G}/read/`, { message_id: 1 })).status).to.equal(403);
    });

    // DEFECT: the chats projection starts a newcomer's read mark at the chat's message count
    // (src/projections/chatsProjection.ts, ParticipantAdded), the write side at 0 (src/commands/chat/chatDecider.ts,
    // evolve ParticipantAdded and MarkRead; chatCommands.ts markRead computes unread_count from it).
    it("answers a newcomer's read mark with the unread_count that mychats shows (the newcomer missed nothing before joining)", async () => {
      const created = note(await ann.api.post('/api/chat/mychats/groups/', { name: 'late joiners' }));
      const chat = created.body.chat.uuid as string;
      for (let i = 1; i <= 5; i++) note(await ann.api.post(`/api/chat/${chat}/messages/`, { message: `before eve ${i}` }));
      note(await ann.api.post(`/api/chat/${chat}/`, { user_uuid: eve.id }));
      const before = await readAt(eve, '/api/chat/mychats/groups/', latest);
      const shown = before.body.results.find((c: { uuid: string }) => c.uuid === chat).unread_count;
      expect(shown, 'unread_count of a newcomer in mychats').to.equal(0);

      const read = note(await eve.api.post(`/api/chat/${chat}/read/`, { message_id: 2 }));
      expect(read.status).to.equal(200);
      const after = await readAt(eve, '/api/chat/mychats/groups/', latest);
      const listed = after.body.results.find((c: { uuid: string }) => c.uuid === chat).unread_count;
      expect(read.body.unread_count, 'the read answer vs. mychats after it').to.equal(listed);
    });

    it('moves a chat to the top on new activity', async () => {
      const hi = note(await cid.api.post(`/api/chat/${AC}/messages/`, { message: 'hi ann' }));
      const annChats = await readAt(ann, '/api/chat/mychats/', latest);
      expect(uuids(annChats.body.results).filter((id) => [AB, AC, AE, G].includes(id))).to.deep.equal([AC, G, AB, AE]);
      expect(annChats.body.results[0]).to.include({ uuid: AC, lastmessage: 'hi ann', unread_count: 1, last_activity_date: hi.body.message.time_stamp });
      const cidChats = await readAt(cid, '/api/chat/mychats/', latest);
      expect(uuids(cidChats.body.results)).to.deep.equal([AC, G]);
      expect(cidChats.body.results[0].unread_count).to.equal(0);
    });
  });

  describe('chat detail and participation', () => {
    it('answers a chat with its participants (public users) and the list item the viewer sees', async () => {
      for (const viewer of [ann, bob, cid]) {
        const detail = await readAt(viewer, `/api/chat/${G}/`, latest);
        expect(detail.status).to.equal(200);
        expect(Object.keys(detail.body)).to.have.members([...CHAT_ITEM_KEYS, 'participants', 'created']);
        expect(detail.body.created).to.match(ISO_MICROS);
        expect(uuids(detail.body.participants)).to.have.members([ann.id, bob.id, cid.id]);
        for (const p of detail.body.participants) expect(Object.keys(p)).to.have.members(PUBLIC_USER_KEYS);
        const { participants: _p, created: _c, ...item } = detail.body;
        const listed = (await readAt(viewer, '/api/chat/mychats/', latest)).body.results.find((c: { uuid: string }) => c.uuid === G);
        expect(item).to.deep.equal(listed);
      }
      const ab = await readAt(ann, `/api/chat/${AB}/`, latest);
      expect(ab.body).to.include({ name: 'bob.rs', is_group_chat: false });
      expect(uuids(ab.body.participants)).to.have.members([ann.id, bob.id]);
    });

    // DEFECT: the write side answers a private chat with its stored name "" (src/commands/answers.ts chatDetail);
    // the read side names it after the other participant (src/queries/chatQueries.ts ITEM_COLUMNS).
    it('names a private chat in the accept-invitation answer as GET /api/chat/<uuid>/ names it for the same user', async () => {
      // bob accepted ann's invitation: his answer's chat is the chat as bob sees it
      const detail = await readAt(bob, `/api/chat/${AB}/`, latest);
      expect(detail.body.name).to.equal('ann.rs');
      expect(abAccepted.name, 'name in the 201 answer of POST /api/user/invitations/').to.equal(detail.body.name);
      expect(abAccepted.created).to.equal(detail.body.created);
    });

    it('refuses a non-participant: 403 on detail, messages and search; 404 for no such chat', async () => {
      for (const path of [`/api/chat/${G}/`, `/api/chat/${G}/messages/`, `/api/chat/${G}/messages/?before=0`, `/api/chat/${G}/search/banana/`, `/api/chat/${AB}/`]) {
        const reply = await readAt(dan, path, latest);
        expect(reply.status, path).to.equal(403);
        expect(reply.body.code, path).to.equal('not_a_participant');
        expect(JSON.stringify(reply.body), path).to.not.include('banana');
      }
      for (const path of [`/api/chat/${randomUUID()}/`, `/api/chat/${randomUUID()}/messages/`, `/api/chat/${randomUUID()}/search/x/`, '/api/chat/not-a-uuid/', '/api/chat/not-a-uuid/messages/']) {
        expect((await ann.api.get(path)).status, path).to.equal(404);
      }
    });
  });

  describe('users, friends, invitations', () => {
    it('searches users by part of the username, any letter case, best match first, never showing email', async () => {
      const all = await readAt(ann, '/api/user/search/.RS/?limit=100', latest);
      expect(all.status).to.equal(200);
      expect(all.body.count).to.equal(7);
      for (const user of all.body.results) {
        expect(Object.keys(user)).to.have.members([...PUBLIC_USER_KEYS, 'is_friend_of_current_user']);
        expect(JSON.stringify(user)).to.not.include('@example.com');
      }
      const friendship = Object.fromEntries(all.body.results.map((u: any) => [u.username, u.is_friend_of_current_user]));
      expect(friendship).to.deep.equal({
        'ann.rs': false,
        'bob.rs': true,
        'cid.rs': true,
        'dan.rs': false,
        'eve.rs': true,
        'frank.rs': false,
        'abbott.bobson.rs': false,
      });
      const seenByDan = await readAt(dan, '/api/user/search/rs/?limit=100', latest);
      expect(seenByDan.body.results.filter((u: any) => u.is_friend_of_current_user)).to.deep.equal([]);

      // "abbott.bobson.rs" sorts first by name; "bob.rs" matches "bob" better
      const bobs = await readAt(ann, '/api/user/search/BOB/', latest);
      expect(bobs.body.results.map((u: any) => u.username)).to.deep.equal(['bob.rs', 'abbott.bobson.rs']);
      for (const phrase of ['%', '_', '%%', '\\']) {
        const reply = await ann.api.get(`/api/user/search/${encodeURIComponent(phrase)}/`);
        expect(reply.status, phrase).to.equal(200);
        expect(reply.body.count, `${phrase} is a literal character`).to.equal(0);
      }
    });

    it('answers a user without email (the own user with it), 404 for no such user', async () => {
      const bobSeen = await readAt(ann, `/api/user/${bob.id}/`, latest);
      expect(bobSeen.status).to.equal(200);
      expect(Object.keys(bobSeen.body)).to.have.members(PUBLIC_USER_KEYS);
      expect(bobSeen.body).to.include({ uuid: bob.id, username: 'bob.rs', is_active: true });
      const own = await bob.api.get('/api/user/currentuser/');
      expect(own.body.email).to.equal(bob.email);
      expect((await ann.api.get(`/api/user/${randomUUID()}/`)).status).to.equal(404);
      expect((await ann.api.get('/api/user/not-a-uuid/')).status).to.equal(404);
    });

    it('leaves a deactivated user out of the search (deactivated through the event log: there is no endpoint)', async () => {
      expect((await readAt(ann, '/api/user/search/frank/', latest)).body.count).to.equal(1);
      const appended = await backend.eventStore.append(`user-${frank.id}`, [newEvent('UserDeactivated', {})], 'stream_exists');
      latest = later(latest, String(appended.position));
      const search = await readAt(ann, '/api/user/search/frank/', latest);
      expect(search.status).to.equal(200);
      expect(search.body).to.deep.include({ count: 0, results: [] });
      expect((await readAt(ann, '/api/user/search/.rs/?limit=100', latest)).body.results.map((u: any) => u.username)).to.not.include('frank.rs');
      const detail = await readAt(ann, `/api/user/${frank.id}/`, latest);
      expect(detail.status).to.equal(200);
      expect(detail.body.is_active).to.equal(false);
    });

    it('lists friends and received invitations, with public users only', async () => {
      const friends = await readAt(ann, '/api/user/friends/', latest);
      expect(friends.status).to.equal(200);
      expect(friends.body.count).to.equal(3);
      expect(friends.body.results.map((u: any) => u.username)).to.deep.equal(['bob.rs', 'cid.rs', 'eve.rs']);
      for (const user of friends.body.results) expect(Object.keys(user)).to.have.members(PUBLIC_USER_KEYS);
      expect((await readAt(dan, '/api/user/friends/', latest)).body).to.deep.equal({ count: 0, next: null, previous: null, results: [] });

      const invited = note(await dan.api.post('/api/user/friends/', { user_uuid: ann.id }));
      expect(invited.status).to.equal(201);
      const received = await readAt(ann, '/api/user/invitations/', latest);
      expect(received.status).to.equal(200);
      expect(received.body.count).to.equal(1);
      const [invitation] = received.body.results;
      expect(Object.keys(invitation)).to.have.members(['id', 'from', 'to', 'created']);
      expect(invitation).to.deep.include({ id: invited.body.id });
      expect(invitation.from.uuid).to.equal(dan.id);
      expect(invitation.to.uuid).to.equal(ann.id);
      expect(Object.keys(invitation.from)).to.have.members(PUBLIC_USER_KEYS);
      expect(Object.keys(invitation.to)).to.have.members(PUBLIC_USER_KEYS);
      expect((await readAt(dan, '/api/user/invitations/', latest)).body.count, 'sent invitations are not received ones').to.equal(0);

      const declined = note(await ann.api.post('/api/user/invitations/', { invitation_id: invited.body.id, decision: false }));
      expect(declined.status).to.equal(200);
      expect((await readAt(ann, '/api/user/invitations/', latest)).body).to.deep.include({ count: 0, results: [] });
      expect((await readAt(ann, '/api/user/friends/', latest)).body.count).to.equal(3);
    });
  });

  describe('pagination and X-Min-Position', () => {
    it('refuses a limit over 100, a limit under 1 and a negative or non-numeric offset with 400', async () => {
      for (const query of ['limit=101', 'limit=0', 'limit=-1', 'limit=abc', 'offset=-1', 'offset=1.5', 'limit=8&limit=9']) {
        for (const path of ['/api/chat/mychats/', '/api/user/friends/', '/api/user/search/rs/', `/api/chat/${G}/search/banana/`]) {
          const reply = await ann.api.get(`${path}?${query}`);
          expect(reply.status, `${path}?${query}`).to.equal(400);
          expect(reply.body.code, `${path}?${query}`).to.equal('invalid');
        }
      }
      expect((await ann.api.get('/api/chat/mychats/?limit=100')).status).to.equal(200);
    });

    it('links next and previous pages that can be followed, without skip or repeat', async () => {
      for (const path of ['/api/chat/mychats/', '/api/user/search/rs/', '/api/user/friends/']) {
        const whole = await readAt(ann, `${path}?limit=100`, latest);
        expect(whole.body.count, path).to.be.greaterThan(2);
        const expected = uuids(whole.body.results);

        const forward: string[] = [];
        let last: any = null;
        let next: string | null = `${backend.url}${path}?limit=2`;
        while (next) {
          expect(next.startsWith(`${backend.url}${path}`), next).to.equal(true);
          const page: Reply = await follow(ann.key, next);
          expect(page.status, next).to.equal(200);
          expect(page.body.count).to.equal(expected.length);
          forward.push(...uuids(page.body.results));
          last = page.body;
          next = page.body.next;
        }
        expect(forward, path).to.deep.equal(expected);

        const backward: string[][] = [];
        let previous: string | null = last.previous;
        while (previous) {
          const page: Reply = await follow(ann.key, previous);
          expect(page.status, previous).to.equal(200);
          backward.unshift(uuids(page.body.results));
          previous = page.body.previous;
        }
        expect([...backward.flat(), ...uuids(last.results)], `${path} walked back`).to.deep.equal(expected);
      }
    });

    it('refuses a malformed X-Min-Position with 400', async () => {
      for (const value of ['abc', '12a', '-5', '1.0', '0x10', '1e3']) {
        const reply = await ann.api.get('/api/chat/mychats/', { 'X-Min-Position': value });
        expect(reply.status, value).to.equal(400);
        expect(reply.body.code, value).to.equal('invalid');
      }
    });

    it('answers 503 projection_lag after about 2 s for a position the log has not reached', async () => {
      const far = String(BigInt(latest) + 1_000_000n);
      for (const path of ['/api/chat/mychats/', `/api/user/${bob.id}/`]) {
        const started = Date.now();
        const reply = await ann.api.get(path, at(far));
        const took = Date.now() - started;
        expect(reply.status, path).to.equal(503);
        expect(reply.body.code).to.equal('projection_lag');
        expect(reply.headers.get('retry-after')).to.match(/^\d+$/);
        expect(took, 'ms waited').to.be.within(1900, 4000);
      }
      // a position already reached answers at once
      const started = Date.now();
      expect((await readAt(ann, '/api/chat/mychats/', latest)).status).to.equal(200);
      expect(Date.now() - started).to.be.lessThan(1000);
    });
  });
});

describe('read side over HTTP: cached answers on a real Memcached change as soon as the change is projected', function () {
  this.timeout(60_000);
  let backend: TestBackend | undefined;
  let memcached: memjs.Client | undefined;
  let api: Client;
  let ann: User, bob: User, cid: User, dan: User, eve: User;
  let AB: string, G: string;

  /** the key prefix and version keys of src/queries/createMemcachedCache.ts */
  const PREFIX = 'chat:';
  async function versions(scopes: string[]): Promise<number[]> {
    return Promise.all(
      scopes.map(async (scope) => {
        const { value } = await memcached!.get(`${PREFIX}v:${scope}`);
        return value ? Number(value.toString('ascii')) : 0;
      }),
    );
  }
  /** the Memcached key an answer is stored under now (see src/queries/QueryCache.ts and queryRoutes.ts) */
  async function keyOf(parts: unknown[], scopes: string[]) {
    return PREFIX + cacheKey(parts, scopes);
  }

  /**
   * Reads `path` (so its answer is cached), finds the answer in Memcached under its key, changes it
   * there with `mark`, and proves that the next read answers the changed one: it is served from
   * Memcached. A few attempts, in case another process bumps a shared scope ("users") meanwhile.
   */
  async function servedFromMemcached(user: User, path: string, parts: unknown[], scopes: string[], mark: (value: any) => void, marked: (body: any) => boolean) {
    for (let attempt = 1; ; attempt++) {
      const first = await user.api.get(path);
      expect(first.status, path).to.equal(200);
      const key = await keyOf(parts, scopes);
      const { value } = await memcached!.get(key);
      if (value) {
        const stored = JSON.parse(value.toString('utf8'));
        expect(stored.position).to.match(/^\d+$/);
        mark(stored.value);
        await memcached!.set(key, JSON.stringify(stored), { expires: 60 });
        const second = await user.api.get(path);
        if (marked(second.body)) return;
      }
      if (attempt === 3) expect.fail(`${path}: the answer was not served from Memcached (key ${key}, ${value ? 'stored' : 'not stored'})`);
    }
  }

  /** waits for the projections through a query that is never cached */
  async function projected(user: User, position: string) {
    const reply = await readAt(user, '/api/user/friends/', position);
    expect(reply.status, 'waiting for the projections').to.equal(200);
  }

  const mychats = (user: User) => ({ path: '/api/chat/mychats/', parts: ['mychats', user.id, null, 8, 0], scopes: [`user:${user.id}`] });
  const userDetail = (of: User) => ({ path: `/api/user/${of.id}/`, parts: ['user', of.id], scopes: [`user:${of.id}`, 'users'] });
  const userSearch = (viewer: User, phrase: string) => ({
    path: `/api/user/search/${phrase}/`,
    parts: ['users.search', viewer.id, phrase, 8, 0],
    scopes: ['users', `user:${viewer.id}`],
  });
  const POISON = 'served from Memcached';
  const poisonFirst = { mark: (v: any) => (v.results[0].lastmessage = POISON), marked: (b: any) => b.results?.[0]?.lastmessage === POISON };
  const poisonDescription = { mark: (v: any) => (v.description = POISON), marked: (b: any) => b.description === POISON };
  const poisonResults = { mark: (v: any) => (v.results[0].description = POISON), marked: (b: any) => b.results?.[0]?.description === POISON };

  before(async function () {
    const servers = requireService(this, 'memcached');
    backend = await startTestBackend({ MEMCACHED_SERVERS: servers });
    memcached = memjs.Client.create(servers, { retries: 1, logger: { log() {} } });
    api = client(backend.url);
    [ann, bob, cid, dan, eve] = [
      await registerUser(api, 'ann.mc'),
      await registerUser(api, 'bob.mc'),
      await registerUser(api, 'cid.mc'),
      await registerUser(api, 'dan.mc'),
      await registerUser(api, 'eve.mc'),
    ];
    AB = (await makeFriends(ann, bob)).chat;
    await makeFriends(ann, eve);
    const created = await ann.api.post('/api/chat/mychats/groups/', { name: 'cache club' });
    G = created.body.chat.uuid;
    await ann.api.post(`/api/chat/${G}/`, { user_uuid: bob.id });
    const first = await ann.api.post(`/api/chat/${G}/messages/`, { message: 'first' });
    await projected(ann, first.body.position);
  });
  after(async () => {
    memcached?.close();
    await backend?.close();
  });

  it('stores answers in Memcached under the cache prefix and answers a repeated read from there', async () => {
    const { path, parts, scopes } = mychats(ann);
    await servedFromMemcached(ann, path, parts, scopes, poisonFirst.mark, poisonFirst.marked);
    // and the version of the viewer's scope lives there too, bumped by the projections
    const [version] = await versions(scopes);
    expect(version, `version of user:${ann.id}`).to.be.greaterThan(0);
  });

  it('shows a new message in a cached mychats at once (not after the 90 s TTL)', async () => {
    const { path, parts, scopes } = mychats(ann);
    await servedFromMemcached(ann, path, parts, scopes, poisonFirst.mark, poisonFirst.marked);
    const posted = await bob.api.post(`/api/chat/${G}/messages/`, { message: 'fresh news' });
    expect(posted.status).to.equal(201);
    await projected(bob, posted.body.position);
    const reply = await ann.api.get(path);
    expect(reply.body.results[0]).to.include({ uuid: G, lastmessage: 'fresh news', unread_count: 1, last_activity_date: posted.body.message.time_stamp });
    const withMin = await readAt(ann, path, posted.body.position);
    expect(withMin.body.results[0]).to.include({ uuid: G, lastmessage: 'fresh news' });
  });

  it('shows a group rename in the cached mychats of every participant at once', async () => {
    const { path, parts, scopes } = mychats(bob);
    await servedFromMemcached(bob, path, parts, scopes, poisonFirst.mark, poisonFirst.marked);
    const renamed = await ann.api.patch(`/api/chat/${G}/`, { name: 'renamed club' });
    expect(renamed.status).to.equal(200);
    expect(renamed.body.position).to.match(/^\d+$/);
    await projected(ann, renamed.body.position);
    const reply = await bob.api.get(path);
    const group = reply.body.results.find((c: { uuid: string }) => c.uuid === G);
    expect(group.name).to.equal('renamed club');
    expect(reply.body.results[0].lastmessage).to.not.equal(POISON);
  });

  it('shows a profile update in a cached GET /api/user/<uuid>/ at once', async () => {
    const { path, parts, scopes } = userDetail(bob);
    await servedFromMemcached(ann, path, parts, scopes, poisonDescription.mark, poisonDescription.marked);
    const updated = await bob.api.patch('/api/user/currentuser/', { username: 'bob.mc.v2', description: 'second description' });
    expect(updated.status).to.equal(200);
    await projected(bob, updated.body.position);
    const reply = await ann.api.get(path);
    expect(reply.body).to.include({ uuid: bob.id, username: 'bob.mc.v2', description: 'second description' });
  });

  it('shows a profile update in a cached user search at once', async () => {
    const { path, parts, scopes } = userSearch(ann, 'bob.mc');
    await servedFromMemcached(ann, path, parts, scopes, poisonResults.mark, poisonResults.marked);
    const updated = await bob.api.patch('/api/user/currentuser/', { username: 'bob.mc.v3', description: 'third description' });
    expect(updated.status).to.equal(200);
    await projected(bob, updated.body.position);
    const reply = await ann.api.get(path);
    expect(reply.body.results.map((u: any) => [u.username, u.description])).to.deep.equal([['bob.mc.v3', 'third description']]);
  });

  it('shows a new friendship in a cached user search at once (is_friend_of_current_user)', async () => {
    const { path, parts, scopes } = userSearch(ann, 'cid.mc');
    await servedFromMemcached(ann, path, parts, scopes, poisonResults.mark, poisonResults.marked);
    const friends = await makeFriends(ann, cid);
    await projected(ann, friends.position);
    const reply = await ann.api.get(path);
    expect(reply.body.results).to.have.length(1);
    expect(reply.body.results[0]).to.include({ uuid: cid.id, is_friend_of_current_user: true });
    expect(reply.body.results[0].description).to.not.equal(POISON);
  });

  it('shows a group one is added to, and drops one removed from, in a cached mychats at once', async () => {
    const { path, parts, scopes } = mychats(eve);
    await servedFromMemcached(eve, path, parts, scopes, poisonFirst.mark, poisonFirst.marked);
    const added = await ann.api.post(`/api/chat/${G}/`, { user_uuid: eve.id });
    expect(added.status).to.equal(200);
    await projected(ann, added.body.position);
    expect(uuids((await eve.api.get(path)).body.results)).to.include(G);

    await servedFromMemcached(eve, path, parts, scopes, poisonFirst.mark, poisonFirst.marked);
    const removed = await ann.api.delete(`/api/chat/${G}/participants/${eve.id}/`);
    expect(removed.status).to.equal(200);
    await projected(ann, removed.body.position);
    const after = await eve.api.get(path);
    expect(uuids(after.body.results)).to.not.include(G);
    expect(after.body.results[0].lastmessage).to.not.equal(POISON);
  });

  it('leaves a deactivated user out of a cached user search at once', async () => {
    const { path, parts, scopes } = userSearch(ann, 'dan.mc');
    await servedFromMemcached(ann, path, parts, scopes, poisonResults.mark, poisonResults.marked);
    const appended = await backend!.eventStore.append(`user-${dan.id}`, [newEvent('UserDeactivated', {})], 'stream_exists');
    await projected(ann, String(appended.position));
    expect((await ann.api.get(path)).body).to.deep.include({ count: 0, results: [] });
  });

  // DEFECT: a private chat is listed under the other participant's username (src/queries/chatQueries.ts,
  // ITEM_COLUMNS), but mychats is cached under the viewer's scope only (src/http/routes/queryRoutes.ts),
  // and a profile update bumps the updated user's scope and `users` (src/projections/usersProjection.ts):
  // the viewer's cached list keeps the old name until its 90 s TTL runs out.
  it("shows the other user's new username as the private chat's name in a cached mychats at once", async () => {
    const { path, parts, scopes } = mychats(ann);
    await servedFromMemcached(ann, path, parts, scopes, poisonFirst.mark, poisonFirst.marked);
    const updated = await bob.api.patch('/api/user/currentuser/', { username: 'bob.mc.v4' });
    expect(updated.status).to.equal(200);
    await projected(bob, updated.body.position);
    // uncached, the read model has the new name
    expect((await ann.api.get(`/api/chat/${AB}/`)).body.name).to.equal('bob.mc.v4');
    const reply = await ann.api.get(path);
    const chat = reply.body.results.find((c: { uuid: string }) => c.uuid === AB);
    expect(chat.name, 'the private chat in the cached mychats').to.equal('bob.mc.v4');
  });
});

describe('read side over HTTP: Memcached down', function () {
  this.timeout(60_000);
  let backend: TestBackend;
  let api: Client;

  before(async () => {
    // a closed port: every cache call fails at once
    backend = await startTestBackend({ MEMCACHED_SERVERS: '127.0.0.1:1' });
    api = client(backend.url);
  });
  after(async () => {
    await backend?.close();
  });

  it('answers queries 200 from Postgres, quickly and fresh', async () => {
    const [ann, bob] = [await registerUser(api, 'ann.down'), await registerUser(api, 'bob.down')];
    const { chat } = await makeFriends(ann, bob);
    const first = await ann.api.post(`/api/chat/${chat}/messages/`, { message: 'no cache' });
    expect(first.status).to.equal(201);
    const waited = await readAt(bob, '/api/chat/mychats/', first.body.position);
    expect(waited.status).to.equal(200);
    expect(waited.body.results[0]).to.include({ uuid: chat, lastmessage: 'no cache', unread_count: 1 });

    const paths = ['/api/chat/mychats/', '/api/chat/mychats/private/', `/api/user/${ann.id}/`, '/api/user/search/down/', `/api/chat/${chat}/`, '/api/user/friends/'];
    // each cache call fails at once (connection refused), then the server is left alone for a second:
    // no query waits for Memcached's timeouts
    const times: number[] = [];
    for (let round = 0; round < 3; round++) {
      for (const path of paths) {
        const started = Date.now();
        const reply = await bob.api.get(path);
        times.push(Date.now() - started);
        expect(reply.status, path).to.equal(200);
      }
    }
    times.sort((x, y) => x - y);
    expect(times[Math.floor(times.length / 2)], `median ms of ${times.join(', ')}`).to.be.lessThan(150);
    expect(times.at(-1), `slowest ms of ${times.join(', ')}`).to.be.lessThan(1000);
    expect((await bob.api.get('/api/user/search/down/')).body.count).to.equal(2);

    const second = await ann.api.post(`/api/chat/${chat}/messages/`, { message: 'still no cache' });
    await readAt(bob, '/api/user/friends/', second.body.position);
    const fresh = await bob.api.get('/api/chat/mychats/');
    expect(fresh.body.results[0]).to.include({ lastmessage: 'still no cache', unread_count: 2 });
  });
});
