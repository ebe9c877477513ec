import type { EventStore, RecordedEvent } from '../eventstore/EventStore.ts';
import { findChainBreak } from '../eventstore/hashChain.ts';
import { verifyStream, type StreamBreak } from '../eventstore/verifyStream.ts';
import { collectGarbage } from './collectGarbage.ts';

const PAGE = 2000;
/** a full collection every this many events keeps memory flat (see collectGarbage) */
const COLLECT_EVERY = 10_000;

export interface VerifyReport {
  events: number;
  streams: number;
  /** the first broken link of each broken stream, in the order they were found */
  breaks: StreamBreak[];
}

interface Tail {
  revision: bigint;
  hash: string | null;
}

/**
 * The hash chains of every stream, checked while reading the log once in global order. Each
 * stream's last good link is kept (its revision and hash), so each event is checked against its
 * predecessor without reading any stream again; a stream stops being checked at its first break.
 */
export class ChainTails {
  private readonly tails = new Map<string, Tail | 'broken'>();
  readonly breaks: StreamBreak[] = [];
  events = 0;

  get streams(): number {
    return this.tails.size;
  }

  check(event: RecordedEvent): void {
    this.events++;
    const tail = this.tails.get(event.stream);
    if (tail === 'broken') return;
    const broken = findChainBreak([event], tail?.hash ?? null, tail ? tail.revision + 1n : 0n);
    if (broken) {
      this.breaks.push({ ...broken, stream: event.stream, position: event.position });
      this.tails.set(event.stream, 'broken');
    } else this.tails.set(event.stream, { revision: event.revision, hash: event.metadata.hash });
  }
}

/** Every stream's chain, in one pass over the log; `progress` hears the events checked so far after each page. */
export async function verifyLog(store: EventStore, progress: (events: number) => void = () => {}): Promise<VerifyReport> {
  const tails = new ChainTails();
  let after = 0n;
  // the next page is read while this one is checked
  let next = store.readAll({ after, maxCount: PAGE });
  for (;;) {
    const page = await next;
    if (page.length === 0) break;
    after = page[page.length - 1]!.position;
    if (page.length === PAGE) next = store.readAll({ after, maxCount: PAGE });
    for (const event of page) tails.check(event);
    progress(tails.events);
    if (tails.events % COLLECT_EVERY < page.length) collectGarbage();
    if (page.length < PAGE) break;
  }
  return { events: tails.events, streams: tails.streams, breaks: tails.breaks };
}

/** One stream's chain. */
export async function verifyOneStream(store: EventStore, stream: string): Promise<VerifyReport> {
  const broken = await verifyStream(store, stream);
  const head = await store.readStream(stream, { direction: 'backwards', maxCount: 1 });
  const events = head[0] ? Number(head[0].revision) + 1 : 0;
  return { events, streams: events > 0 ? 1 : 0, breaks: broken ? [broken] : [] };
}
