import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { startBackend } from '../src/backend.ts';
import { profiled } from './cpuProfile.ts';
import type { CommandContext } from '../src/commands/AggregateRepository.ts';
import { createCommands } from '../src/commands/createCommands.ts';
import { createIdentityStore } from '../src/commands/identity/IdentityStore.ts';
import { createRepositories } from '../src/commands/repositories.ts';
import { loadConfig } from '../src/config.ts';
import { createKnex } from '../src/db/database.ts';
import type { EventData } from '../src/events/catalog.ts';
import { streams } from '../src/events/streams.ts';
import { isoMicros, nowMicros } from '../src/events/time.ts';
import type { EventStore, NewEvent } from '../src/eventstore/EventStore.ts';
import { createPostgresEventStore } from '../src/eventstore/postgres/PostgresEventStore.ts';
import { createLogger } from '../src/log.ts';
import { befriend, client, registerUser } from '../test/support/testBackend.ts';
import { drive, measureBusy, type Bench, type BenchRow } from './harness.ts';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const BIG_CHAT = 100_000;
const SMALL_CHAT = 10;
const SEED_BATCH = 500;
const CONNECTIONS = 64;
/** BENCH_COMMANDS=http or =latency runs one half only (profiling one of them, say) */
const PART = process.env.BENCH_COMMANDS ?? 'all';
/** BENCH_ROLE=api leaves the projections out of the HTTP cases, to see what they cost */
const ROLE = process.env.BENCH_ROLE === 'api' ? 'api' : 'all';

const fmt = (n: number) => n.toLocaleString('en-US');
const LOAD_CLIENT = fileURLToPath(new URL('./keepAliveConnection.cjs', import.meta.url));

function newEvent(type: string, data: unknown, actor: string, occurredAt: string): NewEvent {
  const id = randomUUID();
  return { id, type, data, metadata: { actor, correlation_id: id, causation_id: id, occurred_at: occurredAt, schema: 1 } };
}

/**
 * A group chat of one participant with `messages` prior messages, appended straight to the event
 * store in batches: ChatCreated, then MessagePosted 1..n a millisecond apart, ending a little before now.
 */
async function seedChat(store: EventStore, chatId: string, author: string, messages: number): Promise<void> {
  const stream = streams.chat(chatId);
  const start = nowMicros() - (messages + 1) * 1000;
  const created = isoMicros(start);
  const chatCreated: EventData<'ChatCreated'> = { chat_id: chatId, name: `bench ${fmt(messages)}`, is_group_chat: true, participants: [author], admin: author, created };
  let revision = (await store.append(stream, [newEvent('ChatCreated', chatCreated, author, created)], 'no_stream')).nextRevision;
  for (let from = 1; from <= messages; from += SEED_BATCH) {
    const batch: NewEvent[] = [];
    for (let id = from; id < Math.min(from + SEED_BATCH, messages + 1); id++) {
      const time_stamp = isoMicros(start + id * 1000);
      const posted: EventData<'MessagePosted'> = { message_id: id, author_id: author, content: `seeded message number ${id}`, time_stamp };
      batch.push(newEvent('MessagePosted', posted, author, time_stamp));
    }
    revision = (await store.append(stream, batch, revision)).nextRevision;
  }
}

/** Every MessagePosted in a chat's stream: how many, and whether any message id appears twice or is missing. */
async function storedMessages(store: EventStore, chatId: string) {
  const ids: number[] = [];
  for (let from = 0n; ; ) {
    const page = await store.readStream(streams.chat(chatId), { fromRevision: from, maxCount: 4096 });
    for (const e of page) if (e.type === 'MessagePosted') ids.push((e.data as EventData<'MessagePosted'>).message_id);
    if (page.length < 4096) break;
    from = page[page.length - 1]!.revision + 1n;
  }
  const distinct = new Set(ids);
  const contiguous = ids.every((id, i) => id === i + 1);
  return { count: ids.length, duplicates: ids.length - distinct.size, contiguous };
}

