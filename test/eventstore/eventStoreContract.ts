import { expect } from 'chai';
import type { BareEvent, EventStore, RecordedEvent, Subscription } from '../../src/eventstore/EventStore.ts';
import { InvalidAppendError, WrongExpectedRevisionError } from '../../src/eventstore/errors.ts';
import { verifyStream } from '../../src/eventstore/verifyStream.ts';
import { newEvent, uniqueStream } from '../support/events.ts';

export interface ContractSetup {
  /** a store on its own connections; called more than once to race separate writers */
  connect(): EventStore;
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected a rejection');
}

async function take<E extends BareEvent>(subscription: Subscription<E>, count: number): Promise<E[]> {
  const seen: E[] = [];
  for await (const event of subscription) {
    seen.push(event);
    if (seen.length === count) break;
  }
  await subscription.close();
  return seen;
}

/** The behaviour every EventStore adapter must have; each adapter's spec runs it against a real store. */
export function eventStoreContract(setup: () => ContractSetup): void {
  let connect: () => EventStore;
  let store: EventStore;
  const opened: EventStore[] = [];
  const open = () => {
    const s = connect();
    opened.push(s);
    return s;
  };

  before(function () {
    connect = setup().connect;
    store = open();
  });
  after(async () => {
    await Promise.all(opened.map((s) => s.close()));
  });

  describe('append and read', () => {
    it('gives a new stream revision 0 and a global position, and reads back what was written', async () => {
      const stream = uniqueStream();
      const event = newEvent('ChatCreated', { name: 'ünïcode ✓', nested: { list: [1, 2.5, null, true] } });
      const result = await store.append(stream, [event], 'no_stream');
      expect(result.nextRevision).to.equal(0n);
      expect(result.position > 0n).to.equal(true);
      const [read] = await store.readStream(stream);
      expect(read).to.include({ id: event.id, type: 'ChatCreated', stream, revision: 0n, position: result.position });
      expect(read!.data).to.deep.equal(event.data);
      expect(read!.metadata).to.include(event.metadata);
      expect(read!.metadata.prev_hash).to.equal(null);
      expect(read!.metadata.hash).to.match(/^[0-9a-f]{64}$/);
      expect(read!.recordedAt).to.match(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
    });

    it('stores a large event whole (500 KB of text, escapes and non-ASCII included)', async () => {
      const stream = uniqueStream();
      const text = 'é "quoted" \\ \n ✓ '.repeat(25_000);
      await store.append(stream, [newEvent('Large', { text })], 'no_stream');
      const [read] = await store.readStream(stream);
      expect((read!.data as { text: string }).text).to.equal(text);
      expect(await verifyStream(store, stream)).to.equal(null);
    });

    it('numbers the events of one append consecutively, in increasing global positions', async () => {
      const stream = uniqueStream();
      await store.append(stream, [newEvent('A')], 'no_stream');
      const result = await store.append(stream, [newEvent('B'), newEvent('C'), newEvent('D')], 0n);
      expect(result.nextRevision).to.equal(3n);
      const events = await store.readStream(stream);
      expect(events.map((e) => e.type)).to.deep.equal(['A', 'B', 'C', 'D']);
      expect(events.map((e) => e.revision)).to.deep.equal([0n, 1n, 2n, 3n]);
      const positions = events.map((e) => e.position);
      expect([...positions].sort((a, b) => (a < b ? -1 : 1))).to.deep.equal(positions);
      expect(new Set(positions).size).to.equal(4);
      expect(positions[3]).to.equal(result.position);
    });

    it('reads a stream backwards, from a revision, and at most maxCount; an absent stream reads empty', async () => {
      const stream = uniqueStream();
      await store.append(stream, [0, 1, 2, 3, 4].map((n) => newEvent('N', { n })), 'no_stream');
      const data = (events: RecordedEvent[]) => events.map((e) => (e.data as { n: number }).n);
      expect(data(await store.readStream(stream, { direction: 'backwards' }))).to.deep.equal([4, 3, 2, 1, 0]);
      expect(data(await store.readStream(stream, { fromRevision: 2n, maxCount: 2 }))).to.deep.equal([2, 3]);
      expect(data(await store.readStream(stream, { direction: 'backwards', fromRevision: 1n }))).to.deep.equal([1, 0]);
      expect(await store.readStream(uniqueStream())).to.deep.equal([]);
    });

    it('reads everything after a position in global order, and reports the head', async () => {
      const before = await store.headPosition();
      const streams = [uniqueStream(), uniqueStream()];
      const ids: string[] = [];
      for (let i = 0; i < 6; i++) {
        const event = newEvent('G', { i });
        ids.push(event.id);
        await store.append(streams[i % 2]!, [event], 'any');
      }
      const all = (await store.readAll({ after: before })).filter((e) => streams.includes(e.stream));
      expect(all.map((e) => e.id)).to.deep.equal(ids);
      expect(all.every((e) => e.position > before)).to.equal(true);
      const head = await store.headPosition();
      expect(head).to.equal(all[all.length - 1]!.position);
      const afterThird = await store.readAll({ after: all[2]!.position, maxCount: 2 });
      expect(afterThird.map((e) => e.id)).to.deep.equal(ids.slice(3, 5));
    });

    it('reads and subscribes bare: the same events, less nothing but their metadata', async () => {
      const before = await store.headPosition();
      const stream = uniqueStream();
      await store.append(stream, [newEvent('Bare1', { text: 'ä "quoted" \\ line\nbreak' }), newEvent('Bare2', { n: 2 })], 'no_stream');
      const full = (await store.readAll({ after: before })).filter((e) => e.stream === stream);
      const withoutMetadata = full.map(({ metadata: _metadata, ...rest }) => rest);
      const bare = (await store.readAllBare({ after: before })).filter((e) => e.stream === stream);
      expect(bare.map((e) => ({ ...e }))).to.deep.equal(withoutMetadata);
      const subscribed = (await take(store.subscribeToAllBare({ after: before }), 2)).filter((e) => e.stream === stream);
      expect(subscribed.map((e) => ({ ...e }))).to.deep.equal(withoutMetadata);
      expect(full.every((e) => typeof e.metadata.hash === 'string'), 'the full read still has the metadata').to.equal(true);
    });
  });

  describe('expected revisions', () => {
    it('checks any, no_stream, stream_exists and exact revisions, naming the actual revision on conflict', async () => {
      const stream = uniqueStream();
      const conflict = (await rejection(store.append(stream, [newEvent()], 'stream_exists'))) as WrongExpectedRevisionError;
      expect(conflict).to.be.instanceOf(WrongExpectedRevisionError);
      expect(conflict.actual).to.equal(null);
      expect((await store.append(stream, [newEvent()], 'any')).nextRevision).to.equal(0n);
      const again = (await rejection(store.append(stream, [newEvent()], 'no_stream'))) as WrongExpectedRevisionError;
      expect(again).to.be.instanceOf(WrongExpectedRevisionError);
      expect(again.actual).to.equal(0n);
      expect((await store.append(stream, [newEvent()], 'stream_exists')).nextRevision).to.equal(1n);
      expect((await store.append(stream, [newEvent()], 1n)).nextRevision).to.equal(2n);
      const stale = (await rejection(store.append(stream, [newEvent()], 1n))) as WrongExpectedRevisionError;
      expect(stale).to.be.instanceOf(WrongExpectedRevisionError);
      expect(stale).to.include({ code: 'wrong_expected_revision', stream, expected: 1n, actual: 2n });
      expect(await store.readStream(stream)).to.have.length(3);
    });

    it('lets exactly one of two writers racing on the same expected revision win', async () => {
      const [a, b] = [open(), open()];
      for (let round = 0; round < 10; round++) {
        const stream = uniqueStream();
        await store.append(stream, [newEvent()], 'no_stream');
        const outcomes = await Promise.allSettled([a.append(stream, [newEvent('A')], 0n), b.append(stream, [newEvent('B')], 0n)]);
        const won = outcomes.filter((o) => o.status === 'fulfilled');
        const lost = outcomes.filter((o): o is PromiseRejectedResult => o.status === 'rejected');
        expect(won, `round ${round}`).to.have.length(1);
        expect(lost[0]!.reason).to.be.instanceOf(WrongExpectedRevisionError);
        expect(await store.readStream(stream)).to.have.length(2);
      }
    });
  });

  describe('idempotent appends', () => {
    it('answers a repeated append as the first time and writes nothing new', async () => {
      const stream = uniqueStream();
      const events = [newEvent('A'), newEvent('B')];
      const first = await store.append(stream, events, 'no_stream');
      const head = await store.headPosition();
      const repeat = await store.append(stream, events, 'no_stream');
      expect(first.repeated).to.equal(undefined);
      expect(repeat).to.deep.equal({ ...first, repeated: true });
      expect(await store.readStream(stream)).to.have.length(2);
      expect(await store.headPosition()).to.equal(head);
    });

    it('keeps one copy when the same append races itself from two writers', async () => {
      const stream = uniqueStream();
      const events = [newEvent('Once')];
      const results = await Promise.all([open().append(stream, events, 'any'), open().append(stream, events, 'any')]);
      expect(results.filter((r) => r.repeated)).to.have.length(1);
      expect(results[0]!.position).to.equal(results[1]!.position);
      expect(await store.readStream(stream)).to.have.length(1);
    });
  });

  describe('bad input: a typed error and nothing written', () => {
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    const cases: [string, () => [unknown, unknown, unknown]][] = [
      ['an unknown expected-revision kind', () => [uniqueStream(), [newEvent()], 'latest']],
      ['a negative expected revision', () => [uniqueStream(), [newEvent()], -1n]],
      ['a revision given as a number', () => [uniqueStream(), [newEvent()], 3]],
      ['an empty event list', () => [uniqueStream(), [], 'any']],
      ['an empty stream name', () => ['', [newEvent()], 'any']],
      ['a stream name over 200 characters', () => ['s'.repeat(201), [newEvent()], 'any']],
      ['a function in the data', () => [uniqueStream(), [newEvent('X', { f: () => 1 })], 'any']],
      ['a bigint in the data', () => [uniqueStream(), [newEvent('X', { n: 1n })], 'any']],
      ['NaN in the data', () => [uniqueStream(), [newEvent('X', { n: Number.NaN })], 'any']],
      ['a cycle in the data', () => [uniqueStream(), [newEvent('X', cyclic)], 'any']],
      ['a Date in the data', () => [uniqueStream(), [newEvent('X', { at: new Date() })], 'any']],
      ['U+0000 in a string', () => [uniqueStream(), [newEvent('X', { s: 'a\u0000b' })], 'any']],
      ['an id that is not a UUID', () => [uniqueStream(), [newEvent('X', {}, 'not-a-uuid')], 'any']],
      ['an event over 1 MiB', () => [uniqueStream(), [newEvent('X', { text: 'é'.repeat(600 * 1024) })], 'any']],
      ['a caller-supplied hash', () => [uniqueStream(), [{ ...newEvent(), metadata: { ...newEvent().metadata, hash: 'x' } }], 'any']],
    ];
    for (const [name, make] of cases) {
      it(`refuses ${name}`, async () => {
        const [stream, events, expected] = make();
        const head = await store.headPosition();
        const error = await rejection(store.append(stream as string, events as never, expected as never));
        expect(error).to.be.instanceOf(InvalidAppendError);
        expect((error as InvalidAppendError).code).to.equal('invalid_append');
        expect(await store.headPosition()).to.equal(head);
        if (typeof stream === 'string' && stream.length > 0 && stream.length <= 200) expect(await store.readStream(stream)).to.deep.equal([]);
      });
    }
  });

  describe('hash chain', () => {
    it('links every event of a stream to the one before it, across appends', async () => {
      const stream = uniqueStream();
      await store.append(stream, [newEvent('A'), newEvent('B')], 'no_stream');
      await store.append(stream, [newEvent('C', { deep: { z: 1, a: [{ y: 2, b: 3 }] } })], 'any');
      const events = await store.readStream(stream);
      expect(events[1]!.metadata.prev_hash).to.equal(events[0]!.metadata.hash);
      expect(events[2]!.metadata.prev_hash).to.equal(events[1]!.metadata.hash);
      expect(await verifyStream(store, stream)).to.equal(null);
    });
  });

  describe('subscribeToAll', () => {
    it('catches up from a position, then delivers live appends in order', async () => {
      const stream = uniqueStream();
      const start = await store.headPosition();
      await store.append(stream, [newEvent('Old1'), newEvent('Old2')], 'no_stream');
      const received = take(store.subscribeToAll({ after: start }), 4);
      await store.append(stream, [newEvent('New1')], 1n);
      await store.append(stream, [newEvent('New2')], 2n);
      const events = (await received).filter((e) => e.stream === stream);
      expect(events.map((e) => e.type)).to.deep.equal(['Old1', 'Old2', 'New1', 'New2']);
    });

    it('says it is catching up while it reads a backlog, and caught up once it has handed over the end of the log (or nothing, if the adapter cannot tell)', async () => {
      const stream = uniqueStream();
      const start = await store.headPosition();
      for (let i = 0; i < 5; i++) await store.append(stream, Array.from({ length: 1000 }, () => newEvent('Backlog')), 'any');
      const subscription = store.subscribeToAll({ after: start });
      const events = subscription[Symbol.asyncIterator]();
      for (let handed = 0; handed < 5000; ) {
        const { value: event } = await events.next();
        if (handed === 0) expect(subscription.caughtUp, 'at the first of 5,000 events').not.to.equal(true);
        if (event.stream === stream) handed++;
      }
      // the end of the log is where it finds nothing more: ask for the next event, and give it a moment
      events.next().catch(() => {});
      for (const deadline = Date.now() + 2000; subscription.caughtUp === false && Date.now() < deadline; ) await new Promise((resolve) => setTimeout(resolve, 20));
      expect(subscription.caughtUp, 'after the last event').not.to.equal(false);
      await subscription.close();
    });

    it('starts strictly after the given position', async () => {
      const stream = uniqueStream();
      await store.append(stream, [newEvent('A'), newEvent('B'), newEvent('C')], 'no_stream');
      const [, b] = await store.readStream(stream);
      const [next] = await take(store.subscribeToAll({ after: b!.position - 0n - 1n }), 1);
      expect(next!.id).to.equal(b!.id);
      const [third] = await take(store.subscribeToAll({ after: b!.position }), 1);
      expect(third!.type).to.equal('C');
    });
  });
}
