import type { Knex } from 'knex';
import pg from 'pg';
import type { BareEvent, EventStore } from '../eventstore/EventStore.ts';
import type { Logger } from '../log.ts';
import { REPLAY_FLUSH_ROWS, type Projection, type Replay } from './Projection.ts';

/** Where the live read models are. */
const LIVE_SCHEMA = 'public';
/** events read per page while loading the shadow tables */
const PAGE = 8192;
/** pages a projection may fall behind the reading */
const LAG = 2;
/** the swap waits at most this long for a table lock, then lets the readers go and tries again */
const SWAP_LOCK_TIMEOUT_MS = 200;
const SWAP_ATTEMPTS = 50;
const INDEX_BUILD_MEMORY = '256MB';

export interface RebuildProgress {
  phase: 'loading' | 'indexing' | 'swapping' | 'done';
  /** events read from the log so far */
  events: number;
  position: bigint;
  /** the log's head when loading began */
  head: bigint;
  /** about how much of the log up to that head is read, 0 to 1 (positions are not dense: their share of the range) */
  share: number;
}

export interface RebuildOptions {
  knex: Knex;
  store: EventStore;
  databaseUrl: string;
  projections: readonly Projection[];
  log: Logger;
  onProgress?: (progress: RebuildProgress) => void;
  /** asked between pages: true stops the rebuild, leaving a shadow schema the next run drops */
  shouldStop?: () => boolean;
}

export interface RebuildResult {
  events: number;
  position: bigint;
}

/** The person asked the rebuild to stop: nothing was swapped. */
export class RebuildInterrupted extends Error {}
/** Another process is rebuilding one of these projections. */
export class RebuildBusy extends Error {}

export const shadowSchema = (projection: Projection) => `rebuild_${projection.name}`;
const retiredSchema = (projection: Projection) => `retired_${projection.name}`;

interface IndexDefinition {
  name: string;
  definition: string;
  /** the primary key or unique constraint this index backs: wanted while loading (ON CONFLICT) */
  constraint: { name: string; type: 'p' | 'u' } | null;
}

/**
 * Rebuilds read models from position 0 while the live ones keep serving: each projection's
 * replay (or, without one, its unchanged apply()) writes into fresh tables in a schema of its own (`rebuild_<name>`, first on
 * its search path), created like the live tables but with only the indexes ON CONFLICT needs —
 * the others are built once loaded. Caught up to the head, they are swapped in one transaction
 * that locks the checkpoint rows first (a live runner's batch locks its row before its tables),
 * applies the last events, moves the live tables out and the shadow ones in, and sets the
 * checkpoints. A rerun drops whatever an interrupted one left.
 */
