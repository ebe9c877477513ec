import type { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { streams } from '../events/streams.ts';
import { parseIsoMicros, type Micros } from '../events/time.ts';
import type { EventStore, RecordedEvent } from '../eventstore/EventStore.ts';
import { collectGarbage } from './collectGarbage.ts';

export const EXPORT_PAGE = 1000;

/** Which events an export takes: recorded from `from` to `to` (both included), of one chat or of the whole log. */
export interface ExportWindow {
  from: Micros;
  to: Micros;
  chat?: string | undefined;
}

/** NDJSON of some events, in global order (as text, or its UTF-8 bytes as read), and how many lines it holds. */
export interface LinesChunk {
  text: string | Buffer;
  lines: number;
}

/** Reads the window's events as NDJSON chunks, in global order, a page at a time. */
export type EventLines = (window: ExportWindow) => AsyncIterable<LinesChunk>;

/** One event as an auditor reads it: where it is in the log, what it says and its metadata (hash chain included). */
export function eventJson(e: RecordedEvent) {
  return {
    position: String(e.position),
    stream: e.stream,
    revision: String(e.revision),
    id: e.id,
    type: e.type,
    recorded_at: e.recordedAt,
    data: e.data as Record<string, unknown>,
    metadata: e.metadata,
  };
}

/** One event as a line of NDJSON. */
export const exportLine = (e: RecordedEvent): string => `${JSON.stringify(eventJson(e))}\n`;

export const inWindow = (e: Pick<RecordedEvent, 'recordedAt'>, window: ExportWindow): boolean => {
  const at = parseIsoMicros(e.recordedAt) ?? -1;
  return at >= window.from && at <= window.to;
};

/**
 * The window's lines through the event store's port, whichever adapter: a chat's events are its
 * stream's (a stream's revisions follow its positions); the whole log is read in order, keeping
 * the window's events. The next page is read while this one is turned into lines.
 */
export function storeEventLines(store: EventStore): EventLines {
  return async function* (window) {
    const read = window.chat
      ? (cursor: RecordedEvent | undefined) => store.readStream(streams.chat(window.chat!), { fromRevision: cursor ? cursor.revision + 1n : 0n, maxCount: EXPORT_PAGE })
      : (cursor: RecordedEvent | undefined) => store.readAll({ after: cursor?.position ?? 0n, maxCount: EXPORT_PAGE });
    let next = read(undefined);
    for (;;) {
      const page = await next;
      if (page.length === EXPORT_PAGE) next = read(page[page.length - 1]);
      let text = '';
      let lines = 0;
      for (const e of page) {
        if (!inWindow(e, window)) continue;
        text += exportLine(e);
        lines++;
      }
      if (lines > 0) yield { text, lines };
      if (page.length < EXPORT_PAGE) return;
    }
  };
}

/** about this much text is exported between two full collections */
const COLLECT_EVERY = 8 * 1024 * 1024;

/**
 * Writes the lines to `out`; nothing more is read while `out` is full (pipeline's backpressure),
 * so memory stays flat whatever the log's length. Answers how many lines it wrote.
 */
export async function exportEvents(lines: AsyncIterable<LinesChunk>, out: Writable): Promise<number> {
  let written = 0;
  let sinceCollection = 0;
  async function* text() {
    for await (const chunk of lines) {
      written += chunk.lines;
      // text made here piles up in the heap; bytes as read (outside it) are freed by the young generation's scavenges
      if (typeof chunk.text === 'string') sinceCollection += chunk.text.length;
      if (sinceCollection >= COLLECT_EVERY) {
        sinceCollection = 0;
        collectGarbage();
      }
      yield chunk.text;
    }
  }
  await pipeline(text, out);
  return written;
}
