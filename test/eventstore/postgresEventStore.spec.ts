import { expect } from 'chai';
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import type { EventStore, RecordedEvent } from '../../src/eventstore/EventStore.ts';
import { createPostgresEventStore } from '../../src/eventstore/postgres/PostgresEventStore.ts';
import { verifyStream } from '../../src/eventstore/verifyStream.ts';
import { newEvent, uniqueStream } from '../support/events.ts';
import { adminQuery, eventStoreFixture } from '../support/services.ts';

/** Collects a subscription's events until `done` says stop; the promise settles when it has. */
function collect(store: EventStore, after: bigint, done: (seen: RecordedEvent[]) => boolean) {
  const subscription = store.subscribeToAll({ after });
  const seen: RecordedEvent[] = [];
  const finished = (async () => {
    for await (const event of subscription) {
      seen.push(event);
      if (done(seen)) break;
    }
    await subscription.close();
    return seen;
  })();
  return { seen, finished };
}

const terminateSubscribers = (url: string) =>
  adminQuery(url, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'chat-es-subscription' AND datname = current_database()");

describe('Postgres event store: concurrency, tampering and dropped connections', () => {
  const fixture = eventStoreFixture();

  it('shows a live subscriber every event of 8 concurrent writers exactly once, in increasing position, with no gap that fills in later', async () => {
    const writers = Array.from({ length: 8 }, () => createPostgresEventStore(fixture.db.url, { poolSize: 1 }));
    const streams = Array.from({ length: 40 }, () => uniqueStream('race'));
    const perWriter = 256;
    const start = await fixture.store.headPosition();
    const total = writers.length * perWriter;
    const { seen, finished } = collect(fixture.store, start, (events) => events.length === total);
    try {
      await Promise.all(
        writers.map(async (writer, w) => {
          // each writer keeps 8 appends in flight, so appends of many writers meet in shared transactions
          for (let i = 0; i < perWriter; i += 8) {
            await Promise.all(
              Array.from({ length: 8 }, (_, k) => writer.append(streams[(w * 7 + i + k) % streams.length]!, [newEvent('Raced', { w, i: i + k })], 'any')),
            );
          }
        }),
      );
      await finished;
    } finally {
      await Promise.all(writers.map((writer) => writer.close()));
    }
    const positions = seen.map((e) => e.position);
    expect(positions.every((p, i) => i === 0 || p > positions[i - 1]!)).to.equal(true, 'positions strictly increase');
    expect(new Set(seen.map((e) => e.id)).size).to.equal(total);
    // what the subscriber saw live is exactly the log as it reads afterwards: nothing skipped then filled in
    const settled = await fixture.store.readAll({ after: start, maxCount: total + 1 });
    expect(settled.map((e) => e.id)).to.deep.equal(seen.map((e) => e.id));
    for (const stream of streams) {
      const events = await fixture.store.readStream(stream);
      expect(events.map((e) => e.revision)).to.deep.equal(events.map((_, i) => BigInt(i)));
      expect(await verifyStream(fixture.store, stream)).to.equal(null);
    }
  });

  it('fails verification at the event whose data was altered in the table, and not before it', async () => {
    const stream = uniqueStream('audit');
    for (let i = 0; i < 5; i++) await fixture.store.append(stream, [newEvent('MessagePosted', { content: `message ${i}` })], 'any');
    expect(await verifyStream(fixture.store, stream)).to.equal(null);
    const target = (await fixture.store.readStream(stream))[3]!;
    await adminQuery(fixture.db.url, `UPDATE es_events SET data = '{"content": "rewritten"}' WHERE id = '${target.id}'`);
    const broken = await verifyStream(fixture.store, stream);
    expect(broken).to.include({ stream, revision: 3n, position: target.position });
    expect(broken!.reason).to.match(/hash/);
  });

  it('fails verification where an event was removed from the chain', async () => {
    const stream = uniqueStream('audit');
    await fixture.store.append(stream, [newEvent('A'), newEvent('B'), newEvent('C')], 'no_stream');
    const [, b, c] = await fixture.store.readStream(stream);
    await adminQuery(fixture.db.url, `DELETE FROM es_events WHERE id = '${b!.id}'`);
    await adminQuery(fixture.db.url, `UPDATE es_events SET revision = 1 WHERE id = '${c!.id}'`);
    expect(await verifyStream(fixture.store, stream)).to.include({ revision: 1n, reason: 'prev_hash does not match the previous event' });
  });

  it('resumes a subscription whose connection is killed, losing and repeating nothing', async () => {
    const stream = uniqueStream('killed');
    const start = await fixture.store.headPosition();
    for (let i = 0; i < 6; i++) await fixture.store.append(stream, Array.from({ length: 500 }, (_, k) => newEvent('Bulk', { n: i * 500 + k })), 'any');
    const total = 3500;
    let killedAt: number[] = [];
    const { seen, finished } = collect(fixture.store, start, (events) => {
      if (events.length === 700 || events.length === 2600) {
        killedAt.push(events.length);
        void terminateSubscribers(fixture.db.url);
      }
      return events.length === total;
    });
    // wait until the catch-up is done, kill the now idle live connection, then append the rest
    let killedLive = 0;
    while (killedLive === 0) {
      await new Promise((r) => setTimeout(r, 20));
      if (seen.length === 3000) killedLive = (await terminateSubscribers(fixture.db.url)).rowCount ?? 0;
    }
    await fixture.store.append(stream, Array.from({ length: 500 }, (_, k) => newEvent('Live', { n: 3000 + k })), 'any');
    await finished;
    expect(killedAt).to.deep.equal([700, 2600]);
    expect(seen.map((e) => (e.data as { n: number }).n)).to.deep.equal(Array.from({ length: total }, (_, i) => i));
  });

  it('keeps serving appends after its pooled connections are killed', async () => {
    await adminQuery(fixture.db.url, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'chat-event-store' AND datname = current_database()");
    const stream = uniqueStream();
    // the first use of a killed pooled connection may fail; a caller's retry (same ids) must then succeed once
    const events = [newEvent()];
    let result = await fixture.store.append(stream, events, 'no_stream').catch(() => null);
    result ??= await fixture.store.append(stream, events, 'no_stream');
    expect(result.nextRevision).to.equal(0n);
    expect(await fixture.store.readStream(stream)).to.have.length(1);
  });
  describe('the read horizon', () => {
    const clients: pg.Client[] = [];
    async function openTransaction(): Promise<pg.Client> {
      const client = new pg.Client({ connectionString: fixture.db.url });
      await client.connect();
      clients.push(client);
      await client.query('BEGIN');
      return client;
    }
    /** es_append_batch as the store calls it, one event at revision 0 of a new stream, in the client's open transaction */
    const appendInOpenTransaction = (client: pg.Client, stream: string) =>
      client.query('SELECT es_append_batch($1, $2, $3, false)', [
        JSON.stringify([{ id: randomUUID(), stream, revision: 0, type: 'Slow', data: {}, metadata: {}, hash: 'h', offset: 0 }]),
        '[]',
        [],
      ]);
    afterEach(async () => {
      for (const client of clients.splice(0)) await client.end().catch(() => {});
    });

    it('is not held back by a transaction that writes other tables, such as a projection batch', async () => {
      await adminQuery(fixture.db.url, 'CREATE TABLE IF NOT EXISTS horizon_probe (n int)');
      const start = await fixture.store.headPosition();
      const projectionBatch = await openTransaction();
      await projectionBatch.query('INSERT INTO horizon_probe VALUES (1)');
      const stream = uniqueStream('unblocked');
      await fixture.store.append(stream, [newEvent()], 'no_stream');
      // the append committed after the other transaction took its id, which used to hide it until that one ended
      expect((await fixture.store.readAll({ after: start })).map((e) => e.stream)).to.deep.equal([stream]);
      expect((await fixture.store.headPosition()) > start).to.equal(true, 'the head moved past the append');
      await projectionBatch.query('COMMIT');
    });

    it('holds readers below an append still in flight, and shows both appends in order once it commits', async () => {
      const start = await fixture.store.headPosition();
      const slow = await openTransaction();
      const [slowStream, fastStream] = [uniqueStream('slow'), uniqueStream('fast')];
      await appendInOpenTransaction(slow, slowStream);
      await fixture.store.append(fastStream, [newEvent()], 'no_stream');
      // the later append is committed, but a reader taking it now would skip the slow one when it commits
      expect(await fixture.store.readAll({ after: start })).to.deep.equal([]);
      expect(await fixture.store.headPosition()).to.equal(start);
      await slow.query('COMMIT');
      expect((await fixture.store.readAll({ after: start })).map((e) => e.stream)).to.deep.equal([slowStream, fastStream]);
    });

    it('refuses an append in a transaction that wrote before it, which readers could not tell from a non-appender', async () => {
      await adminQuery(fixture.db.url, 'CREATE TABLE IF NOT EXISTS horizon_probe (n int)');
      const late = await openTransaction();
      await late.query('INSERT INTO horizon_probe VALUES (2)');
      const error = await appendInOpenTransaction(late, uniqueStream('late')).catch((e: Error) => e);
      expect(error).to.be.instanceOf(Error);
      expect((error as Error).message).to.match(/first write of its transaction/);
    });
  });
});
