import type { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { streams } from '../events/streams.ts';
import { parseIsoMicros, type Micros } from '../events/time.ts';
import type { EventStore, RecordedEvent } from '../eventstore/EventStore.ts';

const PAGE = 5000;

/** Which events an export takes: recorded from `from` to `to` (both included), of one chat or of the whole log. */
export interface ExportWindow {
  from: Micros;
  to: Micros;
  chat?: string | undefined;
}

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
 * Writes the window's events to `out` in global order, a page at a time: the next page is read
 * while this one is written, and nothing more is read while `out` is full (pipeline's backpressure),
 * so memory stays flat whatever the log's length. A chat's events are its stream's (a stream's
 * revisions follow its positions); the whole log is read in order, keeping the window's events.
 * Answers how many lines it wrote.
 */
export async function exportEvents(store: EventStore, window: ExportWindow, out: Writable, progress: (scanned: number, written: number) => void = () => {}): Promise<number> {
  let written = 0;
  let scanned = 0;
  const read = window.chat
    ? (cursor: RecordedEvent | undefined) => store.readStream(streams.chat(window.chat!), { fromRevision: cursor ? cursor.revision + 1n : 0n, maxCount: PAGE })
    : (cursor: RecordedEvent | undefined) => store.readAll({ after: cursor?.position ?? 0n, maxCount: PAGE });

  async function* lines() {
    let next = read(undefined);
    for (;;) {
      const page = await next;
      const last = page[page.length - 1];
      if (page.length === PAGE) next = read(last);
      let chunk = '';
      for (const e of page) {
        if (!inWindow(e, window)) continue;
        chunk += exportLine(e);
        written++;
      }
      scanned += page.length;
      if (chunk) yield chunk;
      progress(scanned, written);
      if (page.length < PAGE) return;
    }
  }

  await pipeline(lines, out);
  return written;
}
