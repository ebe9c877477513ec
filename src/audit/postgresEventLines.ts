import pg from 'pg';
import { streams } from '../events/streams.ts';
import { isoMicros } from '../events/time.ts';
import { EXPORT_PAGE, type EventLines, type ExportWindow, type LinesChunk } from './exportEvents.ts';

/** every column as the text Postgres sent: nothing is parsed that goes straight into a line */
const asText = { getTypeParser: () => (value: string) => value };

// The horizon condition is the Postgres event store's (READ_ALL): never past a transaction still
// running. The time window is checked here, not in SQL: a condition on recorded_at (no index) makes
// the planner sort the whole table for every page when its statistics are stale (after a bulk import).
const WHOLE_LOG = `SELECT position, id, stream, revision, type, data::text, metadata::text, recorded_at FROM es_events
  WHERE position > $1 AND position + 0 <= es_horizon() ORDER BY position LIMIT $2`;
// a closed range of revisions, as the store reads streams: the (stream, revision) index serves it whatever the statistics
const ONE_STREAM = `SELECT position, id, stream, revision, type, data::text, metadata::text, recorded_at FROM es_events
  WHERE stream = $3 AND revision BETWEEN $1::bigint + 1 AND $1::bigint + $2 AND position + 0 <= es_horizon() ORDER BY revision`;

const CHUNK = 64 * 1024;
const LATEST = 8_000_000_000_000_000;

type Row = [position: string, id: string, stream: string, revision: string, type: string, data: string, metadata: string, recordedAt: string];

/** `2026-11-25 11:26:16.1234+00` (a session in UTC) as `2026-11-25T11:26:16.123400Z` */
export function isoFromTimestamptz(text: string): string {
  const dot = text.indexOf('.', 19);
  const fraction = dot < 0 ? '' : text.slice(dot + 1, text.length - 3);
  return `${text.slice(0, 10)}T${text.slice(11, 19)}.${fraction.padEnd(6, '0')}Z`;
}

/** The line exportLine makes of the same event, built from the stored JSON texts rather than parsed and stringified again. */
function line([position, id, stream, revision, type, data, metadata]: Row, recordedAt: string): string {
  return `{"position":"${position}","stream":${JSON.stringify(stream)},"revision":"${revision}","id":"${id}","type":${JSON.stringify(type)},"recorded_at":"${recordedAt}","data":${data},"metadata":${metadata}}\n`;
}

/**
 * The export's reader for the Postgres event store: the same events and lines as
 * storeEventLines, at about twice its speed — the window is filtered by the server, and the
 * stored JSON goes into the line as Postgres sends it, never parsed (that parse and the
 * stringify after it were half an export's time).
 */
export function postgresEventLines(databaseUrl: string): { lines: EventLines; close(): Promise<void> } {
  const client = new pg.Client({ connectionString: databaseUrl, application_name: 'chat-audit-export', options: '-c TimeZone=UTC' });
  client.on('error', () => {});
  const connected = client.connect();
  const lines: EventLines = async function* (window: ExportWindow): AsyncGenerator<LinesChunk> {
    await connected;
    // ISO strings of one format compare as their times do; clamped to what a Date can write (year 2223 is far enough)
    const [from, to] = [isoMicros(Math.max(window.from, 0)), isoMicros(Math.min(window.to, LATEST))];
    const read = window.chat
      ? (after: string) => client.query<Row>({ text: ONE_STREAM, values: [after, EXPORT_PAGE, streams.chat(window.chat!)], rowMode: 'array', types: asText })
      : (after: string) => client.query<Row>({ text: WHOLE_LOG, values: [after, EXPORT_PAGE], rowMode: 'array', types: asText });
    // a chat is read by revision (its stream's index), the log by position
    const cursorOf = (row: Row) => (window.chat ? row[3] : row[0]);
    let next = read(window.chat ? '-1' : '0');
    for (;;) {
      const { rows } = await next;
      if (rows.length === EXPORT_PAGE) next = read(cursorOf(rows[rows.length - 1]!));
      let text = '';
      let lines = 0;
      for (const row of rows) {
        const recordedAt = isoFromTimestamptz(row[7]);
        if (recordedAt < from || recordedAt > to) continue;
        text += line(row, recordedAt);
        lines++;
        // small chunks stay in the young generation, which scavenges free at once; a page-sized
        // string (megabytes) would go to the large-object space and wait for a full collection
        if (text.length >= CHUNK) {
          yield { text, lines };
          text = '';
          lines = 0;
        }
      }
      if (lines > 0) yield { text, lines };
      if (rows.length < EXPORT_PAGE) return;
    }
  };
  return { lines, close: () => connected.then(() => client.end()).catch(() => {}) };
}