export async function rebuildProjections(options: RebuildOptions): Promise<RebuildResult> {
  const { knex, store, projections, log } = options;
  const report = options.onProgress ?? (() => {});
  const lock = new pg.Client({ connectionString: options.databaseUrl, application_name: 'chat-projection-rebuild' });
  lock.on('error', () => {});
  await lock.connect();
  try {
    for (const projection of projections) {
      const { rows } = await lock.query<{ locked: boolean }>('SELECT pg_try_advisory_lock(hashtext($1)) AS locked', [`rebuild:${projection.name}`]);
      if (!rows[0]!.locked) throw new RebuildBusy(`projection ${projection.name} is being rebuilt by another process`);
    }
    const deferred = new Map<Projection, IndexDefinition[]>();
    for (const projection of projections) deferred.set(projection, await createShadow(knex, projection));
    const shadows: Shadow[] = projections.map((projection) => ({ projection, replay: projection.replay?.() ?? null, flushing: Promise.resolve() }));

    const head = await store.headPosition();
    let position = 0n;
    let first: bigint | null = null;
    let events = 0;
    const share = () => (first === null || head <= first ? (position >= head ? 1 : 0) : Math.min(1, Number(position - first) / Number(head - first)));
    const load = async (phase: RebuildProgress['phase']) => {
      // each projection writes its pages in order on a connection of its own, up to LAG pages behind the reading:
      // one flushing does not hold up the others, nor the reading and folding of the next pages
      const lanes = shadows.map((shadow) => ({ shadow, steps: [] as Promise<void>[] }));
      const last = (lane: (typeof lanes)[number]) => lane.steps.at(-1) ?? Promise.resolve();
      try {
        for await (const page of pages(store, position, options.shouldStop)) {
          first ??= page[0]!.position;
          for (const lane of lanes) {
            const step = last(lane).then(() => applyInShadow(knex, lane.shadow, page, REPLAY_FLUSH_ROWS));
            step.catch(() => {}); // awaited below; a failure must not surface as an unhandled rejection meanwhile
            lane.steps.push(step);
          }
          for (const lane of lanes) while (lane.steps.length > LAG) await lane.steps.shift();
          position = page[page.length - 1]!.position;
          events += page.length;
          report({ phase, events, position, head, share: share() });
        }
        for (const lane of lanes) await last(lane);
        await Promise.all(shadows.map((shadow) => applyInShadow(knex, shadow, [], 1)));
        await Promise.all(shadows.map((shadow) => shadow.flushing));
      } finally {
        // no lane nor flush may still write once this returns or throws
        await Promise.allSettled([...lanes.map(last), ...shadows.map((shadow) => shadow.flushing)]);
      }
    };
    report({ phase: 'loading', events, position, head, share: 0 });
    await load('loading');

    report({ phase: 'indexing', events, position, head, share: share() });
    // the projections' indexes side by side: the biggest (message search) need not wait for the others
    await Promise.all(
      [...deferred].map(async ([projection, indexes]) => {
        await knex.transaction(async (tx) => {
          // sorting a GIN index's entries in memory rather than in runs on disk
          await tx.raw(`SET LOCAL maintenance_work_mem = '${INDEX_BUILD_MEMORY}'`);
          for (const index of indexes) await tx.raw(index.definition);
        });
        for (const table of projection.tables) await knex.raw(`ANALYZE ${shadowSchema(projection)}.${table}`);
      }),
    );
    // what arrived while indexing, so the swap's transaction has little left to do
    await load('indexing');

    report({ phase: 'swapping', events, position, head, share: 1 });
    await ensureCheckpointRows(knex, projections);
    for (let attempt = 1; ; attempt++) {
      try {
        const applied = await swap(knex, store, projections, position);
        position = applied.position;
        events += applied.events;
        break;
      } catch (error) {
        // a reader holds a table lock the swap needs: give way rather than keep readers waiting
        if ((error as { code?: string }).code !== '55P03' || attempt === SWAP_ATTEMPTS) throw error;
        log.debug({ attempt }, 'rebuild swap met a busy table; trying again');
        await new Promise((resolve) => setTimeout(resolve, 20 * attempt));
      }
    }
    for (const projection of projections) await knex.raw(`DROP SCHEMA IF EXISTS ${retiredSchema(projection)}, ${shadowSchema(projection)} CASCADE`);
    report({ phase: 'done', events, position, head, share: 1 });
    log.info({ projections: projections.map((p) => p.name), events, position: String(position) }, 'projections rebuilt and swapped in');
    return { events, position };
  } finally {
    await lock.end().catch(() => {});
  }
}

