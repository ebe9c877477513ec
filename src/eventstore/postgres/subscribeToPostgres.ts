import pg from 'pg';
import type { BareEvent } from '../EventStore.ts';
import type { PageReader } from './PostgresEventStore.ts';

const PAGE = 2048;
/** a fallback in case a notification is lost; appends normally wake the subscriber at once */
const IDLE_POLL_MS = 1000;
const MAX_BACKOFF_MS = 5000;

export interface PostgresSubscription<E extends BareEvent> extends AsyncIterable<E> {
  /** false while the pages it reads are full: it is still catching up */
  readonly caughtUp: boolean;
  close(): Promise<void>;
}

/**
 * Catch-up-then-live over es_events on a connection of its own, woken by NOTIFY. It reads only
 * below the horizon (see the event store migration), so "everything after the last position
 * delivered" is exact; a dropped connection is replaced and reading resumes from that position.
 */
export function subscribeToPostgres<E extends BareEvent>(databaseUrl: string, after: bigint, read: PageReader<E>): PostgresSubscription<E> {
  let closed = false;
  let caughtUp = false;
  let client: pg.Client | null = null;
  let notified = false;
  let wake: (() => void) | null = null;

  async function connect(): Promise<pg.Client> {
    const fresh = new pg.Client({ connectionString: databaseUrl, application_name: 'chat-es-subscription' });
    fresh.on('error', () => {}); // surfaces as a failed query below, which reconnects
    fresh.on('notification', () => {
      notified = true;
      wake?.();
    });
    await fresh.connect();
    await fresh.query('LISTEN es_events');
    return fresh;
  }

  /** Waits `ms`, or less when an append is notified or the subscription closes. */
  function pause(ms: number, wakeOnNotify: boolean): Promise<void> {
    if (closed || (wakeOnNotify && notified)) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        wake = null;
        resolve();
      }
      wake = wakeOnNotify ? done : () => closed && done();
    });
  }

  async function* events(): AsyncGenerator<E> {
    let last = after;
    let backoff = 100;
    let behindHorizon = 1;
    /** After a failed query: a new connection next time, after a pause that grows while failures go on. */
    async function dropConnection(): Promise<void> {
      const dead = client;
      client = null;
      await dead?.end().catch(() => {});
      await pause(backoff, false);
      backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
    }
    while (!closed) {
      let page: E[];
      try {
        client ??= await connect();
        notified = false;
        page = await read(client, last, PAGE);
        backoff = 100;
        // a short page ends at the horizon: its events and those after it come live
        caughtUp = page.length < PAGE;
      } catch {
        await dropConnection();
        continue;
      }
      // delivered before anything else is asked of Postgres
      for (const event of page) {
        if (closed) return;
        yield event;
        last = event.position;
      }
      if (page.length === PAGE) continue;
      let blocked: boolean;
      try {
        // committed events above the horizon wait for an older append to end, which may send no notification
        // max() reads the primary key's last entry whatever the statistics say; EXISTS could scan the table
        const above = await client.query<{ blocked: boolean }>('SELECT coalesce((SELECT max(position) FROM es_events) > greatest($1::bigint, es_horizon()), false) AS blocked', [String(last)]);
        blocked = above.rows[0]!.blocked;
      } catch {
        await dropConnection();
        continue;
      }
      if (blocked) {
        // an append still running holds the rest back; it is short, so look again soon, less often while it lasts
        if (page.length > 0) behindHorizon = 1;
        await pause(behindHorizon, false);
        behindHorizon = Math.min(behindHorizon * 2, 100);
      } else {
        behindHorizon = 1;
        await pause(IDLE_POLL_MS, true);
      }
    }
  }

  const iterator = events();
  return {
    [Symbol.asyncIterator]: () => iterator,
    get caughtUp() {
      return caughtUp;
    },
    async close() {
      closed = true;
      wake?.();
      await iterator.return(undefined);
      await client?.end().catch(() => {});
      client = null;
    },
  };
}
