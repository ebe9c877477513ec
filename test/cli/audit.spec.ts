import { expect } from 'chai';
import { randomUUID } from 'node:crypto';
import { readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { isoMicros, nowMicros } from '../../src/events/time.ts';
import { adminQuery, requireService } from '../support/services.ts';
import { befriend, client, registerUser, startTestBackend, type Client, type Reply, type TestBackend } from '../support/testBackend.ts';
import { runCli, STACK_LINE, type CliRun } from './runCli.ts';

type User = Awaited<ReturnType<typeof registerUser>>;

const byUser = (a: { user_id: string }, b: { user_id: string }) => (a.user_id < b.user_id ? -1 : a.user_id > b.user_id ? 1 : 0);
const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * The auditor's tools against the whole backend: a scenario through the HTTP API, then the CLI as
 * its own process on the same database, and the audit endpoints.
 */
describe('audit: chat replay, hash chains, export, roles (CLI and REST)', function () {
  this.timeout(120_000);
  let backend: TestBackend;
  let api: Client;
  let env: Record<string, string>;
  let ann: User, bob: User, cid: User;
  let chat: string;
  /** before the chat, between the two halves of the scenario, after it */
  let beforeChat: string, middle: string, end: string;
  let latest = '0';
  const tmp: string[] = [];

  const cli = (...args: string[]) => runCli(args, env);
  const ok = (reply: Reply, status = 200) => {
    expect(reply.status, `${reply.status} ${JSON.stringify(reply.body)}`).to.equal(status);
    if (reply.body?.position && BigInt(reply.body.position) > BigInt(latest)) latest = reply.body.position;
    return reply.body;
  };
  const json = (run: CliRun) => {
    expect(run.status, `exit status; stderr: ${run.stderr}`).to.equal(0);
    return JSON.parse(run.stdout);
  };
  const sql = async (text: string) => (await adminQuery(backend.db.url, text)).rows;
  const clean = (run: CliRun) => expect(run.stderr, 'no stack trace').not.to.match(STACK_LINE);

  before(async function () {
    requireService(this, 'postgres');
    backend = await startTestBackend();
    api = client(backend.url);
    env = { DATABASE_URL: backend.db.url };
    [ann, bob, cid] = [await registerUser(api, 'ann'), await registerUser(api, 'bob'), await registerUser(api, 'cid')];
    await befriend(ann, bob);
    await befriend(ann, cid);
    beforeChat = isoMicros(nowMicros());
    await pause(5);

    // first half: a group of three, three messages, an edit and a deletion
    chat = ok(await ann.api.post('/api/chat/mychats/groups/', { name: 'plans' }), 201).chat.uuid;
    ok(await ann.api.post(`/api/chat/${chat}/`, { user_uuid: bob.id }));
    ok(await ann.api.post(`/api/chat/${chat}/`, { user_uuid: cid.id }));
    ok(await ann.api.post(`/api/chat/${chat}/messages/`, { message: 'first draft' }), 201);
    ok(await bob.api.post(`/api/chat/${chat}/messages/`, { message: 'bob was here' }), 201);
    ok(await cid.api.post(`/api/chat/${chat}/messages/`, { message: 'cid says hi' }), 201);
    ok(await ann.api.patch(`/api/chat/${chat}/messages/1/`, { message: 'second draft' }));
    ok(await bob.api.delete(`/api/chat/${chat}/messages/2/`));
    ok(await cid.api.post(`/api/chat/${chat}/read/`, { message_id: 3 }));
    await pause(5);
    middle = isoMicros(nowMicros());
    await pause(5);

    // second half: bob leaves, cid is removed, more edits and deletions, a rename
    ok(await bob.api.delete(`/api/chat/${chat}/participants/${bob.id}/`));
    ok(await ann.api.delete(`/api/chat/${chat}/participants/${cid.id}/`));
    ok(await ann.api.patch(`/api/chat/${chat}/messages/1/`, { message: 'final text' }));
    ok(await ann.api.post(`/api/chat/${chat}/messages/`, { message: 'just me now' }), 201);
    ok(await ann.api.delete(`/api/chat/${chat}/messages/3/`));
    ok(await ann.api.patch(`/api/chat/${chat}/`, { name: 'plans, final' }));
    ok(await ann.api.post(`/api/chat/${chat}/`, { user_uuid: bob.id }));
    // the read models include every step before they are compared with the replay
    ok(await ann.api.get(`/api/chat/${chat}/`, { 'X-Min-Position': latest }));
    await pause(5);
    end = isoMicros(nowMicros());
  });

  after(async () => {
    for (const file of tmp) await rm(file, { force: true });
    await backend?.close();
  });

  describe('audit chat', () => {
    it('as of now equals the read models, field by field', async () => {
      const audit = json(await cli('audit', 'chat', chat, '--as-of', 'now', '--json'));
      const [row] = await sql(`SELECT name, is_group_chat, admin, created, message_count FROM rm_chats WHERE uuid = '${chat}'`);
      expect({ name: audit.name, is_group_chat: audit.is_group_chat, admin: audit.admin, created: audit.created }).to.deep.equal({
        name: row.name,
        is_group_chat: row.is_group_chat,
        admin: row.admin,
        created: row.created,
      });
      expect(audit.name).to.equal('plans, final');

      const members = await sql(`SELECT user_id, read_up_to FROM rm_chat_members WHERE chat_id = '${chat}' ORDER BY user_id`);
      const participants = audit.participants.map((p: any) => ({ user_id: p.user_id, read_up_to: p.read_up_to })).sort(byUser);
      expect(participants).to.deep.equal([...members].sort(byUser));
      const detail = ok(await ann.api.get(`/api/chat/${chat}/`, { 'X-Min-Position': latest }));
      expect(audit.participants.map((p: any) => p.user_id)).to.have.members(detail.participants.map((p: any) => p.uuid));
      expect(audit.participants.map((p: any) => p.user_id)).to.have.members([ann.id, bob.id]);

      const rows = await sql(`SELECT id, author_id, content, time_stamp, edited_at, deleted FROM rm_messages WHERE chat_id = '${chat}' ORDER BY id`);
      expect(rows).to.have.length(4);
      expect(audit.messages.map((m: any) => ({ id: m.id, author_id: m.author_id, content: m.content, time_stamp: m.time_stamp, edited_at: m.edited_at, deleted: m.deleted }))).to.deep.equal(
        rows.map((r: any) => ({ ...r, time_stamp: isoMicros(Number(r.time_stamp)) })),
      );
      expect(audit.messages.map((m: any) => [m.content, m.deleted])).to.deep.equal([
        ['final text', false],
        ['', true],
        ['', true],
        ['just me now', false],
      ]);
    });

    it('keeps what the read models forget: each stay, and each message\'s history', async () => {
      const audit = json(await cli('audit', 'chat', chat, '--json'));
      const stays = audit.memberships.map((m: any) => [m.user_id, m.added_by, m.ended?.how ?? null, m.ended?.by ?? null]);
      expect(stays).to.deep.equal([
        [ann.id, ann.id, null, null],
        [bob.id, ann.id, 'left', bob.id],
        [cid.id, ann.id, 'removed', ann.id],
        [bob.id, ann.id, null, null],
      ]);
      const [first, second, third] = audit.messages;
      expect(first.history.map((h: any) => [h.change, h.by, h.content])).to.deep.equal([
        ['posted', ann.id, 'first draft'],
        ['edited', ann.id, 'second draft'],
        ['edited', ann.id, 'final text'],
      ]);
      expect(second.history.map((h: any) => [h.change, h.by, h.content])).to.deep.equal([
        ['posted', bob.id, 'bob was here'],
        ['deleted', bob.id, null],
      ]);
      expect([third.deleted_by, third.history[0].content]).to.deep.equal([ann.id, 'cid says hi']);
      const [{ count }] = await sql(`SELECT count(*)::int AS count FROM es_events WHERE stream = 'chat-${chat}'`);
      expect(audit.activity).to.have.length(count);
      expect(audit.activity.map((a: any) => a.actor)).to.include(bob.id);
    });

    it('as of a moment between two steps shows the chat as it was then', async () => {
      const audit = json(await cli('audit', 'chat', chat, '--as-of', middle, '--json'));
      expect(audit.as_of).to.equal(middle);
      expect(audit.name).to.equal('plans');
      expect(audit.admin).to.equal(ann.id);
      expect(audit.participants.map((p: any) => p.user_id)).to.deep.equal([ann.id, bob.id, cid.id]);
      expect(audit.participants.find((p: any) => p.user_id === cid.id).read_up_to).to.equal(3);
      expect(audit.memberships.every((m: any) => m.ended === null)).to.equal(true);
      expect(audit.messages.map((m: any) => [m.id, m.content, m.deleted])).to.deep.equal([
        [1, 'second draft', false],
        [2, '', true],
        [3, 'cid says hi', false],
      ]);
      // nothing recorded after the moment is in it
      for (const a of audit.activity) expect(a.recorded_at <= middle, `${a.recorded_at} after ${middle}`).to.equal(true);
    });

    it('prints a table for people', async () => {
      const run = await cli('audit', 'chat', chat);
      expect(run.status, run.stderr).to.equal(0);
      expect(run.stdout).to.contain(`chat ${chat}`).and.contain('group chat "plans, final"').and.contain('former participants').and.contain('"final text"');
      // users by name, with a legend of their ids
      expect(run.stdout).to.contain('ann removed cid').and.contain('edited by ann').and.contain('deleted by bob');
      expect(run.stdout).to.match(new RegExp(`^  ann +${ann.id}$`, 'm'));
    });

    it('before the chat existed, or for an unknown chat: a clear message, exit 1', async () => {
      const early = await cli('audit', 'chat', chat, '--as-of', beforeChat);
      expect(early.status).to.equal(1);
      expect(early.stderr).to.contain(`no chat ${chat} in the log as of`);
      const unknown = await cli('audit', 'chat', randomUUID());
      expect(unknown.status).to.equal(1);
      expect(unknown.stderr).to.match(/^no chat [0-9a-f-]{36} in the log as of/);
      expect(unknown.stdout).to.equal('');
      clean(early);
      clean(unknown);
    });
  });

  describe('command line mistakes: one clear line and the usage, no stack trace', () => {
    const cases: [string, string[], number, RegExp][] = [
      ['a bad --as-of', ['audit', 'chat', '3b241101-e2bb-4255-8caf-4136c566a962', '--as-of', 'yesterday'], 2, /--as-of "yesterday" is not a time/],
      ['an impossible date', ['audit', 'chat', '3b241101-e2bb-4255-8caf-4136c566a962', '--as-of', '2026-02-30T00:00:00Z'], 2, /is not a time/],
      ['--as-of without its value', ['audit', 'chat', '3b241101-e2bb-4255-8caf-4136c566a962', '--as-of'], 2, /--as-of needs a value/],
      ['a malformed chat id', ['audit', 'chat', 'not-a-uuid'], 2, /"not-a-uuid" is not a chat uuid/],
      ['an unknown command', ['audit', 'replay'], 2, /unknown command "audit replay"/],
      ['an unknown option', ['audit', 'verify', '--everything'], 2, /unknown option --everything/],
      ['an export without --out', ['audit', 'export', '--from', '2026-01-01T00:00:00Z', '--to', 'now'], 2, /--out is required/],
      ['an export window that ends before it starts', ['audit', 'export', '--from', 'now', '--to', '2026-01-01T00:00:00Z', '--out', '/tmp/x.ndjson'], 2, /--from is after --to/],
      ['--stream and --all together', ['audit', 'verify', '--stream', 'chat-x', '--all'], 2, /not both/],
      ['an unknown role', ['roles', 'grant', 'someone@example.com', 'overlord'], 2, /unknown role "overlord"/],
    ];
    for (const [what, args, status, message] of cases) {
      it(what, async () => {
        const run = await cli(...args);
        expect(run.status, run.stderr).to.equal(status);
        expect(run.stderr).to.match(message);
        if (status === 2) expect(run.stderr).to.match(/usage:\s+chat-backend /);
        clean(run);
      });
    }

    it('a role for an unknown email: exit 1, nothing appended', async () => {
      const before = await backend.logHead();
      const run = await cli('roles', 'grant', 'nobody@example.com', 'auditor');
      expect(run.status).to.equal(1);
      expect(run.stderr).to.contain('no user with the email nobody@example.com');
      expect(await backend.logHead()).to.equal(before);
      clean(run);
    });

    it('a database that does not answer: one line, exit 1', async () => {
      const run = await runCli(['audit', 'verify'], { DATABASE_URL: 'postgres://postgres@127.0.0.1:1/none' });
      expect(run.status).to.equal(1);
      expect(run.stderr.trim().split('\n')).to.have.length(1);
      clean(run);
    });

    it('--help lists every command; no arguments is a mistake', async () => {
      const help = await cli('--help');
      expect(help.status).to.equal(0);
      for (const usage of ['audit chat <uuid>', 'audit verify', 'audit export', 'roles grant', 'roles revoke']) expect(help.stdout).to.contain(usage);
      const none = await cli();
      expect(none.status).to.equal(2);
      expect(none.stderr).to.contain('audit chat <uuid>');
    });
  });

  describe('REST: the auditor role', () => {
    const chatPath = () => `/api/audit/chats/${chat}/`;
    const streamPath = () => `/api/audit/streams/chat-${chat}/events/`;

    it('401 without a token, 403 without the role', async () => {
      expect((await api.get(chatPath())).status).to.equal(401);
      expect((await api.get(streamPath())).status).to.equal(401);
      for (const path of [chatPath(), streamPath()]) {
        const refused = await ann.api.get(path);
        expect(refused.status).to.equal(403);
        expect(refused.body).to.deep.equal({ detail: 'This needs the auditor role.', code: 'forbidden' });
      }
    });

    it('a grant takes effect at once, recorded as an event with the operator as actor; a revocation too', async () => {
      const granted = await cli('roles', 'grant', cid.email, 'auditor', '--operator', 'ops-jane');
      expect(granted.status, granted.stderr).to.equal(0);
      expect(granted.stdout).to.match(/^granted auditor to .* at position \d+/);
      const [event] = await sql(`SELECT data, metadata->>'actor' AS actor FROM es_events WHERE stream = 'user-${cid.id}' AND type = 'UserRoleGranted'`);
      expect(event).to.deep.equal({ data: { role: 'auditor', granted_by: 'ops-jane' }, actor: 'ops-jane' });
      const again = await cli('roles', 'grant', cid.email, 'auditor');
      expect(again.stdout).to.contain('holds the auditor role already; nothing recorded');

      // an auditor need not be in the chat (cid was removed from it)
      const viaRest = ok(await cid.api.get(`${chatPath()}?as_of=${encodeURIComponent(middle)}`));
      const viaCli = json(await cli('audit', 'chat', chat, '--as-of', middle, '--json'));
      expect(viaRest).to.deep.equal({ ...viaCli, next: null });
      ok(await cid.api.get(streamPath()));
      // another role is not this one
      expect((await bob.api.get(chatPath())).status).to.equal(403);

      const revoked = await cli('roles', 'revoke', cid.email, 'auditor');
      expect(revoked.status, revoked.stderr).to.equal(0);
      expect(revoked.stdout).to.match(/^revoked auditor from/);
      expect((await cid.api.get(chatPath())).status).to.equal(403);
      const [{ actor }] = await sql(`SELECT metadata->>'actor' AS actor FROM es_events WHERE stream = 'user-${cid.id}' AND type = 'UserRoleRevoked'`);
      expect(actor).to.equal('cli');
    });

    describe('as an auditor', () => {
      before(async () => {
        const granted = await cli('roles', 'grant', bob.email, 'auditor');
        expect(granted.status, granted.stderr).to.equal(0);
      });

      it("a stream's events page by page, in revision order, with metadata and hash chain", async () => {
        const [{ count }] = await sql(`SELECT count(*)::int AS count FROM es_events WHERE stream = 'chat-${chat}'`);
        const seen: any[] = [];
        let next: string | null = `${backend.url}${streamPath()}?limit=4`;
        while (next) {
          const page: any = ok(await client('', bob.key).get(next));
          expect(page.stream).to.equal(`chat-${chat}`);
          seen.push(...page.events);
          next = page.next;
        }
        expect(seen.map((e) => Number(e.revision))).to.deep.equal([...Array(count).keys()]);
        expect(seen[0]).to.include({ type: 'ChatCreated', stream: `chat-${chat}` });
        expect(seen[1].metadata.prev_hash).to.equal(seen[0].metadata.hash);
        const fromFive = ok(await bob.api.get(`${streamPath()}?from=5&limit=2`));
        expect(fromFive.events.map((e: any) => e.revision)).to.deep.equal(['5', '6']);
      });

      it("a chat's audit pages fit together into the whole replay of one moment", async () => {
        const whole = json(await cli('audit', 'chat', chat, '--json'));
        expect(whole.messages.length).to.be.greaterThan(2, "more messages than one page holds");
        const messages: any[] = [];
        const activity: any[] = [];
        let pages = 0;
        let moment: string | undefined;
        let next: string | null = `${backend.url}${chatPath()}?limit=2`;
        while (next) {
          const page: any = ok(await client('', bob.key).get(next));
          expect(page.messages.length).to.be.at.most(2);
          expect(page.activity.length).to.be.at.most(2);
          const { messages: m, activity: a, next: n, as_of, ...state } = page;
          const { messages: _m, activity: _a, as_of: _t, ...wholeState } = whole;
          // every page carries the chat's state; the link keeps the moment of the first
          expect(state).to.deep.equal(wholeState);
          moment ??= as_of;
          expect(as_of).to.equal(moment);
          messages.push(...m);
          activity.push(...a);
          next = n;
          pages++;
        }
        expect(pages).to.equal(Math.ceil(Math.max(whole.messages.length, whole.activity.length) / 2));
        expect(messages).to.deep.equal(whole.messages);
        expect(activity).to.deep.equal(whole.activity);
      });

      it('refuses bad input in the contract\'s shape', async () => {
        const bad = async (path: string, status: number, code: string) => {
          const reply = await bob.api.get(path);
          expect(reply.status, `${path}: ${JSON.stringify(reply.body)}`).to.equal(status);
          expect(reply.body.code).to.equal(code);
          expect(reply.body.detail).to.be.a('string');
          return reply.body;
        };
        expect((await bad(`${streamPath()}?limit=0`, 400, 'invalid')).fields).to.have.property('limit');
        expect((await bad(`${streamPath()}?limit=5000`, 400, 'invalid')).fields).to.have.property('limit');
        expect((await bad(`${streamPath()}?limit=abc`, 400, 'invalid')).fields).to.have.property('limit');
        expect((await bad(`${streamPath()}?from=-1`, 400, 'invalid')).fields).to.have.property('from');
        expect((await bad(`${streamPath()}?from=99999999999999999999`, 400, 'invalid')).fields).to.have.property('from');
        await bad('/api/audit/streams/not-a-stream/events/', 404, 'not_found');
        await bad(`/api/audit/streams/chat-${randomUUID()}/events/`, 404, 'stream_not_found');
        await bad('/api/audit/chats/12345/', 404, 'not_found');
        await bad(`/api/audit/chats/${randomUUID()}/`, 404, 'chat_not_found');
        await bad(`${chatPath()}?as_of=${encodeURIComponent(beforeChat)}`, 404, 'chat_not_found');
        expect((await bad(`${chatPath()}?as_of=tomorrow`, 400, 'invalid')).fields).to.have.property('as_of');
        for (const [query, field] of [['limit=0', 'limit'], ['limit=1001', 'limit'], ['limit=x', 'limit'], ['messages_after=-1', 'messages_after'], ['activity_after=abc', 'activity_after'], ['activity_after=-2', 'activity_after']]) {
          expect((await bad(`${chatPath()}?${query}`, 400, 'invalid')).fields, query).to.have.property(field!);
        }
        expect((await bad(`${chatPath()}?as_of=2026-13-01T00:00:00Z`, 400, 'invalid')).fields).to.have.property('as_of');
      });

      it('the endpoints are in the OpenAPI document', async () => {
        const doc = ok(await api.get('/apischema/openapi.json'));
        expect(doc.paths['/api/audit/chats/{chat}/'].get.responses).to.have.keys('200', '400', '401', '403', '404');
        expect(doc.paths['/api/audit/streams/{stream}/events/'].get.parameters.map((p: any) => p.name)).to.have.members(['stream', 'from', 'limit']);
      });
    });
  });

  describe('audit export', () => {
    const out = (name: string) => {
      const file = path.join(os.tmpdir(), `audit-${process.pid}-${name}-${randomUUID()}.ndjson`);
      tmp.push(file);
      return file;
    };
    const lines = async (file: string) =>
      (await readFile(file, 'utf8'))
        .split('\n')
        .filter(Boolean)
        .map((line) => JSON.parse(line));

    it('the whole log: one JSON line per event, in increasing position, with metadata', async () => {
      const file = out('all');
      const run = await cli('audit', 'export', '--from', '2000-01-01T00:00:00Z', '--to', 'now', '--out', file);
      expect(run.status, run.stderr).to.equal(0);
      const events = await lines(file);
      const [{ count }] = await sql('SELECT count(*)::int AS count FROM es_events');
      expect(events).to.have.length(count);
      expect(run.stdout).to.match(new RegExp(`^${count} events exported to `));
      for (let i = 1; i < events.length; i++) expect(BigInt(events[i].position) > BigInt(events[i - 1].position)).to.equal(true);
      expect(events[0]).to.have.keys('position', 'stream', 'revision', 'id', 'type', 'recorded_at', 'data', 'metadata');
      expect(events[0].metadata).to.include.keys('actor', 'correlation_id', 'causation_id', 'occurred_at', 'schema', 'prev_hash', 'hash');
    });

    it('a time window and one chat', async () => {
      const windowed = out('window');
      expect((await cli('audit', 'export', '--from', middle, '--to', end, '--out', windowed)).status).to.equal(0);
      const inWindow = await lines(windowed);
      const [{ count }] = await sql(`SELECT count(*)::int AS count FROM es_events WHERE recorded_at >= '${middle}' AND recorded_at <= '${end}'`);
      expect(inWindow).to.have.length(count).and.length.above(5);
      for (const e of inWindow) expect(e.recorded_at >= middle && e.recorded_at <= end).to.equal(true);

      const chatOnly = out('chat');
      expect((await cli('audit', 'export', '--from', beforeChat, '--to', middle, '--chat', chat, '--out', chatOnly)).status).to.equal(0);
      const chatEvents = await lines(chatOnly);
      const [{ count: chatCount }] = await sql(`SELECT count(*)::int AS count FROM es_events WHERE stream = 'chat-${chat}' AND recorded_at <= '${middle}'`);
      expect(chatEvents).to.have.length(chatCount);
      expect(chatEvents.every((e) => e.stream === `chat-${chat}`)).to.equal(true);
      expect(chatEvents.map((e) => e.revision)).to.deep.equal(chatEvents.map((_, i) => String(i)));
      // the CLI's Postgres reader writes what the event store's port reads, field for field
      const viaPort = ok(await bob.api.get(`/api/audit/streams/chat-${chat}/events/?limit=1000`));
      expect(chatEvents).to.deep.equal(viaPort.events.slice(0, chatEvents.length));
    });

    it('an unwritable file: one line, exit 1', async () => {
      const run = await cli('audit', 'export', '--from', middle, '--to', 'now', '--out', '/nonexistent-dir/out.ndjson');
      expect(run.status).to.equal(1);
      expect(run.stderr).to.contain('ENOENT');
      clean(run);
    });
  });

  describe('audit verify (last: it tampers with the log)', () => {
    it('an untouched log: every chain holds, exit 0, with the events and streams checked', async () => {
      const run = await cli('audit', 'verify', '--json');
      const report = json(run);
      const [{ events, streams }] = await sql('SELECT count(*)::int AS events, count(DISTINCT stream)::int AS streams FROM es_events');
      expect(report).to.deep.equal({ events, streams, ok: true, breaks: [] });
      const text = await cli('audit', 'verify', '--all');
      expect(text.status).to.equal(0);
      expect(text.stdout).to.contain(`${events} events in ${streams} streams checked: every hash chain holds`);
    });

    it("one event's data edited in Postgres: exit 1, naming its stream, revision and position", async () => {
      const [target] = await sql(`SELECT position::text AS position FROM es_events WHERE stream = 'chat-${chat}' AND revision = 4`);
      await sql(`UPDATE es_events SET data = jsonb_set(data, '{content}', '"forged"') WHERE position = ${target.position}`);

      const all = await cli('audit', 'verify');
      expect(all.status).to.equal(1);
      expect(all.stdout).to.contain(`BROKEN stream chat-${chat} revision 4 position ${target.position}: hash does not match the event content`);
      expect(all.stdout).to.match(/1 broken chain$/m);

      const one = await cli('audit', 'verify', '--stream', `chat-${chat}`, '--json');
      expect(one.status).to.equal(1);
      expect(JSON.parse(one.stdout).breaks).to.deep.equal([{ stream: `chat-${chat}`, revision: '4', position: target.position, reason: 'hash does not match the event content' }]);

      // another stream's chain still holds
      const other = await cli('audit', 'verify', '--stream', `user-${ann.id}`);
      expect(other.status, other.stdout).to.equal(0);
      const missing = await cli('audit', 'verify', '--stream', `chat-${randomUUID()}`);
      expect(missing.status).to.equal(1);
      expect(missing.stderr).to.contain('no stream');
    });
  });
});
