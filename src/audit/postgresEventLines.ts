import type { Readable } from 'node:stream';
import pg from 'pg';
import { to as copyTo } from 'pg-copy-streams';
import { streams } from '../events/streams.ts';
import { isoMicros } from '../events/time.ts';
import type { EventLines, ExportWindow, LinesChunk } from './exportEvents.ts';
import { joinSnapshot } from './joinSnapshot.ts';

/**
 * An event's export line, built by Postgres: exportLine's fields in its order, with data and
 * metadata as jsonb writes them (`{"a": 1, "b": "x"}`: the same JSON as JSON.stringify's, with a
 * space after each ':' and ',') — converting them is what an export mostly costs, and the text
 * goes into the line as it comes. Strings are escaped by to_json and jsonb alike, as
 * JSON.stringify escapes them, so a line never holds a raw newline or control character.
 */
const LINE = `concat('{"position":"', position, '","stream":', to_json(stream), ',"revision":"', revision, '","id":"', id,
  '","type":', to_json(type), ',"recorded_at":"', to_char(recorded_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
  '","data":', data, ',"metadata":', metadata, '}')`;

// CSV with a quote and a delimiter that JSON text never holds raw: each line goes out untouched (the
// text format would double every backslash), one row per line, ended by COPY's newline
const AS_LINES = `(FORMAT csv, QUOTE E'\\x01', DELIMITER E'\\x02')`;

/** where a Date stops being able to write the time (year 2223 is far enough) */
const LATEST = 8_000_000_000_000_000;

/** the window's times, both ends included: microsecond ISO times, quoted (COPY takes no parameters) */
function recordedIn(window: ExportWindow): string {
  const from = pg.escapeLiteral(isoMicros(Math.max(window.from, 0)));
  const to = pg.escapeLiteral(isoMicros(Math.min(window.to, LATEST)));
  return `recorded_at BETWEEN ${from} AND ${to}`;
}

/**
 * The whole window as one COPY statement: one snapshot, so one horizon (the Postgres event
 * store's: never past a transaction still running) for all of it. A chat is read by revision
 * (its stream's index), the log by position. The chat is a checked uuid, quoted all the same.
 */
export function exportCopy(window: ExportWindow): string {
  const stream = window.chat === undefined ? '' : `stream = ${pg.escapeLiteral(streams.chat(window.chat))} AND `;
  return `COPY (SELECT ${LINE} FROM es_events
    WHERE ${stream}${recordedIn(window)} AND position + 0 <= (SELECT es_horizon())
    ORDER BY ${window.chat === undefined ? 'position' : 'revision'}) TO STDOUT WITH ${AS_LINES}`;
}

/** positions from `first` to `last`, both included */
interface PositionRange {
  first: bigint;
  last: bigint;
}

/**
 * A range of the whole log's window, in the order of the log: its positions end at or below a
 * horizon computed once in the snapshot this COPY runs on.
 */
function rangeCopy(window: ExportWindow, range: PositionRange): string {
  return `COPY (SELECT ${LINE} FROM es_events
    WHERE position BETWEEN ${range.first} AND ${range.last} AND ${recordedIn(window)}
    ORDER BY position) TO STDOUT WITH ${AS_LINES}`;
}

/** connections that read the whole log's window side by side: building lines takes a core per COPY */
const LANES = 2;

/** bytes of a range's lines its connection reads before the output takes them; the socket holds Postgres back beyond */
const READ_AHEAD = 8 * 1024 * 1024;

/** events a range of the whole log's window holds at most: what its connection reads ahead fits in READ_AHEAD */
const RANGE_EVENTS = 5000;

/**
 * Opens, on `client`, the read-only transaction every connection of the export reads in: its
 * snapshot (for the others to join), and the window's first and last positions in it up to the
 * store's horizon — computed once, in this snapshot, as a single COPY computes it in its own.
 */
async function openWindow(client: pg.Client, window: ExportWindow): Promise<{ snapshot: string; span: PositionRange | undefined }> {
  await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
  const [{ snapshot, horizon }] = (await client.query('SELECT pg_export_snapshot() AS snapshot, es_horizon()::text AS horizon')).rows as [{ snapshot: string; horizon: string }];
  const [{ first, last }] = (
    await client.query(`SELECT min(position)::text AS first, max(position)::text AS last FROM es_events WHERE position <= ${BigInt(horizon)} AND ${recordedIn(window)}`)
  ).rows as [{ first: string | null; last: string | null }];
  return { snapshot, span: first === null || last === null ? undefined : { first: BigInt(first), last: BigInt(last) } };
}

/** the range from `first`: RANGE_EVENTS events of the log (so at most as many of the window), or up to `last` */
async function rangeFrom(connection: pg.Client, first: bigint, last: bigint): Promise<PositionRange> {
  const { rows } = await connection.query(
    `SELECT position::text AS at FROM es_events WHERE position BETWEEN ${first} AND ${last} ORDER BY position OFFSET ${RANGE_EVENTS - 1} LIMIT 1`,
  );
  return { first, last: rows[0] ? BigInt(rows[0].at) : last };
}

/** bytes of lines handed to the output at once */
const WRITE = 1024 * 1024;

