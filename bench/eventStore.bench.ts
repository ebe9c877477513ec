import { randomUUID } from 'node:crypto';
import type { EventStore, NewEvent } from '../src/eventstore/EventStore.ts';
import { createPostgresEventStore } from '../src/eventstore/postgres/PostgresEventStore.ts';
import { drive, type Bench, type BenchRow } from './harness.ts';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);

function event(n: number): NewEvent {
  const id = randomUUID();
  return {
    id,
    type: 'MessagePosted',
    data: { chat: 'c', author_id: 'a', content: `benchmark message number ${n}`, time_stamp: new Date().toISOString() },
    metadata: { actor: 'a', correlation_id: id, causation_id: id, occurred_at: new Date().toISOString(), schema: 1 },
  };
}

/**
 * Single-event appends from `writers` concurrent loops, each with `inFlight` appends outstanding,
 * through `stores` event store instances (each with its own connections, as separate processes
 * would have), to 1,000 streams per store, or to 1,000 streams all stores share.
 */
async function appends(url: string, writers: number, inFlight: number, stores: number, shared = false): Promise<BenchRow[]> {
  const instances = Array.from({ length: stores }, () => createPostgresEventStore(url, { poolSize: 3 }));
  try {
    const result = await drive(writers * inFlight, SECONDS, (worker, i) => {
      const store = worker % stores;
      const stream = `bench-${shared ? 'shared' : store}-${(worker * 7919 + i) % 1000}`;
      return instances[store]!.append(stream, [event(i)], 'any');
    });
    const where = stores === 1 ? 'one store' : `${stores} stores, ${shared ? 'shared' : 'own'} streams`;
    const name = `${writers} writer${writers > 1 ? 's' : ''} × ${inFlight} in flight, ${where}`;
    return [
      { bench: 'eventstore.append', case: name, value: result.perSecond, unit: 'events/s' },
      { bench: 'eventstore.append', case: `${name} p50`, value: result.p50, unit: 'ms' },
      { bench: 'eventstore.append', case: `${name} p99`, value: result.p99, unit: 'ms' },
    ];
  } finally {
    await Promise.all(instances.map((s) => s.close()));
  }
}

async function readAll(store: EventStore, total: number): Promise<BenchRow[]> {
  // fill with appends of 100 events: the fast path for loading, not what is measured
  for (let written = 0; written < total; written += 1000) {
    await Promise.all(Array.from({ length: 10 }, (_, k) => store.append(`fill-${written + k}`, Array.from({ length: 100 }, (_, n) => event(n)), 'any')));
  }
  const best: number[] = [];
  for (let round = 0; round < 3; round++) {
    const started = performance.now();
    let after = 0n;
    let read = 0;
    for (;;) {
      const page = await store.readAll({ after, maxCount: 4096 });
      if (page.length === 0) break;
      read += page.length;
      after = page[page.length - 1]!.position;
    }
    best.push(read / ((performance.now() - started) / 1000));
  }
  return [{ bench: 'eventstore.readAll', case: `${total.toLocaleString('en-US')} events, pages of 4,096`, value: Math.max(...best), unit: 'events/s', note: 'best of 3' }];
}

export const eventStoreBench: Bench = async ({ freshDatabase, log }) => {
  const rows: BenchRow[] = [];
  for (const [writers, inFlight, stores, shared] of [
    [1, 1, 1, false],
    [8, 1, 1, false],
    [8, 8, 1, false],
    [8, 8, 8, false],
    [8, 8, 8, true],
  ] as const) {
    log(`appends: ${writers} writers × ${inFlight}, ${stores} stores${shared ? ', shared streams' : ''}`);
    rows.push(...(await appends(await freshDatabase(), writers, inFlight, stores, shared)));
  }
  log('read-all');
  const store = createPostgresEventStore(await freshDatabase());
  try {
    rows.push(...(await readAll(store, Number(process.env.BENCH_READ_EVENTS ?? 200_000))));
  } finally {
    await store.close();
  }
  return rows;
};
