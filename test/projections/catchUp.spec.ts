import { expect } from 'chai';
import { randomUUID } from 'node:crypto';
import { createKnex } from '../../src/db/database.ts';
import type { BareEvent, EventStore, NewEvent, Subscription } from '../../src/eventstore/EventStore.ts';
import { createLogger } from '../../src/log.ts';
import type { Projection } from '../../src/projections/Projection.ts';
import { ProjectionRunner } from '../../src/projections/ProjectionRunner.ts';
import { GENERATION_SCOPE } from '../../src/queries/QueryCache.ts';
import { chatEvent } from '../analytics/chatHistory.ts';
import { eventStoreFixture } from '../support/services.ts';
import { pause } from '../support/sockets.ts';

const EVENTS = 12_000;

/** A write of the probe: apply() of one batch, or a catch-up's flush of what its replay folded. */
interface Write {
  kind: 'apply' | 'flush';
  events: number;
}

/**
 * A projection that writes nothing but tells how many events each of its writes held. Each batch
 * takes it a while, as batches take real projections: the reading gets ahead, and batches come
 * full while it is far behind.
 */
function probe(batchMs = 20): { projection: Projection; writes: Write[] } {
  const writes: Write[] = [];
  const projection: Projection = {
    name: 'probe',
    version: 1,
    tables: [],
    eventTypes: ['MessagePosted'],
    async apply(events) {
      await pause(batchMs);
      writes.push({ kind: 'apply', events: events.length });
      return ['probe'];
    },
    replay() {
      let pending = 0;
      return {
        async add(events) {
          await pause(batchMs);
          pending += events.length;
        },
        get pending() {
          return pending;
        },
        async flush() {
          writes.push({ kind: 'flush', events: pending });
          pending = 0;
        },
      };
    },
  };
  return { projection, writes };
}

/** The store, its subscriptions pausing after each event `pauseAfter` picks (by how many were handed over): a reader slower than the folding. */
function slowReading(store: EventStore, pauseAfter: (handed: number) => boolean, pauseMs: number): EventStore {
  const slowly = (inner: Subscription<BareEvent>): Subscription<BareEvent> => {
    async function* events() {
      let handed = 0;
      for await (const event of inner) {
        yield event;
        if (pauseAfter(++handed)) await pause(pauseMs);
      }
    }
    const iterator = events();
    return {
      [Symbol.asyncIterator]: () => iterator,
      get caughtUp() {
        return inner.caughtUp;
      },
      close: () => inner.close(),
    };
  };
  return { ...store, subscribeToAllBare: (options) => slowly(store.subscribeToAllBare(options)) };
}

/** `count` messages posted to one chat in appends of at most 1,000 (the same chat and author each time); answers the last position. */
async function post(store: EventStore, chat: string, author: string, from: number, count: number, appendSize = 1000): Promise<bigint> {
  let position = 0n;
  for (let at = from; at < from + count; at += appendSize) {
    const events: NewEvent[] = Array.from({ length: Math.min(appendSize, from + count - at) }, (_, i) => {
      const micros = Date.parse('2026-06-01T00:00:00Z') * 1000 + at + i;
      return chatEvent('MessagePosted', { message_id: at + i + 1, author_id: author, content: `m ${at + i + 1}`, time_stamp: new Date(micros / 1000).toISOString() }, micros, author);
    });
    ({ position } = await store.append(`chat-${chat}`, events, 'any'));
  }
  return position;
}

