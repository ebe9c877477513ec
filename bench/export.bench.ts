import { randomUUID } from 'node:crypto';
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
import { seal } from '../src/eventstore/hashChain.ts';
import type { Bench, BenchRow } from './harness.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** Runs the CLI as its own process with `args` after node; its output, exit status and peak RSS (VmHWM from /proc). */
function runCliProcess(args: string[], databaseUrl: string): Promise<{ status: number | null; stdout: string; stderr: string; peakRss: number }> {
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
  return new Promise((resolve) => {
    child.once('close', (status) => {
      clearInterval(sampler);
      resolve({ status, stdout, stderr, peakRss });
    });
  });
}

/** The CLI's export: its count and time as it reports them, and its peak RSS. */
async function runExportCli(entry: string[], databaseUrl: string, file: string) {
  const run = await runCliProcess([...entry, 'audit', 'export', '--from', '2000-01-01T00:00:00Z', '--to', 'now', '--out', file], databaseUrl);
  const report = /^(\d+) events exported to .* in ([\d.]+) s/m.exec(run.stdout);
  if (run.status !== 0 || !report) throw new Error(`audit export failed (${run.status}): ${run.stderr}${run.stdout}`);
  return { count: Number(report[1]), seconds: Number(report[2]), peakRss: run.peakRss };
}

async function runCliJson(args: string[], databaseUrl: string) {
  const run = await runCliProcess(args, databaseUrl);
  if (run.status !== 0) throw new Error(`${args.join(' ')} failed (${run.status}): ${run.stderr}${run.stdout.slice(0, 500)}`);
  return { json: JSON.parse(run.stdout), peakRss: run.peakRss };
}

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
    // as an operator runs it, its own process, whose peak RSS is read from /proc: the bin, then
    // what `npm run cli` runs (package.json's script, without npm itself)
    const rows: BenchRow[] = [];
    for (const [how, entry] of [
      ['bin', ['bin/chat-backend.mjs']],
      ['npm run cli', ['--import', 'tsx', 'src/cli/main.ts']],
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
    rows.push(...(await verifyCase(await freshDatabase(), log)));
    return rows;
  } finally {
    await rm(file, { force: true });
  }
};

/** BENCH_VERIFY_EVENTS (default 200,000) sealed events for `audit verify --all` */
const VERIFY_EVENTS = Number(process.env.BENCH_VERIFY_EVENTS ?? 200_000);

/**
 * `audit verify --all` as its own process over a log whose hash chains hold: sealed here with the
 * store's own seal(), in 1,000 chat streams, and written by SQL in batches.
 */
async function verifyCase(url: string, log: (line: string) => void): Promise<BenchRow[]> {
  log(`verify: sealing and writing ${VERIFY_EVENTS.toLocaleString('en-US')} events`);
  const streamsCount = 1000;
  const heads = new Map<string, { revision: bigint; hash: string | null }>();
  const batch = 10_000;
  for (let from = 0; from < VERIFY_EVENTS; from += batch) {
    const rows = [];
    for (let g = from; g < Math.min(from + batch, VERIFY_EVENTS); g++) {
      const stream = `chat-${uuidOf(g % streamsCount)}`;
      const head = heads.get(stream) ?? null;
      const at = new Date(Date.UTC(2026, 10, 1) + g).toISOString().replace('Z', '000Z');
      const [sealed] = seal(stream, head, [
        {
          id: randomUUID(),
          type: 'MessagePosted',
          data: { message_id: Number(head ? head.revision + 2n : 1n), author_id: uuidOf(g % 97), content: `a message of about sixty characters, number ${g}`, time_stamp: at },
          metadata: { actor: uuidOf(g % 97), correlation_id: randomUUID(), causation_id: randomUUID(), occurred_at: at, schema: 1 },
        },
      ]);
      heads.set(stream, { revision: sealed!.revision, hash: sealed!.metadata.hash });
      rows.push({ position: g + 1, id: sealed!.id, stream, revision: Number(sealed!.revision), type: sealed!.type, data: sealed!.data, metadata: sealed!.metadata });
    }
    await adminQuery(
      url,
      `INSERT INTO es_events (position, id, stream, revision, type, data, metadata)
       SELECT * FROM jsonb_to_recordset('${JSON.stringify(rows).replace(/'/g, "''")}'::jsonb)
         AS r(position bigint, id uuid, stream text, revision bigint, type text, data jsonb, metadata jsonb)`,
    );
  }
  await adminQuery(url, 'ANALYZE es_events');
  log('verify: audit verify --all');
  const started = performance.now();
  const run = await runCliJson(['bin/chat-backend.mjs', 'audit', 'verify', '--all', '--json'], url);
  const seconds = (performance.now() - started) / 1000;
  if (!run.json.ok || run.json.events !== VERIFY_EVENTS) throw new Error(`verify answered ${JSON.stringify(run.json).slice(0, 300)}`);
  return [
    { bench: 'audit', case: 'audit verify --all (bin)', value: VERIFY_EVENTS / seconds, unit: 'events/s', note: `${VERIFY_EVENTS.toLocaleString('en-US')} events in ${streamsCount} streams, ${seconds.toFixed(1)} s with the process's start` },
    { bench: 'audit', case: 'audit verify peak RSS (bin)', value: run.peakRss / MB, unit: 'MB', note: 'VmHWM of the process' },
  ];
}

const uuidOf = (n: number) => `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;