/** The shadow schema with the live tables' shape and the indexes constraints need; answers the indexes to build later. */
async function createShadow(knex: Knex, projection: Projection): Promise<IndexDefinition[]> {
  const shadow = shadowSchema(projection);
  await knex.raw(`DROP SCHEMA IF EXISTS ${shadow}, ${retiredSchema(projection)} CASCADE`);
  await knex.raw(`CREATE SCHEMA ${shadow}`);
  const later: IndexDefinition[] = [];
  for (const table of projection.tables) {
    await knex.raw(`CREATE TABLE ${shadow}.${table} (LIKE ${LIVE_SCHEMA}.${table} INCLUDING ALL EXCLUDING INDEXES)`);
    // LIKE copies columns, not the table's storage parameters (fillfactor, say)
    const { rows } = await knex.raw<{ rows: { options: string[] | null }[] }>('SELECT reloptions AS options FROM pg_class WHERE oid = (? || \'.\' || ?)::regclass', [LIVE_SCHEMA, table]);
    if (rows[0]?.options?.length) await knex.raw(`ALTER TABLE ${shadow}.${table} SET (${rows[0].options.join(', ')})`);
    for (const index of await indexesOf(knex, table)) {
      const definition = index.definition.replace(` ON ${LIVE_SCHEMA}.`, ` ON ${shadow}.`).replace(` ON ONLY ${LIVE_SCHEMA}.`, ` ON ONLY ${shadow}.`);
      if (!index.constraint) {
        later.push({ ...index, definition });
        continue;
      }
      await knex.raw(definition);
      const kind = index.constraint.type === 'p' ? 'PRIMARY KEY' : 'UNIQUE';
      await knex.raw(`ALTER TABLE ${shadow}.${table} ADD CONSTRAINT ${index.constraint.name} ${kind} USING INDEX ${index.name}`);
    }
  }
  return later;
}

async function indexesOf(knex: Knex, table: string): Promise<IndexDefinition[]> {
  const { rows } = await knex.raw<{ rows: { name: string; definition: string; constraint_name: string | null; constraint_type: 'p' | 'u' | null }[] }>(
    `SELECT ic.relname AS name, pg_get_indexdef(i.indexrelid) AS definition, c.conname AS constraint_name, c.contype AS constraint_type
       FROM pg_index i
       JOIN pg_class ic ON ic.oid = i.indexrelid
       LEFT JOIN pg_constraint c ON c.conindid = i.indexrelid AND c.conrelid = i.indrelid AND c.contype IN ('p', 'u')
      WHERE i.indrelid = (? || '.' || ?)::regclass
      ORDER BY ic.relname`,
    [LIVE_SCHEMA, table],
  );
  return rows.map((r) => ({ name: r.name, definition: r.definition, constraint: r.constraint_name ? { name: r.constraint_name, type: r.constraint_type! } : null }));
}

/** The log after `after` in pages, the next page read while the last one is applied; ends at the head. */
async function* pages(store: EventStore, after: bigint, shouldStop?: () => boolean): AsyncGenerator<BareEvent[]> {
  let next = store.readAllBare({ after, maxCount: PAGE });
  for (;;) {
    const page = await next;
    if (shouldStop?.()) throw new RebuildInterrupted('rebuild interrupted; run it again to start over');
    if (page.length === 0) return;
    next = page.length === PAGE ? store.readAllBare({ after: page[page.length - 1]!.position, maxCount: PAGE }) : Promise.resolve([]);
    yield page;
  }
}

const relevant = (projection: Projection, events: readonly BareEvent[]) => {
  const types = projection.eventTypes;
  return types ? events.filter((e) => types.includes(e.type)) : events;
};

/** A projection being loaded into its shadow tables, its replay when it has one, and the replay's flush under way. */
interface Shadow {
  projection: Projection;
  replay: Replay | null;
  flushing: Promise<void>;
}

/**
 * A page into the shadow tables: folded into the replay, or written by the projection's unchanged
 * apply(). A replay holding `flushAt` rows flushes them on a transaction of its own, while the
 * next pages are read and folded: writing a flush's rows is most of what a rebuild asks of
 * Postgres, and it need not hold up the reading. One flush at a time, so they land in order.
 */
