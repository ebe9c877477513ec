import { expect } from 'chai';
import { randomUUID } from 'node:crypto';
import type { Knex } from 'knex';
import { createKnex } from '../../src/db/database.ts';
import type { EventData, EventType } from '../../src/events/catalog.ts';
import { isoMicros } from '../../src/events/time.ts';
import type { RecordedEvent } from '../../src/eventstore/EventStore.ts';
import { analyticsProjection } from '../../src/projections/analyticsProjection.ts';
import { chatsProjection, chatsReplay } from '../../src/projections/chatsProjection.ts';
import { messagesProjection } from '../../src/projections/messagesProjection.ts';
import type { Projection, Replay } from '../../src/projections/Projection.ts';
import { seeded } from '../support/seeded.ts';
import { freshDatabase, type TestDatabase } from '../support/services.ts';

/**
 * Chats whose members come and go, read, post, edit and delete (the last message included), over
 * three UTC days: every branch of the chat, message and analytics handlers.
 */
function chatHistory(random: () => number): RecordedEvent[] {
  const events: RecordedEvent[] = [];
  const users = Array.from({ length: 8 }, () => randomUUID());
  let clock = Date.parse('2026-03-01T20:00:00Z') * 1000;
  const push = <T extends EventType>(chat: string, type: T, data: EventData<T>) => {
    clock += Math.floor(random() * 600_000_000); // up to 10 minutes
    events.push({ id: randomUUID(), type, data, metadata: {} as RecordedEvent['metadata'], stream: `chat-${chat}`, revision: 0n, position: BigInt(events.length + 1), recordedAt: isoMicros(clock) });
  };
  const pick = <T>(list: readonly T[]) => list[Math.floor(random() * list.length)]!;
  const chats = Array.from({ length: 6 }, (_, i) => ({ id: randomUUID(), members: new Set(i === 0 ? users.slice(0, 2) : users.slice(i, i + 3)), messages: 0, deleted: new Set<number>(), admin: null as string | null }));
  for (const [i, chat] of chats.entries()) {
    chat.admin = i === 0 ? null : [...chat.members][0]!;
    push(chat.id, 'ChatCreated', { chat_id: chat.id, name: i === 0 ? '' : `group ${i}`, is_group_chat: i !== 0, participants: [...chat.members], admin: chat.admin, created: isoMicros(clock) });
  }
  // events for a chat no ChatCreated announced: ignored
  push(randomUUID(), 'MessagePosted', { message_id: 1, author_id: users[0]!, content: 'nowhere', time_stamp: isoMicros(clock) });
  for (let step = 0; step < 1500; step++) {
    const chat = pick(chats);
    const members = [...chat.members];
    const roll = random();
    if (roll < 0.55 && members.length > 0) {
      push(chat.id, 'MessagePosted', { message_id: ++chat.messages, author_id: pick(members), content: `message ${step}`, time_stamp: isoMicros(clock) });
    } else if (roll < 0.7 && chat.messages > 0) {
      // the last message now and then, which the chat list shows; a deleted one is neither edited nor deleted again (the decider refuses)
      const id = random() < 0.5 ? chat.messages : 1 + Math.floor(random() * chat.messages);
      if (chat.deleted.has(id)) continue;
      if (roll < 0.65) push(chat.id, 'MessageEdited', { message_id: id, content: `edited at ${step}`, edited_at: isoMicros(clock) });
      else {
        chat.deleted.add(id);
        push(chat.id, 'MessageDeleted', { message_id: id, deleted_by: users[0]!, deleted_at: isoMicros(clock) });
      }
    } else if (roll < 0.85 && members.length > 0 && chat.messages > 0) {
      push(chat.id, 'MessagesRead', { user_id: pick(members), message_id: 1 + Math.floor(random() * chat.messages) });
    } else if (roll < 0.9 && chat !== chats[0] && members.length < users.length) {
      const user = pick(users.filter((u) => !chat.members.has(u)));
      chat.members.add(user);
      push(chat.id, 'ParticipantAdded', { user_id: user, added_by: chat.admin! });
    } else if (roll < 0.95 && chat !== chats[0] && members.length > 1) {
      const user = pick(members);
      chat.members.delete(user);
      if (user === chat.admin) {
        chat.admin = [...chat.members][0]!;
        push(chat.id, 'ParticipantLeft', { user_id: user, new_admin: chat.admin });
      } else if (random() < 0.5) push(chat.id, 'ParticipantLeft', { user_id: user, new_admin: null });
      else push(chat.id, 'ParticipantRemoved', { user_id: user, removed_by: chat.admin! });
    } else if (chat !== chats[0]) {
      push(chat.id, 'ChatRenamed', { name: `renamed ${step}`, renamed_by: chat.admin! });
    }
  }
  return events;
}

