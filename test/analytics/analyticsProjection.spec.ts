import { expect } from 'chai';
import { randomUUID } from 'node:crypto';
import type { Knex } from 'knex';
import { createKnex } from '../../src/db/database.ts';
import type { RecordedEvent } from '../../src/eventstore/EventStore.ts';
import { createLogger } from '../../src/log.ts';
import { allProjections } from '../../src/projections/allProjections.ts';
import { analyticsProjection, authorDays } from '../../src/projections/analyticsProjection.ts';
import { ProjectionRunner } from '../../src/projections/ProjectionRunner.ts';
import { rebuildProjections } from '../../src/projections/rebuildProjections.ts';
import { ADMIN_APPLICATION, adminQuery, eventStoreFixture } from '../support/services.ts';
import { appendChatHistory, chatEvent, expectedDays, users, type Posted } from './chatHistory.ts';

const DAYS_SQL = `SELECT chat_id, to_char(day, 'YYYY-MM-DD') AS day, messages, active_users FROM rm_analytics_chat_days ORDER BY chat_id, day`;

describe('analytics projection', function () {
  this.timeout(60_000);

  describe('authorDays (pure)', () => {
    const chat = randomUUID();
    const [ann, bob] = users(2);
    const recorded = (type: string, data: unknown, stream = `chat-${chat}`): RecordedEvent => ({
      ...chatEvent(type, data, 0),
      metadata: { ...chatEvent(type, data, 0).metadata, prev_hash: null, hash: '' },
      stream,
      revision: 0n,
      position: 0n,
      recordedAt: '',
    });
    const post = (author: string, time_stamp: string, message_id = 1) => recorded('MessagePosted', { message_id, author_id: author, content: 'x', time_stamp });

    it('counts messages per chat, UTC day and author, splitting days at UTC midnight', () => {
      const rows = authorDays([
        post(ann!, '2026-03-01T23:59:59.999999Z'),
        post(ann!, '2026-03-01T10:00:00.000000Z'),
        post(ann!, '2026-03-02T00:00:00.000000Z'),
        post(bob!, '2026-03-01T12:00:00.000000Z'),
        // an offset time stamp still counts on its UTC day
        post(bob!, '2026-03-02T01:30:00.000000+02:00'),
      ]);
      expect(rows).to.have.deep.members([
        { chat_id: chat, day: '2026-03-01', user_id: ann, messages: 2 },
        { chat_id: chat, day: '2026-03-02', user_id: ann, messages: 1 },
        { chat_id: chat, day: '2026-03-01', user_id: bob, messages: 2 },
      ]);
    });

    it('ignores edits, deletions, reads and streams that are not chats', () => {
      const rows = authorDays([
        recorded('MessageEdited', { message_id: 1, content: 'y', edited_at: '2026-03-01T10:00:00.000000Z' }),
        recorded('MessageDeleted', { message_id: 1, deleted_by: ann, deleted_at: '2026-03-01T10:00:00.000000Z' }),
        recorded('MessagesRead', { user_id: ann, message_id: 1 }),
        recorded('MessagePosted', { message_id: 1, author_id: ann, content: 'x', time_stamp: '2026-03-01T10:00:00.000000Z' }, `test-${chat}`),
      ]);
      expect(rows).to.deep.equal([]);
    });
  });

  describe('in Postgres', () => {
    const fixture = eventStoreFixture();
    let knex: Knex;
    let history: RecordedEvent[];
    let posted: Posted[];

    before(async () => {
      knex = createKnex(fixture.db.url);
      const [ann, bob, cid] = users(3);
      const [one, two] = [randomUUID(), randomUUID()];
      // three days in chat one, with ann posting many times a day; one day overlaps in chat two
      posted = [
        ...(await appendChatHistory(fixture.store, one, [ann!, bob!, cid!], [
          { author: ann!, at: '2026-03-01T08:00:00Z' },
          { author: ann!, at: '2026-03-01T09:00:00Z' },
          { author: bob!, at: '2026-03-01T12:00:00Z' },
          { author: ann!, at: '2026-03-01T23:59:59.999Z' },
          { author: cid!, at: '2026-03-02T00:00:00Z' },
          { author: cid!, at: '2026-03-02T06:00:00Z' },
          { author: ann!, at: '2026-03-04T10:00:00Z' },
          { author: bob!, at: '2026-03-04T11:00:00Z' },
          { author: cid!, at: '2026-03-04T12:00:00Z' },
          { author: ann!, at: '2026-03-04T13:00:00Z' },
        ])),
        ...(await appendChatHistory(fixture.store, two, [ann!, bob!], [
          { author: bob!, at: '2026-03-01T10:00:00Z' },
          { author: bob!, at: '2026-03-01T11:00:00Z' },
          { author: ann!, at: '2026-03-01T11:30:00Z' },
        ])),
      ];
      history = await fixture.store.readAll();
    });

    after(async () => {
      await knex.destroy();
    });

    const applyInBatches = async (batches: RecordedEvent[][]) => {
      await knex.raw('TRUNCATE rm_analytics_chat_days, rm_analytics_chat_day_users');
      for (const batch of batches) await knex.transaction((tx) => analyticsProjection.apply(batch, tx));
      return (await knex.raw(DAYS_SQL)).rows;
    };

    it('counts messages and distinct authors per chat and day, a busy author once a day', async () => {
      const rows = await applyInBatches([history]);
      expect(rows).to.deep.equal(expectedDays(posted));
      // spelled out once, so the expectation itself is checked
      const busy = rows.find((r: { day: string; messages: number }) => r.day === '2026-03-01' && r.messages === 4);
      expect(busy).to.include({ active_users: 2 });
      expect(rows).to.have.length(4); // chat one on three days, chat two on one
    });

    it('gives the same counts wherever batch boundaries fall, in the middle of a day included', async () => {
      const whole = expectedDays(posted);
      // every cut point, and batches of one event each
      for (let cut = 1; cut < history.length; cut++) {
        expect(await applyInBatches([history.slice(0, cut), history.slice(cut)]), `cut after event ${cut}`).to.deep.equal(whole);
      }
      expect(await applyInBatches(history.map((e) => [e]))).to.deep.equal(whole);
    });

    it('writes a batch with one statement, however many events it holds', async () => {
      await knex.raw('TRUNCATE rm_analytics_chat_days, rm_analytics_chat_day_users');
      let statements = 0;
      const count = () => void statements++;
      knex.on('query', count);
      try {
        await knex.transaction((tx) => analyticsProjection.apply(history, tx));
      } finally {
        knex.off('query', count);
      }
      // BEGIN, the write, COMMIT
      expect(statements).to.equal(3);
    });
  });

  /** Waits until analytics' first build is swapped in and has reached `position`. */
  async function builtUpTo(url: string, position: bigint): Promise<void> {
    const deadline = Date.now() + 20_000;
    for (;;) {
      const [row] = (await adminQuery(url, `SELECT version, position FROM projection_checkpoints WHERE name = 'analytics'`)).rows;
      if (row && row.version === analyticsProjection.version && BigInt(row.position) >= position) return;
      expect(Date.now(), 'analytics built in time').to.be.below(deadline);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  describe('added to a database that has history', () => {
    const fixture = eventStoreFixture();

    it('fills itself from position 0 on first start without disturbing the other projections, then follows live events', async () => {
      const knex = createKnex(fixture.db.url);
      const log = createLogger('silent');
      const [ann, bob] = users(2);
      const chat = randomUUID();
      const days = ['2026-05-01', '2026-05-02', '2026-05-03'];
      const posted = await appendChatHistory(
        fixture.store,
        chat,
        [ann!, bob!],
        days.flatMap((day) => [0, 1, 2, 3, 4].map((i) => ({ author: i % 3 === 0 ? bob! : ann!, at: `${day}T${String(10 + i).padStart(2, '0')}:00:00Z` }))),
      );
      const others = allProjections.filter((p) => p !== analyticsProjection);
      const head = await fixture.store.headPosition();

      // the backend as it was before analytics existed
      const before = new ProjectionRunner(knex, fixture.db.url, fixture.store, others, log);
      before.start();
      expect(await before.reached(head, 20_000)).to.equal(true);
      await before.stop();
      const otherTables = async () => ({
        checkpoints: (await adminQuery(fixture.db.url, `SELECT name, version, position FROM projection_checkpoints ORDER BY name`)).rows,
        chats: (await adminQuery(fixture.db.url, 'SELECT * FROM rm_chats')).rows,
        members: (await adminQuery(fixture.db.url, 'SELECT * FROM rm_chat_members ORDER BY user_id')).rows,
        messages: (await adminQuery(fixture.db.url, 'SELECT chat_id, id, author_id, content, time_stamp, edited_at, deleted FROM rm_messages ORDER BY id')).rows,
      });
      const earlier = await otherTables();
      expect(earlier.messages).to.have.length(15);
      expect(earlier.checkpoints.map((c) => c.name)).not.to.include('analytics');

      // the next start, with analytics added
      const after = new ProjectionRunner(knex, fixture.db.url, fixture.store, allProjections, log);
      after.start();
      try {
        // every projection reaches the head, analytics' first build included
        expect(await after.reached(head, 20_000)).to.equal(true);
        await builtUpTo(fixture.db.url, head);
        expect((await adminQuery(fixture.db.url, DAYS_SQL)).rows).to.deep.equal(expectedDays(posted));
        const now = await otherTables();
        expect(now.checkpoints.filter((c) => c.name !== 'analytics')).to.deep.equal(earlier.checkpoints);
        expect({ ...now, checkpoints: [] }).to.deep.equal({ ...earlier, checkpoints: [] });

        // live: one more message on the last day by a new author, one by a known author
        const at = Date.parse('2026-05-03T20:00:00Z') * 1000;
        const [cid] = users(1);
        const live = await fixture.store.append(
          `chat-${chat}`,
          [
            chatEvent('MessagePosted', { message_id: 16, author_id: cid, content: 'late', time_stamp: '2026-05-03T20:00:00.000000Z' }, at, cid),
            chatEvent('MessagePosted', { message_id: 17, author_id: ann, content: 'later', time_stamp: '2026-05-03T21:00:00.000000Z' }, at + 1, ann),
          ],
          'any',
        );
        expect(await after.reached(live.position, 20_000)).to.equal(true);
        const last = (await adminQuery(fixture.db.url, `SELECT messages, active_users FROM rm_analytics_chat_days WHERE day = '2026-05-03'`)).rows;
        expect(last).to.deep.equal([{ messages: 7, active_users: 3 }]);
      } finally {
        await after.stop();
        await knex.destroy();
      }
    });
  });

  describe('rebuilt in shadow tables', () => {
    const fixture = eventStoreFixture();

    it('ends with the same counts and its checkpoint at the head', async () => {
      const authors = users(4);
      const posted = await appendChatHistory(
        fixture.store,
        randomUUID(),
        authors,
        Array.from({ length: 300 }, (_, i) => ({ author: authors[i % 4]!, at: new Date(Date.parse('2026-07-01T00:00:00Z') + i * 1_200_000).toISOString() })),
      );
      const knex = createKnex(fixture.db.url);
      try {
        // live tables holding something wrong: the rebuild must replace them, not add to them
        await knex.raw(`INSERT INTO rm_analytics_chat_days VALUES ('${randomUUID()}', '2026-07-01', 99, 99)`);
        const { position } = await rebuildProjections({ knex, store: fixture.store, databaseUrl: fixture.db.url, projections: [analyticsProjection], log: createLogger('silent') });
        expect(position).to.equal(await fixture.store.headPosition());
        expect((await adminQuery(fixture.db.url, DAYS_SQL)).rows).to.deep.equal(expectedDays(posted));
        const checkpoint = (await adminQuery(fixture.db.url, `SELECT version, position FROM projection_checkpoints WHERE name = 'analytics'`)).rows;
        expect(checkpoint).to.deep.equal([{ version: analyticsProjection.version, position: String(position) }]);
      } finally {
        await knex.destroy();
      }
    });
  });

  describe('when its connections are killed while it catches up', () => {
    const fixture = eventStoreFixture();

    it('counts every message exactly once: the runner never applies a batch twice', async () => {
      const authors = users(7);
      const chats = [randomUUID(), randomUUID(), randomUUID()];
      const posted: Posted[] = [];
      // 3 chats × 6,000 messages over 10 days: the runner's batches of 1,000 end in the middle of days
      for (const chat of chats) {
        const start = Date.parse('2026-06-01T00:00:00Z');
        const messages = Array.from({ length: 6000 }, (_, i) => ({ author: authors[(i * 5 + chats.indexOf(chat)) % 7]!, at: new Date(start + i * 144_000).toISOString() }));
        posted.push(...(await appendChatHistory(fixture.store, chat, authors.slice(0, 3), messages)));
      }
      const head = await fixture.store.headPosition();
      const knex = createKnex(fixture.db.url);
      let failures = 0;
      const log = Object.assign(createLogger('silent'), { error: () => void failures++ });
      const runner = new ProjectionRunner(knex, fixture.db.url, fixture.store, [analyticsProjection], log);
      const killer = setInterval(() => {
        void adminQuery(
          fixture.db.url,
          `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
            WHERE datname = current_database() AND application_name NOT IN ('chat-event-store', '${ADMIN_APPLICATION}')`,
        ).catch(() => {});
      }, 30);
      try {
        runner.start();
        await new Promise((resolve) => setTimeout(resolve, 400));
      } finally {
        clearInterval(killer);
      }
      try {
        expect(await runner.reached(head, 30_000)).to.equal(true);
      } finally {
        await runner.stop();
        await knex.destroy();
      }
      expect(failures, 'batches interrupted by the kills').to.be.greaterThan(0);
      expect((await adminQuery(fixture.db.url, DAYS_SQL)).rows).to.deep.equal(expectedDays(posted));
    });
  });
});
