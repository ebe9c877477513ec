import pg from 'pg';
import type { RecordedEvent } from '../EventStore.ts';
import { EVENT_COLUMNS, toRecordedEvent, type EventRow } from './PostgresEventStore.ts';

const PAGE = 2048;
/** a fallback in case a notification is lost; appends normally wake the subscriber at once */
const IDLE_POLL_MS = 1000;
const MAX_BACKOFF_MS = 5000;

export interface PostgresSubscription extends AsyncIterable<RecordedEvent> {
  close(): Promise<void>;
}

/**
 * Catch-up-then-live over es_events on a connection of its own, woken by NOTIFY.
 * Positions are dense and commit in order, so "everything after the last one delivered" is
 * exact; a dropped connection is replaced and reading resumes from that position.
 */
export function subscribeToPostgres(databaseUrl: string, after: bigint): PostgresSubscription {
  let closed = false;
  let client: pg.Client | null = null;
  let notified = after;
  let wake: (() => void) | null = null;
  const stop = () => wake?.();

  async function connect(): Promise<pg.Client> {
    const fresh = new pg.Client({ connectionString: databaseUrl, application_name: 'chat-es-subscription' });
    fresh.on('error', () => {}); // surfaces as a failed query below, which reconnects
    fresh.on('notification', (message) => {
      const position = BigInt(message.payload ?? '0');
      if (position > notified) notified = position;
      wake?.();
    });
    await fresh.connect();
    await fresh.query('LISTEN es_events');
    return fresh;
  }

  function waitFor(position: bigint, ms: number): Promise<void> {
    if (notified > position || closed) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        wake = null;
        resolve();
      }
      wake = done;
    });
  }

  async function* events(): AsyncGenerator<RecordedEvent> {
    let last = after;
    let backoff = 100;
    while (!closed) {
      let page: RecordedEvent[];
      try {
        client ??= await connect();
        const { rows } = await client.query<EventRow>(`SELECT ${EVENT_COLUMNS} FROM es_events WHERE position > $1 ORDER BY position LIMIT $2`, [
          String(last),
          PAGE,
        ]);
        page = rows.map(toRecordedEvent);
        backoff = 100;
      } catch {
        const dead = client;
        client = null;
        await dead?.end().catch(() => {});
        await waitFor(BigInt(Number.MAX_SAFE_INTEGER), backoff);
        backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
        continue;
      }
      for (const event of page) {
        if (closed) return;
        yield event;
        last = event.position;
      }
      if (page.length < PAGE) await waitFor(last, IDLE_POLL_MS);
    }
  }

  const iterator = events();
  return {
    [Symbol.asyncIterator]: () => iterator,
    async close() {
      closed = true;
      stop();
      await iterator.return(undefined);
      await client?.end().catch(() => {});
      client = null;
    },
  };
}