/** Splits `events` into pages of 1 to `most` events. */
function pagesOf(events: readonly RecordedEvent[], random: () => number, most: number): RecordedEvent[][] {
  const pages: RecordedEvent[][] = [];
  for (let at = 0; at < events.length; ) {
    const size = 1 + Math.floor(random() * most);
    pages.push(events.slice(at, at + size));
    at += size;
  }
  return pages;
}

describe('projection replays (rebuild)', function () {
  this.timeout(60_000);
  let db: TestDatabase;
  let knex: Knex;
  let history: RecordedEvent[];

  before(async () => {
    db = await freshDatabase();
    knex = createKnex(db.url);
    history = chatHistory(seeded(20261125));
  });

  after(async () => {
    await knex.destroy();
    await db.drop();
  });

  const contents = async (projection: Projection) => {
    const tables: Record<string, unknown[]> = {};
    for (const table of projection.tables) tables[table] = (await knex.raw(`SELECT * FROM ${table} ORDER BY 1, 2, 3`)).rows;
    return tables;
  };
  const truncate = (projection: Projection) => knex.raw(`TRUNCATE ${projection.tables.join(', ')}`);

  for (const projection of [chatsProjection, messagesProjection, analyticsProjection]) {
    it(`${projection.name}: folding many pages in memory and flushing now and then leaves the tables apply() leaves batch by batch`, async () => {
      await truncate(projection);
      for (const batch of pagesOf(history, seeded(1), 40)) await knex.transaction((tx) => projection.apply(batch, tx));
      const applied = await contents(projection);
      expect(Object.values(applied).every((rows) => rows.length > 0), 'every table written').to.equal(true);

      for (const [seed, flushShare] of [[2, 0.3], [3, 0], [4, 1]] as const) {
        await truncate(projection);
        const random = seeded(seed);
        const replay = projection.replay!();
        for (const page of pagesOf(history, random, 120)) {
          await knex.transaction(async (tx) => {
            await replay.add(page, tx);
            if (random() < flushShare) await replay.flush(tx);
          });
        }
        await knex.transaction((tx) => replay.flush(tx));
        expect(replay.pending, 'nothing left after the last flush').to.equal(0);
        expect(await contents(projection), `seed ${seed}, flushing ${flushShare * 100}% of pages`).to.deep.equal(applied);
      }
    });
  }

  // as a rebuild flushes: each flush on a transaction of its own, not awaited while later pages are folded, one flush at a time
  const replayWithFlushesUnderWay = async (replay: Replay, random: () => number) => {
    let flushing: Promise<void> = Promise.resolve();
    for (const page of pagesOf(history, random, 120)) {
      await knex.transaction((tx) => replay.add(page, tx));
      if (random() < 0.3) {
        await flushing;
        flushing = knex.transaction((tx) => replay.flush(tx));
      }
    }
    await flushing;
    await knex.transaction((tx) => replay.flush(tx));
  };

  for (const [name, projection, replayOf] of [
    ['chats', chatsProjection, () => chatsProjection.replay!()],
    // letting chats go after every flush: those met again while the flush writes them come from memory, not from tables it has not reached
    ['chats holding at most 2 chats', chatsProjection, () => chatsReplay(2)],
    ['messages', messagesProjection, () => messagesProjection.replay!()],
    ['analytics', analyticsProjection, () => analyticsProjection.replay!()],
  ] as const) {
    it(`${name}: folding on while a flush writes leaves the tables apply() leaves`, async () => {
      await truncate(projection);
      for (const batch of pagesOf(history, seeded(1), 40)) await knex.transaction((tx) => projection.apply(batch, tx));
      const applied = await contents(projection);
      for (const seed of [7, 8]) {
        await truncate(projection);
        await replayWithFlushesUnderWay(replayOf(), seeded(seed));
        expect(await contents(projection), `seed ${seed}`).to.deep.equal(applied);
      }
    });
  }

  /** `events` applied batch by batch, then replayed with a flush after each batch: the messages tables of each */
  const appliedAndReplayed = async (batches: RecordedEvent[][]) => {
    await truncate(messagesProjection);
    for (const batch of batches) await knex.transaction((tx) => messagesProjection.apply(batch, tx));
    const applied = await contents(messagesProjection);
    await truncate(messagesProjection);
    const replay = messagesProjection.replay!();
    for (const batch of batches) {
      await knex.transaction(async (tx) => {
        await replay.add(batch, tx);
        await replay.flush(tx);
      });
    }
    return { applied, replayed: await contents(messagesProjection) };
  };
  const posted = (chat: string, id: number, content: string, position: number): RecordedEvent => ({
    id: randomUUID(),
    type: 'MessagePosted',
    data: { message_id: id, author_id: chat, content, time_stamp: isoMicros(Date.parse('2026-03-01T00:00:00Z') * 1000 + position) },
    metadata: {} as RecordedEvent['metadata'],
    stream: `chat-${chat}`,
    revision: BigInt(id - 1),
    position: BigInt(position),
    recordedAt: isoMicros(Date.parse('2026-03-01T00:00:00Z') * 1000 + position),
  });

  it('messages: content COPY escapes (tabs, line breaks, backslashes, \\N, emoji, empty) arrives as posted', async () => {
    const chat = randomUUID();
    const awkward = ['a\tb', 'line\nbreak\r\nwindows', 'back\\slash \\N \\t', '\\N', '', 'ä 😀 \u2028 "quotes"', 'tab\there'];
    // enough messages in a batch for apply() to COPY them too
    const events = Array.from({ length: 1200 }, (_, i) => posted(chat, i + 1, awkward[i % awkward.length]!, i + 1));
    const { applied, replayed } = await appliedAndReplayed([events]);
    expect((applied.rm_messages as { id: number; content: string }[]).map((m) => m.content)).to.deep.equal(events.map((_, i) => awkward[i % awkward.length]));
    expect(replayed).to.deep.equal(applied);
  });

  it('messages: messages the log posts twice keep their first content, copied or inserted, in a replay as in apply()', async () => {
    const chat = randomUUID();
    // the second batch is large enough to be copied, and posts messages 5 to 10 again
    const first = Array.from({ length: 10 }, (_, i) => posted(chat, i + 1, 'first', i + 1));
    const second = Array.from({ length: 1200 }, (_, i) => posted(chat, i + 5, 'second', i + 11));
    const { applied, replayed } = await appliedAndReplayed([first, second]);
    const contentOf = new Map((applied.rm_messages as { id: number; content: string }[]).map((m) => [m.id, m.content]));
    expect([contentOf.size, contentOf.get(10), contentOf.get(11), contentOf.get(1204)]).to.deep.equal([1204, 'first', 'second', 'second']);
    expect(replayed).to.deep.equal(applied);
  });

  it('chats: a replay reads back the chats it does not hold, as a rebuild resumed over written tables does', async () => {
    await truncate(chatsProjection);
    const [before, after] = [history.slice(0, 900), history.slice(900)];
    for (const batch of pagesOf(before, seeded(5), 60)) await knex.transaction((tx) => chatsProjection.apply(batch, tx));
    const replay = chatsProjection.replay!();
    for (const page of pagesOf(after, seeded(6), 60)) await knex.transaction((tx) => replay.add(page, tx));
    await knex.transaction((tx) => replay.flush(tx));
    const replayed = await contents(chatsProjection);

    await truncate(chatsProjection);
    await knex.transaction((tx) => chatsProjection.apply(history, tx));
    expect(replayed).to.deep.equal(await contents(chatsProjection));
  });
});
