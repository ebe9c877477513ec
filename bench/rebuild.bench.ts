import { createKnex } from '../src/db/database.ts';
import { createPostgresEventStore } from '../src/eventstore/postgres/PostgresEventStore.ts';
import { createLogger } from '../src/log.ts';
import { allProjections } from '../src/projections/allProjections.ts';
import { ProjectionRunner } from '../src/projections/ProjectionRunner.ts';
import { rebuildProjections, type RebuildProgress } from '../src/projections/rebuildProjections.ts';
import { profiled } from './cpuProfile.ts';
import type { Bench, BenchRow } from './harness.ts';
import { datasetEvents, generate, lastPosition, type DatasetSize } from './readSide.bench.ts';

/**
 * Rebuilding every projection from a log of BENCH_REBUILD_EVENTS events (1,000,000 by default:
 * the read-side bench's 10,000 users and 50,000 chats, and messages for the rest). The live read
 * models are caught up first, as a rebuild meets them in production (that catch-up is timed too),
 * then `rebuildProjections` loads shadow tables, indexes them and swaps them in.
 */
const EVENTS = Number(process.env.BENCH_REBUILD_EVENTS ?? 1_000_000);
const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
const silent = createLogger('silent');

function sizeFor(events: number): DatasetSize {
  const base = { users: 10_000, chats: 50_000, messages: 0, bigChat: 0 };
  const scale = Math.min(1, events / (datasetEvents(base) * 2));
  const users = Math.max(10, Math.round(base.users * scale));
  const chats = Math.max(10, Math.round(base.chats * scale));
  const messages = Math.max(1, events - datasetEvents({ users, chats, messages: 0, bigChat: 0 }));
  return { users, chats, messages, bigChat: Math.min(100_000, Math.floor(messages / 10)) };
}

export const rebuildBench: Bench = async ({ freshDatabase, log }) => {
  const bench = 'rebuild';
  const rows: BenchRow[] = [];
  const url = await freshDatabase();
  const size = sizeFor(EVENTS);
  const data = await generate(url, log, size);
  log(`${fmt(data.events)} events appended in ${data.seconds.toFixed(1)} s`);

  const knex = createKnex(url, { pool: { min: 0, max: 12 } });
  const store = createPostgresEventStore(url);
  try {
    // the last event written, not the store's head: that stops at the horizon of transactions running anywhere in the cluster
    const head = await lastPosition(knex);
    log(`catch-up: all ${allProjections.length} projections from 0`);
    const runner = new ProjectionRunner(knex, url, store, allProjections, silent);
    let started = performance.now();
    const caughtUp = await profiled('rebuild catch-up', () => {
      runner.start();
      return runner.reached(head, 30 * 60_000);
    });
    const catchUpSeconds = (performance.now() - started) / 1000;
    await runner.stop();
    if (!caughtUp) throw new Error('projections did not catch up within 30 minutes');
    rows.push({
      bench,
      case: `catch-up, all ${allProjections.length} projections, live tables`,
      value: data.events / catchUpSeconds,
      unit: 'events/s',
      note: `${fmt(data.events)} events in ${catchUpSeconds.toFixed(1)} s; target ≥ 50,000: ${data.events / catchUpSeconds >= 50_000 ? 'met' : 'missed'}`,
    });

    log(`rebuild: all ${allProjections.length} projections`);
    const phases = new Map<RebuildProgress['phase'], number>();
    let phaseStarted = performance.now();
    let phase: RebuildProgress['phase'] | null = null;
    let lastLine = 0;
    started = performance.now();
    const result = await profiled('rebuild', () => rebuildProjections({
      knex,
      store,
      databaseUrl: url,
      projections: allProjections,
      log: silent,
      onProgress: (p) => {
        const now = performance.now();
        if (p.phase !== phase) {
          if (phase) phases.set(phase, (now - phaseStarted) / 1000);
          phase = p.phase;
          phaseStarted = now;
        }
        if (now - lastLine > 5000) {
          lastLine = now;
          log(`  ${p.phase} ${fmt(p.events)} events, ${fmt(p.events / ((now - started) / 1000))} events/s`);
        }
      },
    }));
    const seconds = (performance.now() - started) / 1000;
    const split = [...phases].map(([name, s]) => `${name} ${s.toFixed(1)} s`).join(', ');
    rows.push({
      bench,
      case: `rebuild, all ${allProjections.length} projections (shadow tables, swap)`,
      value: result.events / seconds,
      unit: 'events/s',
      note: `${fmt(result.events)} events in ${seconds.toFixed(1)} s (${split}); target ≥ 100,000: ${result.events / seconds >= 100_000 ? 'met' : 'missed'}`,
    });
  } finally {
    await store.close();
    await knex.destroy();
  }
  return rows;
};