/** How long a freshly created chat repository (an empty cache) takes to load the chat. */
async function timeLoad(url: string, chatId: string): Promise<number> {
  const store = createPostgresEventStore(url);
  try {
    const started = performance.now();
    await createRepositories(store).chats.load(streams.chat(chatId));
    return performance.now() - started;
  } finally {
    await store.close();
  }
}

/**
 * 1. Sequential posts through the command layer, each case on a fresh event store and fresh
 * commands (empty aggregate cache, as a freshly started process): the first post loads the chat,
 * the rest are timed.
 */
async function postLatency(url: string, log: (line: string) => void): Promise<BenchRow[]> {
  const bench = 'commands.postMessage';
  const rows: BenchRow[] = [];
  const author = randomUUID();
  const chats = { warmup: randomUUID(), small: randomUUID(), big: randomUUID() };
  const knex = createKnex(url);
  const reader = createPostgresEventStore(url, { poolSize: 1 });
  const context = (): CommandContext => ({ actor: author, now: isoMicros(nowMicros()) });
  const measure = async (chatId: string, seconds: number) => {
    const store = createPostgresEventStore(url);
    const commands = createCommands(store, createIdentityStore(knex));
    try {
      const started = performance.now();
      await commands.chats.postMessage(chatId, 'the first post, which loads the chat', context());
      const firstMs = performance.now() - started;
      const result = await drive(1, seconds, (_, i) => commands.chats.postMessage(chatId, `benchmark post number ${i}`, context()));
      return { firstMs, ...result };
    } finally {
      await store.close();
    }
  };

  try {
    const seeder = createPostgresEventStore(url);
    let seedSeconds: number;
    try {
      await seedChat(seeder, chats.warmup, author, SMALL_CHAT);
      await seedChat(seeder, chats.small, author, SMALL_CHAT);
      log(`seeding a chat of ${fmt(BIG_CHAT)} messages (appends of ${SEED_BATCH})`);
      const seedStarted = performance.now();
      await seedChat(seeder, chats.big, author, BIG_CHAT);
      seedSeconds = (performance.now() - seedStarted) / 1000;
    } finally {
      await seeder.close();
    }

    // loaded alone right after the bulk import, the planner's statistics do not know the stream
    // yet (autovacuum is off or has not come round); then as autovacuum would leave them
    log(`seeded in ${seedSeconds.toFixed(1)} s; loading it before and after ANALYZE`);
    const staleLoadMs = await timeLoad(url, chats.big);
    await knex.raw('ANALYZE es_events');
    const analyzedLoadMs = await timeLoad(url, chats.big);

    // warms the JIT on a third chat, so neither measured case pays for it
    await measure(chats.warmup, Math.min(1, SECONDS));
    const p50 = new Map<number, number>();
    for (const [chatId, prior] of [
      [chats.small, SMALL_CHAT],
      [chats.big, BIG_CHAT],
    ] as const) {
      log(`sequential posts to a chat of ${fmt(prior)} messages`);
      const r = await measure(chatId, SECONDS);
      const stored = await storedMessages(reader, chatId);
      const once = stored.count === prior + 1 + r.count && stored.duplicates === 0 && stored.contiguous;
      const name = `${fmt(prior)} prior messages`;
      p50.set(prior, r.p50);
      if (prior === BIG_CHAT) {
        rows.push(
          {
            bench,
            case: `${name}: load alone, stale statistics`,
            value: staleLoadMs,
            unit: 'ms',
            note: `one-off, just after the import (${seedSeconds.toFixed(1)} s, appends of ${SEED_BATCH})`,
          },
          { bench, case: `${name}: load alone, after ANALYZE`, value: analyzedLoadMs, unit: 'ms', note: 'one-off' },
        );
      }
      rows.push(
        { bench, case: `${name}: first post, loading the chat`, value: r.firstMs, unit: 'ms', note: prior === BIG_CHAT ? 'one-off, after ANALYZE' : 'one-off' },
        { bench, case: `${name}: sequential posts`, value: r.perSecond, unit: 'posts/s', note: `${fmt(r.count)} posts; stored once: ${once ? 'yes' : 'no'}` },
        { bench, case: `${name}: p50`, value: r.p50, unit: 'ms' },
        { bench, case: `${name}: p99`, value: r.p99, unit: 'ms' },
      );
    }
    const ratio = p50.get(BIG_CHAT)! / p50.get(SMALL_CHAT)!;
    rows.push({ bench, case: `p50 ${fmt(BIG_CHAT)} / p50 ${fmt(SMALL_CHAT)}`, value: ratio, unit: '×', note: `target ≤ 1.20: ${ratio <= 1.2 ? 'met' : 'missed'}` });
  } finally {
    await reader.close();
    await knex.destroy();
  }
  return rows;
}

