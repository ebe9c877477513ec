import pg from 'pg';
import { to as copyTo } from 'pg-copy-streams';
import { streams } from '../events/streams.ts';
import { isoMicros } from '../events/time.ts';
import type { EventLines, ExportWindow } from './exportEvents.ts';

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

/**
 * The whole window as one COPY statement: one snapshot, so one horizon (the Postgres event
 * store's: never past a transaction still running) for all of it. A chat is read by revision
 * (its stream's index), the log by position. The window is made of a checked uuid and
 * microsecond ISO times, quoted all the same: COPY takes no parameters.
 */
export function exportCopy(window: ExportWindow): string {
  const from = pg.escapeLiteral(isoMicros(Math.max(window.from, 0)));
  const to = pg.escapeLiteral(isoMicros(Math.min(window.to, LATEST)));
  const stream = window.chat === undefined ? '' : `stream = ${pg.escapeLiteral(streams.chat(window.chat))} AND `;
  return `COPY (SELECT ${LINE} FROM es_events
    WHERE ${stream}recorded_at BETWEEN ${from} AND ${to} AND position + 0 <= (SELECT es_horizon())
    ORDER BY ${window.chat === undefined ? 'position' : 'revision'}) TO STDOUT WITH ${AS_LINES}`;
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
 * The export's reader for the Postgres event store: the same events as storeEventLines, as
 * Postgres writes their lines (data and metadata as jsonb writes them), streamed by one COPY
 * to the output — no row is handled in JavaScript. Reading waits while the output is full, so
 * memory stays flat: about WRITE bytes in hand, and what the socket holds.
 */
export function postgresEventLines(databaseUrl: string): { lines: EventLines; close(): Promise<void> } {
  // no sort: with stale statistics (after a bulk import) the planner would sort the whole log
  // in Postgres rather than read it in its index's order, and send nothing until it had
  const client = new pg.Client({ connectionString: databaseUrl, application_name: 'chat-audit-export', options: '-c enable_sort=off' });
  client.on('error', () => {});
  const connected = client.connect();
  const lines: EventLines = async function* (window) {
    await connected;
    // what a socket read brings (often a few kB: Postgres is the slower side) goes out in writes of
    // about WRITE bytes; a write per read cost the export more than its reading
    let pending: Buffer[] = [];
    let size = 0;
    const chunk = () => {
      const text = Buffer.concat(pending, size);
      [pending, size] = [[], 0];
      return { text, lines: countLines(text) };
    };
    for await (const bytes of client.query(copyTo(exportCopy(window))) as AsyncIterable<Buffer>) {
      pending.push(bytes);
      size += bytes.length;
      if (size >= WRITE) yield chunk();
    }
    if (size > 0) yield chunk();
  };
  return { lines, close: () => connected.then(() => client.end()).catch(() => {}) };
}