async function applyInShadow(db: Knex | Knex.Transaction, shadow: Shadow, events: readonly BareEvent[], flushAt: number): Promise<void> {
  const { projection, replay } = shadow;
  if (!replay) return applyPage(db, projection, events);
  const mine = relevant(projection, events);
  if (mine.length > 0) await inShadow(db, projection, (tx) => replay.add(mine, tx));
  if (replay.pending === 0 || replay.pending < flushAt) return;
  await shadow.flushing;
  shadow.flushing = inShadow(db, projection, (tx) => replay.flush(tx));
  shadow.flushing.catch(() => {}); // awaited by the next flush or the end of the load; meanwhile not an unhandled rejection
}

/** A page into the shadow tables by the projection's unchanged apply(). */
async function applyPage(db: Knex | Knex.Transaction, projection: Projection, events: readonly BareEvent[]): Promise<void> {
  const mine = relevant(projection, events);
  if (mine.length > 0) await inShadow(db, projection, (tx) => projection.apply(mine, tx));
}

/** Runs `work` with the projection's shadow schema first on the search path: in `db` when it is a transaction (the swap), else in one of its own. */
async function inShadow<T>(db: Knex | Knex.Transaction, projection: Projection, work: (tx: Knex.Transaction) => Promise<T>): Promise<T> {
  if (db.isTransaction) {
    await db.raw(`SELECT set_config('search_path', ?, true)`, [`${shadowSchema(projection)}, ${LIVE_SCHEMA}`]);
    const result = await work(db as Knex.Transaction);
    await db.raw(`SELECT set_config('search_path', ?, true)`, [LIVE_SCHEMA]);
    return result;
  }
  return db.transaction(async (tx) => {
    // a crash while loading loses nothing a rerun would not redo, so the load need not wait for the disk
    await tx.raw(`SELECT set_config('search_path', ?, true), set_config('synchronous_commit', 'off', true)`, [`${shadowSchema(projection)}, ${LIVE_SCHEMA}`]);
    return work(tx);
  });
}

async function ensureCheckpointRows(knex: Knex, projections: readonly Projection[]): Promise<void> {
  for (const p of projections) {
    await knex.raw('INSERT INTO projection_checkpoints (name, version, position) VALUES (?, ?, 0) ON CONFLICT (name) DO NOTHING', [p.name, p.version]);
  }
}

/** The one transaction in which readers go from the old read models to the rebuilt ones. */
async function swap(knex: Knex, store: EventStore, projections: readonly Projection[], from: bigint): Promise<RebuildResult> {
  return knex.transaction(async (tx) => {
    await tx.raw(`SELECT set_config('lock_timeout', ?, true)`, [`${SWAP_LOCK_TIMEOUT_MS}ms`]);
    // the checkpoint rows first, in name order: a live runner's batch holds its row before its tables
    const names = projections.map((p) => p.name).sort();
    await tx.raw('SELECT name FROM projection_checkpoints WHERE name = ANY(?) ORDER BY name FOR UPDATE', [names]);
    // the live checkpoints cannot move now; read everything up to the head, which is at or past them
    let position = from;
    let events = 0;
    for await (const page of pages(store, position)) {
      // apply(), not the replays: a swap that meets a busy table rolls back and starts over, which a replay's memory would not
      for (const projection of projections) await applyPage(tx, projection, page);
      position = page[page.length - 1]!.position;
      events += page.length;
    }
    const live = projections.flatMap((p) => p.tables.map((t) => `${LIVE_SCHEMA}.${t}`));
    await tx.raw(`LOCK TABLE ${live.join(', ')} IN ACCESS EXCLUSIVE MODE`);
    for (const projection of projections) {
      await tx.raw(`CREATE SCHEMA ${retiredSchema(projection)}`);
      for (const table of projection.tables) {
        await tx.raw(`ALTER TABLE ${LIVE_SCHEMA}.${table} SET SCHEMA ${retiredSchema(projection)}`);
        await tx.raw(`ALTER TABLE ${shadowSchema(projection)}.${table} SET SCHEMA ${LIVE_SCHEMA}`);
      }
      await tx('projection_checkpoints').where({ name: projection.name }).update({ version: projection.version, position: String(position), updated_at: tx.fn.now() });
    }
    return { events, position };
  });
}