interface Target {
  chat: string;
  key: string;
}

interface LoadResult {
  /** answers of any status, and the seconds the load ran */
  count: number;
  seconds: number;
  p50: number;
  p99: number;
  statuses: Record<string, number>;
  errors: number;
  /** message ids each connection got back in its 201 answers */
  ids: number[][];
  /** connections still open at the end */
  sockets: number;
  /** the load generator's own busy time */
  busyMs: number;
}

/**
 * The load generator, in a worker thread so its own work does not share the server's event loop.
 * Plain JavaScript, run with `eval`: one keep-alive connection per target (KeepAliveConnection,
 * far cheaper than Node's client), each posting one message after another until the time is up.
 * `busyMs` is the worker's own busy time, so its cost per request can be quoted.
 */
const LOAD_WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
const { KeepAliveConnection } = require(workerData.client);
const { url, targets, seconds } = workerData;
const { hostname, port } = new URL(url);

(async () => {
  const latencies = [];
  const statuses = {};
  const ids = targets.map(() => []);
  let errors = 0;
  const connections = targets.map(() => new KeepAliveConnection(hostname, Number(port)));
  const started = performance.now();
  const deadline = started + seconds * 1000;
  const busy = performance.eventLoopUtilization();
  await Promise.all(targets.map(async (target, w) => {
    const headers = { 'content-type': 'application/json', authorization: 'Token ' + target.key };
    const path = '/api/chat/' + target.chat + '/messages/';
    for (let i = 0; performance.now() < deadline; i++) {
      const t = performance.now();
      try {
        const answer = await connections[w].request('POST', path, headers, JSON.stringify({ message: 'benchmark message ' + w + '/' + i }));
        latencies.push(performance.now() - t);
        statuses[answer.status] = (statuses[answer.status] || 0) + 1;
        if (answer.status === 201) ids[w].push(JSON.parse(answer.body).message.id);
      } catch (error) {
        errors++;
      }
    }
  }));
  const elapsed = (performance.now() - started) / 1000;
  const busyMs = performance.eventLoopUtilization(busy).active;
  latencies.sort((a, b) => a - b);
  const pct = (p) => latencies.length ? latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))] : NaN;
  const sockets = connections.filter((c) => !c.socket.destroyed).length;
  connections.forEach((c) => c.close());
  parentPort.postMessage({ count: latencies.length, seconds: elapsed, p50: pct(50), p99: pct(99), statuses, errors, ids, sockets, busyMs });
})();
`;

function runLoad(url: string, targets: Target[], seconds: number): Promise<LoadResult> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(LOAD_WORKER, { eval: true, workerData: { url, targets, seconds, client: LOAD_CLIENT } });
    worker.once('message', (result: LoadResult) => {
      resolve(result);
      void worker.terminate();
    });
    worker.once('error', reject);
  });
}

/**
 * 2. Posts over HTTP from 64 keep-alive connections: to 64 group chats, then all to one. The
 * backend runs as `npm start` does (ROLE=all): the projections follow the log in the same process.
 */
async function httpPosts(url: string, log: (line: string) => void): Promise<BenchRow[]> {
  const bench = 'commands.http';
  const rows: BenchRow[] = [];
  const backend = await startBackend(loadConfig({ DATABASE_URL: url, PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'silent', ROLE }), createLogger('silent'));
  try {
    const api = client(backend.url);
    log(`registering ${CONNECTIONS} users`);
    const users: Awaited<ReturnType<typeof registerUser>>[] = [];
    // a few at a time: registration hashes a password
    for (let i = 0; i < CONNECTIONS; i += 8) users.push(...(await Promise.all(Array.from({ length: 8 }, (_, k) => registerUser(api, `bench${i + k}`)))));
    const createGroup = async (user: (typeof users)[number], name: string) => {
      const reply = await user.api.post('/api/chat/mychats/groups/', { name });
      if (reply.status !== 201) throw new Error(`group chat not created: ${reply.status} ${JSON.stringify(reply.body)}`);
      return reply.body.chat.uuid as string;
    };

    const own: Target[] = await Promise.all(users.map(async (u, i) => ({ chat: await createGroup(u, `bench group ${i}`), key: u.key })));

    log(`one chat of ${CONNECTIONS} participants`);
    const admin = users[0]!;
    const shared = await createGroup(admin, 'bench shared group');
    for (const user of users.slice(1)) {
      await befriend(admin, user);
      const added = await admin.api.post(`/api/chat/${shared}/`, { user_uuid: user.id });
      if (added.status !== 200) throw new Error(`participant not added: ${added.status} ${JSON.stringify(added.body)}`);
    }
    const one: Target[] = users.map((u) => ({ chat: shared, key: u.key }));

    for (const [name, targets] of [
      [`${CONNECTIONS} connections → ${CONNECTIONS} group chats`, own],
      [`${CONNECTIONS} connections → one group chat`, one],
    ] as const) {
      log(`HTTP posts: ${name}`);
      const { result, busyMs: backendMs } = await measureBusy(() => profiled(`commands http ${name}`, () => runLoad(backend.url, targets, SECONDS)));
      // every 201 stored exactly once: as many MessagePosted per chat as 201 answers for it, ids 1..n
      // stored and answered, none twice
      const answered = new Map<string, number[]>();
      targets.forEach((t, w) => answered.set(t.chat, [...(answered.get(t.chat) ?? []), ...result.ids[w]!]));
      let once = true;
      for (const [chat, ids] of answered) {
        const stored = await storedMessages(backend.eventStore, chat);
        const answeredOnce = new Set(ids).size === ids.length && ids.every((id) => id >= 1 && id <= stored.count);
        if (stored.count !== ids.length || stored.duplicates > 0 || !stored.contiguous || !answeredOnce) once = false;
      }
      const created = result.statuses['201'] ?? 0;
      const others = Object.entries(result.statuses).filter(([status]) => status !== '201');
      const failures = [...others.map(([status, n]) => `${fmt(n)}× ${status}`), ...(result.errors > 0 ? [`${fmt(result.errors)} errors`] : [])];
      const loadMs = result.busyMs / result.count;
      const note = `${fmt(created)} × 201${failures.length ? `, ${failures.join(', ')}` : ''}; ${result.sockets} sockets, projections ${ROLE === 'api' ? 'off' : 'on'}; stored once: ${once ? 'yes' : 'no'}; backend thread busy ${(backendMs / result.count).toFixed(3)} ms a post; load generator ${loadMs.toFixed(3)} ms CPU a post`;
      rows.push(
        { bench, case: `${name}: posts`, value: created / result.seconds, unit: 'posts/s', note },
        { bench, case: `${name}: p50`, value: result.p50, unit: 'ms' },
        { bench, case: `${name}: p99`, value: result.p99, unit: 'ms' },
      );
    }
  } finally {
    await backend.stop();
  }
  return rows;
}

export const commandsBench: Bench = async ({ freshDatabase, log }) => [
  ...(PART === 'http' ? [] : await postLatency(await freshDatabase(), log)),
  ...(PART === 'latency' ? [] : await httpPosts(await freshDatabase(), log)),
];
