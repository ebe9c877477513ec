import { expect } from 'chai';
import { randomUUID } from 'node:crypto';
import { utcToday } from '../../src/queries/analyticsQueries.ts';
import { runCli, STACK_LINE, type CliRun } from '../cli/runCli.ts';
import { requireService } from '../support/services.ts';
import { befriend, client, registerUser, startTestBackend, type Client, type TestBackend } from '../support/testBackend.ts';
import { appendChatHistory, expectedDays, users, type Posted } from './chatHistory.ts';

type User = Awaited<ReturnType<typeof registerUser>>;

const PATH = '/api/analytics/chats/daily/';

/** The analyst's view over HTTP and the CLI, on a backend whose log has history with controlled times. */
describe('analytics: daily activity per chat (REST and CLI)', function () {
  this.timeout(120_000);
  let backend: TestBackend;
  let api: Client;
  let env: Record<string, string>;
  let analyst: User, auditor: User, nobody: User;
  let one: string, two: string;
  let posted: Posted[];
  let todayChat: string;

  const cli = (...args: string[]) => runCli(args, env);
  const granted = (run: CliRun) => expect(run.status, run.stderr).to.equal(0);
  const rowsOf = (expected: ReturnType<typeof expectedDays>) =>
    expected.map(({ chat_id, ...rest }) => ({ chat: chat_id, ...rest })).sort((a, b) => (a.day + a.chat < b.day + b.chat ? -1 : 1));

  before(async function () {
    requireService(this, 'postgres');
    backend = await startTestBackend();
    api = client(backend.url);
    env = { DATABASE_URL: backend.db.url };
    [analyst, auditor, nobody] = [await registerUser(api, 'analyst'), await registerUser(api, 'auditor'), await registerUser(api, 'nobody')];
    // history from March, straight into the log with controlled times
    const [ann, bob, cid] = users(3);
    [one, two] = [randomUUID(), randomUUID()];
    posted = [
      ...(await appendChatHistory(backend.eventStore, one, [ann!, bob!, cid!], [
        { author: ann!, at: '2026-03-01T08:00:00Z' },
        { author: ann!, at: '2026-03-01T09:00:00Z' },
        { author: bob!, at: '2026-03-01T23:59:59Z' },
        { author: cid!, at: '2026-03-02T00:00:00Z' },
        { author: ann!, at: '2026-03-03T10:00:00Z' },
      ])),
      ...(await appendChatHistory(backend.eventStore, two, [ann!, bob!], [
        { author: bob!, at: '2026-03-01T10:00:00Z' },
        { author: bob!, at: '2026-03-02T10:00:00Z' },
        { author: ann!, at: '2026-03-02T11:00:00Z' },
      ])),
    ];
    // and today's messages through the API
    todayChat = await befriend(analyst, nobody);
    await analyst.api.post(`/api/chat/${todayChat}/messages/`, { message: 'hello' });
    await nobody.api.post(`/api/chat/${todayChat}/messages/`, { message: 'hi' });
    const last = await nobody.api.post(`/api/chat/${todayChat}/messages/`, { message: 'how are you' });
    expect(await backend.progress.reached(BigInt(last.body.position), 10_000)).to.equal(true);
    granted(await cli('roles', 'grant', analyst.email, 'analyst'));
    granted(await cli('roles', 'grant', auditor.email, 'auditor'));
  });

  after(async () => {
    await backend?.close();
  });

  describe('GET /api/analytics/chats/daily/', () => {
    it('answers 401 without a token and 403 to a user with neither role', async () => {
      const anonymous = await api.get(`${PATH}?from=2026-03-01&to=2026-03-31`);
      expect(anonymous.status).to.equal(401);
      const refused = await nobody.api.get(`${PATH}?from=2026-03-01&to=2026-03-31`);
      expect(refused.status).to.equal(403);
      expect(refused.body).to.deep.equal({ detail: 'This needs the analyst or auditor role.', code: 'forbidden' });
    });

    it('answers analysts and auditors alike: each chat day with its messages and distinct authors, and totals over the range', async () => {
      const expected = rowsOf(expectedDays(posted));
      for (const user of [analyst, auditor]) {
        const reply = await user.api.get(`${PATH}?from=2026-03-01&to=2026-03-31&limit=100`);
        expect(reply.status, JSON.stringify(reply.body)).to.equal(200);
        expect(reply.body.results).to.deep.equal(expected);
        expect(reply.body).to.include({ count: 5, next: null, previous: null });
        // three authors over the month in all: a sum of the days would say 7
        expect(reply.body.totals).to.deep.equal({ messages: 8, active_users: 3 });
      }
      const day1 = expected.find((r) => r.chat === one && r.day === '2026-03-01');
      expect(day1).to.deep.equal({ chat: one, day: '2026-03-01', messages: 3, active_users: 2 });
    });

    it('narrows to one chat and to a range, both ends included', async () => {
      const reply = await analyst.api.get(`${PATH}?from=2026-03-02&to=2026-03-02&chat=${two}`);
      expect(reply.status).to.equal(200);
      expect(reply.body.results).to.deep.equal([{ chat: two, day: '2026-03-02', messages: 2, active_users: 2 }]);
      expect(reply.body.totals).to.deep.equal({ messages: 2, active_users: 2 });
    });

    it('pages with limit and offset, the totals covering every page', async () => {
      const first = await analyst.api.get(`${PATH}?from=2026-03-01&to=2026-03-31&limit=2`);
      expect(first.body.results.map((r: { day: string }) => r.day)).to.deep.equal(['2026-03-01', '2026-03-01']);
      expect(first.body.count).to.equal(5);
      expect(first.body.totals.messages).to.equal(8);
      const next = new URL(first.body.next);
      expect(next.searchParams.get('offset')).to.equal('2');
      const second = await analyst.api.get(`${next.pathname}${next.search}`);
      expect(second.body.results.map((r: { day: string }) => r.day)).to.deep.equal(['2026-03-02', '2026-03-02']);
    });

    it('covers the last 30 days by default, today included', async () => {
      const reply = await analyst.api.get(PATH);
      expect(reply.status).to.equal(200);
      expect(reply.body.results).to.deep.equal([{ chat: todayChat, day: utcToday(), messages: 3, active_users: 2 }]);
    });

    for (const [what, query, field] of [
      ['a month that does not exist', 'from=2026-13-01&to=2026-12-31', 'from'],
      ['a day that does not exist', 'from=2026-02-29&to=2026-03-01', 'from'],
      ['a word for a date', 'from=yesterday', 'from'],
      ['a time for a date', 'to=2026-03-01T00:00:00Z', 'to'],
      ['from after to', 'from=2026-03-02&to=2026-03-01', 'non_field_errors'],
      ['a range of more than 366 days', 'from=2024-01-01&to=2025-01-01', 'non_field_errors'],
      ['a chat that is no uuid', 'chat=not-a-uuid', 'chat'],
      ['a date given twice', 'from=2026-03-01&from=2026-03-02', 'from'],
      ['an empty date', 'to=', 'to'],
      ['a limit of 0', 'limit=0', 'limit'],
    ] as const) {
      it(`refuses ${what} with 400 and the field named`, async () => {
        const reply = await analyst.api.get(`${PATH}?${query}`);
        expect(reply.status, JSON.stringify(reply.body)).to.equal(400);
        expect(reply.body).to.include({ code: 'invalid' });
        expect(reply.body.detail).to.be.a('string');
        expect(reply.body.fields).to.have.property(field).that.is.an('array').with.length.greaterThan(0);
      });
    }

    it('takes exactly 366 days', async () => {
      const reply = await analyst.api.get(`${PATH}?from=2025-03-03&to=2026-03-03`);
      expect(reply.status, JSON.stringify(reply.body)).to.equal(200);
      expect(reply.body.count).to.equal(5);
    });

    it('is described in the OpenAPI document with its query parameters', async () => {
      const doc = (await api.get('/apischema/openapi.json')).body;
      const operation = doc.paths[PATH]?.get;
      expect(operation, 'path documented').to.exist;
      expect(operation.parameters.map((p: { name: string }) => p.name)).to.include.members(['from', 'to', 'chat', 'limit', 'offset']);
      expect(Object.keys(operation.responses)).to.include.members(['200', '400', '401', '403']);
    });
  });

  describe('analytics daily (CLI)', () => {
    it('prints the same rows and totals as the endpoint with --json', async () => {
      const run = await cli('analytics', 'daily', '--from', '2026-03-01', '--to', '2026-03-31', '--json');
      expect(run.status, run.stderr).to.equal(0);
      const answer = JSON.parse(run.stdout);
      const http = (await analyst.api.get(`${PATH}?from=2026-03-01&to=2026-03-31&limit=100`)).body;
      expect(answer).to.deep.equal({ from: '2026-03-01', to: '2026-03-31', chat: null, totals: http.totals, rows: http.results });
    });

    it('prints a table for people, one chat when asked', async () => {
      const run = await cli('analytics', 'daily', '--from', '2026-03-01', '--to', '2026-03-31', '--chat', one);
      expect(run.status, run.stderr).to.equal(0);
      const lines = run.stdout.split('\n');
      expect(lines[0]).to.match(/^chat\s+day\s+messages\s+active users$/);
      expect(lines.filter((l) => l.startsWith(one)).map((l) => l.split(/\s+/).slice(1))).to.deep.equal([
        ['2026-03-01', '3', '2'],
        ['2026-03-02', '1', '1'],
        ['2026-03-03', '1', '1'],
      ]);
      expect(run.stdout).not.to.contain(two);
      expect(run.stdout).to.contain('5 messages, 3 active users, 3 chat days');
    });

    for (const [what, args, message] of [
      ['a date that does not exist', ['--from', '2026-13-01'], /--from "2026-13-01" is not a date: give YYYY-MM-DD/],
      ['a word for a date', ['--to', 'yesterday'], /--to "yesterday" is not a date/],
      ['from after to', ['--from', '2026-03-02', '--to', '2026-03-01'], /from \(2026-03-02\) is after to \(2026-03-01\)/],
      ['a chat that is no uuid', ['--chat', 'nope'], /--chat "nope" is not a chat uuid/],
    ] as const) {
      it(`refuses ${what} with a clear message, exit status 2 and no stack trace`, async () => {
        const run = await cli('analytics', 'daily', ...args);
        expect(run.status).to.equal(2);
        expect(run.stderr).to.match(message);
        expect(run.stderr).to.contain('usage: chat-backend analytics daily');
        expect(run.stderr).not.to.match(STACK_LINE);
        expect(run.stdout).to.equal('');
      });
    }
  });
});