/** lines end with the only raw newlines there are */
function countLines(bytes: Buffer): number {
  let lines = 0;
  for (let at = bytes.indexOf(10); at >= 0; at = bytes.indexOf(10, at + 1)) lines++;
  return lines;
}

/**
 * What a socket read brings (often a few kB: Postgres is the slower side) goes out in chunks of
 * about WRITE bytes; a write per read cost the export more than its reading.
 */
async function* linesOf(bytes: AsyncIterable<Buffer>): AsyncIterable<LinesChunk> {
  let pending: Buffer[] = [];
  let size = 0;
  const chunk = () => {
    // a read of WRITE bytes or more goes out as it came
    const text = pending.length === 1 ? pending[0]! : Buffer.concat(pending, size);
    [pending, size] = [[], 0];
    return { text, lines: countLines(text) };
  };
  for await (const read of bytes) {
    pending.push(read);
    size += read.length;
    if (size >= WRITE) yield chunk();
  }
  if (size > 0) yield chunk();
}

/**
 * The window's lines range after range: each connection takes the next range as its last one
 * is taken by the output, so the others' read ahead meanwhile; a range's bounds are found on
 * its connection (a short index scan) when it is taken, from where the one before it ends.
 */
async function* rangesInOrder(connections: pg.Client[], window: ExportWindow, span: PositionRange): AsyncIterable<Buffer> {
  let nextFirst = Promise.resolve(span.first);
  const take = (connection: pg.Client): Promise<Readable | undefined> => {
    const range = nextFirst.then((first) => (first > span.last ? undefined : rangeFrom(connection, first, span.last)));
    nextFirst = range.then((taken) => (taken ? taken.last + 1n : span.last + 1n));
    // a failure here reaches the output through `range`; the next take meets it again, if there is one
    nextFirst.catch(() => {});
    return range.then((taken) => {
      if (!taken) return undefined;
      const stream = connection.query(copyTo(rangeCopy(window, taken), { highWaterMark: READ_AHEAD }));
      // a failure while it waits its turn is kept for the output to meet, not thrown into the process
      stream.on('error', (error) => stream.destroy(error));
      return stream;
    });
  };
  const queue = connections.map((connection) => ({ connection, reading: take(connection) }));
  // until the output meets them, failures wait in the queue
  for (const { reading } of queue) reading.catch(() => {});
  for (let next = queue.shift(); next; next = queue.shift()) {
    const stream = await next.reading;
    if (!stream) return;
    yield* stream as AsyncIterable<Buffer>;
    const reading = take(next.connection);
    reading.catch(() => {});
    queue.push({ connection: next.connection, reading });
  }
}

export interface PostgresEventLinesOptions {
  /** connections for the whole log's window (1: a single COPY); a chat's is always one COPY */
  lanes?: number;
}

/**
 * The export's reader for the Postgres event store: the same events as storeEventLines, as
 * Postgres writes their lines (data and metadata as jsonb writes them), streamed by COPY to the
 * output — no row is handled in JavaScript. The whole log's window is read in ranges of at most
 * RANGE_EVENTS events, on `lanes` connections that share one snapshot and one horizon, taken in
 * turn: while one range goes out, the other connections read their next ones ahead, up to
 * READ_AHEAD bytes each (then their sockets hold Postgres back). The lines and their order are a
 * single COPY's, and memory stays flat: READ_AHEAD a connection, about WRITE bytes in hand.
 */
export function postgresEventLines(databaseUrl: string, { lanes = LANES }: PostgresEventLinesOptions = {}): { lines: EventLines; close(): Promise<void> } {
  // no sort: with stale statistics (after a bulk import) the planner would sort the whole log
  // in Postgres rather than read it in its index's order, and send nothing until it had
  const settings = { application_name: 'chat-audit-export', options: '-c enable_sort=off' };
  const client = new pg.Client({ ...settings, connectionString: databaseUrl });
  client.on('error', () => {});
  const connected = client.connect();
  // the other connections of exports under way: a failed output can end an export before its
  // generator has let them go, so close() ends them too
  const joined = new Set<pg.Client>();
  const end = async (others: pg.Client[]) => {
    for (const other of others) joined.delete(other);
    await Promise.all(others.map((other) => other.end().catch(() => {})));
  };

  const lines: EventLines = async function* (window) {
    await connected;
    if (window.chat !== undefined || lanes < 2) {
      yield* linesOf(client.query(copyTo(exportCopy(window))));
      return;
    }
    const { snapshot, span } = await openWindow(client, window);
    const others: pg.Client[] = [];
    try {
      if (span) {
        const joining = await Promise.allSettled(Array.from({ length: lanes - 1 }, () => joinSnapshot(databaseUrl, snapshot, settings)));
        for (const join of joining) if (join.status === 'fulfilled') others.push(join.value);
        for (const other of others) joined.add(other);
        const failed = joining.find((join) => join.status === 'rejected');
        if (failed) throw failed.reason;
        yield* linesOf(rangesInOrder([client, ...others], window, span));
      }
      await client.query('COMMIT');
    } finally {
      await end(others);
    }
  };
  return {
    lines,
    async close() {
      await end([...joined]);
      await connected.then(() => client.end()).catch(() => {});
    },
  };
}
