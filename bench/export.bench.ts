import { createWriteStream } from 'node:fs';
import { rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { exportEvents, storeEventLines } from '../src/audit/exportEvents.ts';
import { createPostgresEventStore } from '../src/eventstore/postgres/PostgresEventStore.ts';
import { adminQuery } from '../test/support/services.ts';
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import type { Bench, BenchRow } from './harness.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** Runs the CLI's export as its own process; its count and time as it reports them, and its peak RSS. */
function runExportCli(entry: string[], databaseUrl: string, file: string): Promise<{ count: number; seconds: number; peakRss: number }> {
  const args = [...entry, 'audit', 'export', '--from', '2000-01-01T00:00:00Z', '--to', 'now', '--out', file];
  const child = spawn(process.execPath, args, { cwd: ROOT, env: { PATH: process.env.PATH, HOME: process.env.HOME, DATABASE_URL: databaseUrl }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  let peakRss = 0;
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk));
  // VmHWM is the process's peak resident set so far: the last reading before it exits is its peak
  const sampler = setInterval(() => {
    readFile(`/proc/${child.pid}/status`, 'utf8')
      .then((status) => (peakRss = Math.max(peakRss, Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? 0) * 1024)))
      .catch(() => {});
  }, 20);
  return new Promise((resolve, reject) => {
    child.once('close', (status) => {
      clearInterval(sampler);
      const report = /^(\d+) events exported to .* in ([\d.]+) s/m.exec(stdout);
      if (status !== 0 || !report) return reject(new Error(`audit export failed (${status}): ${stderr}${stdout}`));
      resolve({ count: Number(report[1]), seconds: Number(report[2]), peakRss });
    });
  });
}

/**
 * `audit export` of the whole log to a file, run as operators run it (its own process): events/s
 * as the command reports them and the process's peak resident memory, which must stay flat
 * however long the log; and the same export through the event store's port, for comparison.
 *
 * The log is written straight into es_events by SQL, a chunk per statement, rather than through
 * the event store (readSide.bench.ts's generator appends at a few tens of thousands of events/s:
 * half a minute or more for a million here). The rows have the shape and size of real ones —
 * MessagePosted in 10,000 chat streams, full metadata with hashes — but their hash chains are not
 * valid, which an export does not look at. BENCH_EXPORT_EVENTS sets the size (default 1,000,000).
 */
const EVENTS = Number(process.env.BENCH_EXPORT_EVENTS ?? 1_000_000);
const CHATS = 10_000;
const CHUNK = 100_000;
const MB = 1024 * 1024;

export const exportBench: Bench = async ({ freshDatabase, log }) => {
  const url = await freshDatabase();
  const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
  log(`export: writing ${fmt(EVENTS)} events into es_events`);
  const loadStarted = performance.now();
  for (let from = 0; from < EVENTS; from += CHUNK) {
    const to = Math.min(from + CHUNK, EVENTS) - 1;
    await adminQuery(
      url,
      `INSERT INTO es_events (position, id, stream, revision, type, data, metadata, recorded_at)
       SELECT g + 1, gen_random_uuid(), 'chat-' || md5((g % ${CHATS})::text)::uuid, g / ${CHATS}, 'MessagePosted',
              jsonb_build_object('message_id', g / ${CHATS} + 1, 'author_id', md5((g % 97)::text)::uuid,
                                 'content', 'a message of about sixty characters, number ' || g, 'time_stamp', t),
              jsonb_build_object('actor', md5((g % 97)::text)::uuid, 'correlation_id', gen_random_uuid(), 'causation_id', gen_random_uuid(),
                                 'occurred_at', t, 'schema', 1, 'prev_hash', md5(g::text) || md5((g + 1)::text), 'hash', md5((g + 2)::text) || md5((g + 3)::text)),
              r
         FROM generate_series(${from}, ${to}) AS g,
              LATERAL (SELECT now() - make_interval(secs => (${EVENTS} - g) / 1000.0) AS r) AS at,
              LATERAL (SELECT to_char(r AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS t) AS stamp`,
    );
  }
  await adminQuery(url, 'ANALYZE es_events');
  log(`export: log written in ${((performance.now() - loadStarted) / 1000).toFixed(1)} s; exporting`);

  const file = path.join(os.tmpdir(), `export-bench-${process.pid}.ndjson`);
  try {
    // as an operator runs it, its own process, whose peak RSS is read from /proc: the bin (node's
    // defaults), then `npm run cli`, whose 64 MB semi-spaces (for the projections) cost RSS
    const rows: BenchRow[] = [];
    for (const [how, entry] of [
      ['bin', ['bin/chat-backend.mjs']],
      ['npm run cli', ['--max-semi-space-size=64', '--import', 'tsx', 'src/cli/main.ts']],
    ] as const) {
      log(`export: audit export through ${how}`);
      const cli = await runExportCli([...entry], url, file);
      if (cli.count !== EVENTS) throw new Error(`export wrote ${cli.count} lines for ${EVENTS} events`);
      const size = (await stat(file)).size;
      rows.push(
        { bench: 'export', case: `audit export, whole log (${how})`, value: cli.count / cli.seconds, unit: 'events/s', note: `${fmt(EVENTS)} events, ${(size / MB).toFixed(0)} MB file, ${cli.seconds.toFixed(1)} s` },
        { bench: 'export', case: `audit export peak RSS (${how})`, value: cli.peakRss / MB, unit: 'MB', note: 'VmHWM of the process; target < 200 MB at 1,000,000 events' },
      );
    }

    // the same export through the event store's port (what EventStoreDB gets), in this process
    log('export: again through the event store port');
    const store = createPostgresEventStore(url);
    const started = performance.now();
    try {
      const count = await exportEvents(storeEventLines(store)({ from: 0, to: Number.MAX_SAFE_INTEGER }), createWriteStream(file));
      rows.push({ bench: 'export', case: 'whole log through the port', value: count / ((performance.now() - started) / 1000), unit: 'events/s', note: 'parses and stringifies each event' });
    } finally {
      await store.close();
    }
    return rows;
  } finally {
    await rm(file, { force: true });
  }
};
