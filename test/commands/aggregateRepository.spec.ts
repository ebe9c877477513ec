import { expect } from 'chai';
import { randomUUID } from 'node:crypto';
import { AggregateRepository } from '../../src/commands/AggregateRepository.ts';
import * as chat from '../../src/commands/chat/chatDecider.ts';
import type { EventStore, ReadStreamOptions } from '../../src/eventstore/EventStore.ts';
import { isoMicros, nowMicros } from '../../src/events/time.ts';
import { eventStoreFixture } from '../support/services.ts';

/** The store, counting the events each repository reads. */
function counting(store: EventStore) {
  const counter = { read: 0, appends: 0 };
  const wrapped: EventStore = {
    ...store,
    async readStream(stream: string, options?: ReadStreamOptions) {
      const events = await store.readStream(stream, options);
      counter.read += events.length;
      return events;
    },
    async append(...args) {
      counter.appends++;
      return store.append(...args);
    },
  };
  return { store: wrapped, counter };
}

describe('aggregate repository', function () {
  this.timeout(60_000);
  const fixture = eventStoreFixture();

  const ann = randomUUID();
  const context = () => ({ actor: ann, now: isoMicros(nowMicros()) });
  const post = (repository: AggregateRepository<chat.Chat, chat.ChatEvent>, stream: string, content: string) =>
    repository.execute(stream, (state) => chat.decide({ type: 'PostMessage', by: ann, content, now: context().now }, state), context());

  it('replays a history once, then runs each command with one append and no reads, whatever the history length', async () => {
    const chatId = randomUUID();
    const stream = `chat-${chatId}`;
    const writer = new AggregateRepository(fixture.store, chat);
    await writer.execute(stream, (state) => chat.decide({ type: 'CreateGroupChat', chatId, name: 'long', creator: ann, now: context().now }, state), context());
    for (let i = 0; i < 2500; i++) await post(writer, stream, `old ${i}`);

    const { store: watched, counter } = counting(fixture.store);
    const fresh = new AggregateRepository(watched, chat);
    await post(fresh, stream, 'first after start');
    expect(counter.read).to.equal(2501);
    counter.read = 0;
    for (let i = 0; i < 20; i++) await post(fresh, stream, `new ${i}`);
    expect(counter).to.deep.equal({ read: 0, appends: 21 });
    const state = (await fresh.load(stream)) as chat.OpenChat;
    expect(state.messages.size).to.equal(2521);
  });

  it('catches up only what another process appended since, and decides again on the fresh state', async () => {
    const chatId = randomUUID();
    const stream = `chat-${chatId}`;
    const { store: watched, counter } = counting(fixture.store);
    const here = new AggregateRepository(watched, chat);
    const elsewhere = new AggregateRepository(fixture.store, chat);
    await here.execute(stream, (state) => chat.decide({ type: 'CreateGroupChat', chatId, name: 'shared', creator: ann, now: context().now }, state), context());
    await post(here, stream, 'one');
    await post(elsewhere, stream, 'two');
    await post(elsewhere, stream, 'three');
    counter.read = 0;
    const done = await post(here, stream, 'four');
    expect(counter.read).to.equal(2);
    expect(done.events[0]!.data).to.include({ message_id: 4, content: 'four' });
  });

  it('runs commands on one stream one after another, so concurrent ones all land', async () => {
    const chatId = randomUUID();
    const stream = `chat-${chatId}`;
    const repository = new AggregateRepository(fixture.store, chat);
    await repository.execute(stream, (state) => chat.decide({ type: 'CreateGroupChat', chatId, name: 'busy', creator: ann, now: context().now }, state), context());
    const results = await Promise.all(Array.from({ length: 30 }, (_, i) => post(repository, stream, `m${i}`)));
    expect(results.map((r) => (r.events[0]!.data as { message_id: number }).message_id).sort((a, b) => a - b)).to.deep.equal(
      Array.from({ length: 30 }, (_, i) => i + 1),
    );
  });

  it('knows a stream it has seen without reading it, and loads one it has not', async () => {
    const { store: watched, counter } = counting(fixture.store);
    const repository = new AggregateRepository(watched, chat);
    const chatId = randomUUID();
    const stream = `chat-${chatId}`;
    await repository.execute(stream, (state) => chat.decide({ type: 'CreateGroupChat', chatId, name: 'known', creator: ann, now: context().now }, state), context());
    await post(repository, stream, 'hello');
    counter.read = 0;
    expect(((await repository.known(stream)) as chat.OpenChat).messages.size).to.equal(1);
    expect(counter.read).to.equal(0);
    const other = new AggregateRepository(watched, chat);
    expect(((await other.known(stream)) as chat.OpenChat).lastMessage).to.equal('hello');
    expect(counter.read).to.equal(2);
  });

  describe('commands waiting on one stream, decided together', () => {
    async function newChat(repository: AggregateRepository<chat.Chat, chat.ChatEvent>) {
      const chatId = randomUUID();
      const stream = `chat-${chatId}`;
      await repository.execute(stream, (state) => chat.decide({ type: 'CreateGroupChat', chatId, name: 'group', creator: ann, now: context().now }, state), context());
      return stream;
    }
    const postBy = (repository: AggregateRepository<chat.Chat, chat.ChatEvent>, stream: string, by: string, content: string, clientId?: string) =>
      repository.execute(stream, (state) => chat.decide({ type: 'PostMessage', by, content, now: context().now }, state), { ...context(), actor: by, clientId });

    it('appends the waiting commands in one go, each answered with its own message and the position its event has in the log', async () => {
      const { store: watched, counter } = counting(fixture.store);
      const repository = new AggregateRepository(watched, chat);
      const stream = await newChat(repository);
      counter.appends = 0;
      const results = await Promise.all(Array.from({ length: 40 }, (_, i) => post(repository, stream, `m${i}`)));
      // the first runs alone, the other 39 wait for it and then share one append
      expect(counter.appends).to.equal(2);
      const log = await fixture.store.readStream(stream);
      const byMessage = new Map(log.filter((e) => e.type === 'MessagePosted').map((e) => [(e.data as { message_id: number }).message_id, e]));
      results.forEach((r, i) => {
        const data = r.events[0]!.data as { message_id: number; content: string };
        expect(data.content).to.equal(`m${i}`);
        expect(data.message_id, 'in arrival order').to.equal(i + 1);
        expect(r.position, `position of m${i}`).to.equal(byMessage.get(data.message_id)!.position);
        expect(r.repeated).to.equal(false);
      });
      expect(new Set(results.map((r) => r.position)).size).to.equal(40);
    });

    it('refuses the commands of a group that break a rule, and lands the others', async () => {
      const repository = new AggregateRepository(fixture.store, chat);
      const stream = await newChat(repository);
      const stranger = randomUUID();
      const settled = await Promise.allSettled([
        post(repository, stream, 'first'),
        post(repository, stream, 'second'),
        postBy(repository, stream, stranger, 'not a participant'),
        post(repository, stream, 'third'),
      ]);
      expect(settled.map((s) => s.status)).to.deep.equal(['fulfilled', 'fulfilled', 'rejected', 'fulfilled']);
      expect((settled[2] as PromiseRejectedResult).reason).to.include({ kind: 'forbidden' });
      const contents = (await fixture.store.readStream(stream)).filter((e) => e.type === 'MessagePosted').map((e) => (e.data as { content: string }).content);
      expect(contents).to.deep.equal(['first', 'second', 'third']);
    });

    it('answers a repeated client id within a group as it first did, and stores everything else once', async () => {
      const repository = new AggregateRepository(fixture.store, chat);
      const stream = await newChat(repository);
      const once = randomUUID();
      const first = await postBy(repository, stream, ann, 'once', once);
      const twice = randomUUID();
      const results = await Promise.all([
        post(repository, stream, 'busy'),
        postBy(repository, stream, ann, 'before', randomUUID()),
        postBy(repository, stream, ann, 'once', once),
        postBy(repository, stream, ann, 'twice', twice),
        postBy(repository, stream, ann, 'twice', twice),
        postBy(repository, stream, ann, 'after', randomUUID()),
      ]);
      expect(results[2]!.repeated).to.equal(true);
      expect(results[2]!.position).to.equal(first.position);
      expect(results[2]!.events[0]!.data).to.deep.equal(first.events[0]!.data);
      // the same client id twice in one group: stored once, both answered alike
      expect(results[4]!.repeated).to.equal(true);
      expect(results[4]!.position).to.equal(results[3]!.position);
      expect(results[4]!.events[0]!.data).to.deep.equal(results[3]!.events[0]!.data);
      const contents = (await fixture.store.readStream(stream)).filter((e) => e.type === 'MessagePosted').map((e) => (e.data as { content: string }).content);
      expect(contents).to.deep.equal(['once', 'busy', 'before', 'twice', 'after']);
    });

    it('decides a whole group again when another process wrote to the stream meanwhile', async () => {
      const here = new AggregateRepository(fixture.store, chat);
      const elsewhere = new AggregateRepository(fixture.store, chat);
      const stream = await newChat(here);
      await post(elsewhere, stream, 'elsewhere 1');
      await post(elsewhere, stream, 'elsewhere 2');
      const results = await Promise.all(Array.from({ length: 10 }, (_, i) => post(here, stream, `here ${i}`)));
      const ids = results.map((r) => (r.events[0]!.data as { message_id: number }).message_id);
      expect(ids).to.deep.equal(Array.from({ length: 10 }, (_, i) => i + 3));
      const posted = (await fixture.store.readStream(stream)).filter((e) => e.type === 'MessagePosted').map((e) => e.data as { message_id: number; time_stamp: string });
      expect(posted.map((m) => m.message_id)).to.deep.equal(Array.from({ length: 12 }, (_, i) => i + 1));
      const stamps = posted.map((m) => m.time_stamp);
      expect([...stamps].sort()).to.deep.equal(stamps);
      expect(new Set(stamps).size).to.equal(12);
    });
  });
});