describe('projections: catching up', function () {
  this.timeout(60_000);
  const fixture = eventStoreFixture();
  const chat = randomUUID();
  const author = randomUUID();
  let head: bigint;

  before(async () => {
    head = await post(fixture.store, chat, author, 0, EVENTS);
  });

  async function running(store: EventStore, projection: Projection, work: (runner: ProjectionRunner) => Promise<void>, catchUpRows?: number): Promise<void> {
    const knex = createKnex(fixture.db.url);
    await knex('projection_checkpoints').where({ name: projection.name }).delete();
    const runner = new ProjectionRunner(knex, fixture.db.url, store, [projection], createLogger('silent'), catchUpRows);
    try {
      await work(runner);
    } finally {
      await runner.stop();
      await knex.destroy();
    }
  }

  const reach = async (runner: ProjectionRunner, position: bigint) => expect(await runner.reached(position, 30_000)).to.equal(true);
  const total = (writes: readonly Write[]) => writes.reduce((sum, w) => sum + w.events, 0);

  it('goes on folding while the reading falls behind for a moment, rather than writing what it folded as if live', async () => {
    const { projection, writes } = probe(60);
    // late in the log, the reading stops for a while: the batches it leaves short, or empty, do not end the catch-up
    await running(slowReading(fixture.store, (handed) => handed === 10_000, 1000), projection, async (runner) => {
      runner.start();
      await reach(runner, head);
    });
    expect(total(writes)).to.equal(EVENTS);
    // batches before the catch-up began are applied; from then on, one write at the head
    const kinds = writes.map((w) => w.kind);
    expect(kinds.indexOf('flush'), `writes: ${JSON.stringify(writes)}`).to.equal(kinds.length - 1);
  });

  it('catches up under a reading that never hands over a full batch, as a slow machine reads', async () => {
    const { projection, writes } = probe(0);
    // a pause after every 1,000 events but in the last page: every batch is short while the subscription
    // says more is right behind, and once it has read the last page those events follow at once, as they do
    await running(slowReading(fixture.store, (handed) => handed % 1000 === 0 && handed < EVENTS - 2048, 20), projection, async (runner) => {
      runner.start();
      await reach(runner, head);
    });
    const shown = `writes: ${JSON.stringify(writes)}`;
    expect(total(writes), shown).to.equal(EVENTS);
    // batch by batch until they add up to a full one (5,000), then folded and written once, at the head
    expect(total(writes.filter((w) => w.kind === 'apply')), shown).to.be.below(5000);
    expect(writes.map((w) => w.kind).indexOf('flush'), shown).to.equal(writes.length - 1);
  });

  it('applies a live burst batch by batch when the reading takes it in short batches, its stale scopes exact', async () => {
    const { projection, writes } = probe();
    const stale: string[][] = [];
    // past the log there was, the reading pauses after every 500 events of a burst of 3,000 posted at once
    await running(slowReading(fixture.store, (handed) => handed > EVENTS && handed % 500 === 0, 30), projection, async (runner) => {
      runner.start();
      await reach(runner, head);
      const before = writes.length;
      runner.onStale((scopes) => stale.push([...scopes]));
      const burst = await post(fixture.store, chat, author, EVENTS, 3000, 3000);
      await reach(runner, burst);
      const live = writes.slice(before);
      expect(live.map((w) => w.kind), `writes: ${JSON.stringify(live)}`).to.deep.equal(live.map(() => 'apply'));
      expect(total(live)).to.equal(3000);
    });
    expect(stale.flat()).not.to.include(GENERATION_SCOPE);
    expect(stale.flat()).to.include('probe');
  });

  it('hands a listener the events after its position, once each and in order, across catch-up writes, and keeps no others for it', async () => {
    const all = (await fixture.store.readAllBare({ maxCount: 100_000 })).map((e) => e.position);
    const after = all[all.length - 2500]!;
    for (const eventsAfter of [after, undefined]) {
      const { projection, writes } = probe();
      const heard: bigint[] = [];
      const stale: string[][] = [];
      // writes every 3,000 rows: several catch-up writes
      await running(
        fixture.store,
        projection,
        async (runner) => {
          runner.onProjected((_projection, events) => heard.push(...events.map((e) => e.position)), { eventsAfter });
          runner.onStale((scopes) => stale.push([...scopes]));
          runner.start();
          await reach(runner, all[all.length - 1]!);
        },
        3000,
      );
      expect(writes.filter((w) => w.kind === 'flush').length, `writes: ${JSON.stringify(writes)}`).to.be.greaterThan(1);
      expect(heard).to.deep.equal(all.filter((position) => position > (eventsAfter ?? 0n)));
      expect(stale.flat()).to.include(GENERATION_SCOPE);
    }
  });
});
