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

const EVENTS = 12_000;

/** A projection that writes nothing but tells how many events each of its writes held. */
function probe(): { projection: Projection; writes: number[] } {
  const writes: number[] = [];
  const projection: Projection = {
    name: 'probe',
    version: 1,
    tables: [],
    eventTypes: ['MessagePosted'],
    async apply(events) {
      writes.push(events.length);
      return [];
    },
    replay() {
      let pending = 0;
      return {
        async add(events) {
          pending += events.length;
        },
        get pending() {
          return pending;
        },
        async flush() {
          writes.push(pending);
          pending = 0;
        },
      };
    },
  };
  return { projection, writes };
}

/** The store, its subscriptions handing over `burst` events at a time with a pause after each: a reader slower than the folding. */
function slowReading(store: EventStore, burst: number, pauseMs: number): EventStore {
  const slowly = (inner: Subscription<BareEvent>): Subscription<BareEvent> => {
    async function* events() {
      let handed = 0;
      for await (const event of inner) {
        yield event;
        if (++handed % burst === 0) await new Promise((resolve) => setTimeout(resolve, pauseMs));
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

describe('projections: catching up', function () {
  this.timeout(60_000);
  const fixture = eventStoreFixture();
  let head: bigint;

  before(async () => {
    const chat = randomUUID();
    const author = randomUUID();
    for (let from = 0; from < EVENTS; from += 1000) {
      const events: NewEvent[] = Array.from({ length: 1000 }, (_, i) => {
        const at = Date.parse('2026-06-01T00:00:00Z') * 1000 + from + i;
        return chatEvent('MessagePosted', { message_id: from + i + 1, author_id: author, content: `m ${from + i + 1}`, time_stamp: new Date(at / 1000).toISOString() }, at, author);
      });
      ({ position: head } = await fixture.store.append(`chat-${chat}`, events, 'any'));
    }
  });

  async function catchUp(store: EventStore, projection: Projection, listen: (runner: ProjectionRunner) => void = () => {}): Promise<void> {
    const knex = createKnex(fixture.db.url);
    await knex('projection_checkpoints').where({ name: projection.name }).delete();
    const runner = new ProjectionRunner(knex, fixture.db.url, store, [projection], createLogger('silent'));
    listen(runner);
    try {
      runner.start();
      expect(await runner.reached(head, 30_000)).to.equal(true);
    } finally {
      await runner.stop();
      await knex.destroy();
    }
  }

  it('goes on folding while the reading falls behind for a moment, and writes once it reaches the head', async () => {
    const { projection, writes } = probe();
    // batches come short (about 500 events) all the way: each would have ended the catch-up and
    // been applied on its own, as if live
    await catchUp(slowReading(fixture.store, 500, 15), projection);
    expect(writes.reduce((sum, n) => sum + n, 0)).to.equal(EVENTS);
    expect(writes[0], `events in each write: ${writes.join(', ')}`).to.be.greaterThan(EVENTS / 2);
  });

  it('hands each listener the events after its position, once each and in order, and every cached answer is stale after a catch-up write', async () => {
    const { projection } = probe();
    const after = head - 1000n;
    const heard: bigint[] = [];
    const everything: bigint[] = [];
    const stale: string[][] = [];
    await catchUp(fixture.store, projection, (runner) => {
      runner.onProjected((_projection, events) => heard.push(...events.map((e) => e.position)), { eventsAfter: after });
      runner.onProjected((_projection, events) => everything.push(...events.map((e) => e.position)));
      runner.onStale((scopes) => stale.push([...scopes]));
    });
    const all = (await fixture.store.readAllBare({ maxCount: EVENTS + 1 })).map((e) => e.position);
    expect(everything).to.deep.equal(all);
    expect(heard).to.deep.equal(all.filter((position) => position > after));
    expect(stale.length).to.be.greaterThan(0);
    for (const scopes of stale) expect(scopes).to.deep.equal([GENERATION_SCOPE]);
  });
});
