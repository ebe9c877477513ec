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
});
