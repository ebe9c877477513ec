import { BACKWARDS, END, EventStoreDBClient, excludeSystemEvents, jsonEvent, NO_STREAM, START, StreamNotFoundError, WrongExpectedVersionError } from '@eventstore/db-client';
import type { AllStreamSubscription, JSONType, ReadPosition, RecordedEvent as EsdbRecordedEvent, StreamingRead } from '@eventstore/db-client';
import type { SealedMetadata } from '../../events/metadata.ts';
import type { AppendResult, EventStore, ExpectedRevision, NewEvent, RecordedEvent } from '../EventStore.ts';
import type { ReadAllOptions, ReadStreamOptions, SubscribeOptions, Subscription } from '../EventStore.ts';
import { DuplicateEventIdError, EventStoreError, WrongExpectedRevisionError } from '../errors.ts';
import { seal } from '../hashChain.ts';
import { validateAppend } from '../validateAppend.ts';

const DEFAULT_READ_ALL_COUNT = 4096;
const APPEND_TRIES = 10;
/** how far back a retried append is looked for, beyond its own length */
const REPEAT_WINDOW = 32;
/** servers before 22.6 send no position (0, or ulong max) on stream reads */
const hasPosition = (position: bigint | undefined): position is bigint => position !== undefined && position > 0n && position < 2n ** 64n - 1n;

type Resolved = { event?: EsdbRecordedEvent | undefined; commitPosition?: bigint | undefined };

export function createEventStoreDbEventStore(connectionString: string): EventStore {
  const client = EventStoreDBClient.connectionString(connectionString);
  const subscriptions = new Set<Subscription>();

  async function readStream(stream: string, options: ReadStreamOptions = {}): Promise<RecordedEvent[]> {
    const direction = options.direction ?? 'forwards';
    // the client defaults fromRevision to START even when reading backwards
    const fromRevision = options.fromRevision ?? (direction === 'backwards' ? END : START);
    const limit = options.maxCount ?? Number.MAX_SAFE_INTEGER;
    try {
      return await collect(client.readStream(stream, { direction, fromRevision, maxCount: Math.max(limit, 1) }), limit);
    } catch (error) {
      if (error instanceof StreamNotFoundError) return [];
      throw error;
    }
  }

  async function append(stream: string, events: readonly NewEvent[], expected: ExpectedRevision): Promise<AppendResult> {
    validateAppend(stream, events, expected);
    let actual: bigint | null = null;
    for (let attempt = 0; attempt < APPEND_TRIES; attempt++) {
      // one backwards read gives the chain head and the window a retried append would be in
      const recent = (await readStream(stream, { direction: 'backwards', maxCount: events.length + REPEAT_WINDOW })).reverse();
      const head = recent[recent.length - 1] ?? null;
      actual = head ? head.revision : null;
      const repeat = findRepeat(recent, events);
      if (repeat) return repeat;
      checkExpected(stream, expected, head);
      const sealed = seal(stream, head ? { revision: head.revision, hash: head.metadata.hash } : null, events);
      const result = await client
        .appendToStream(
          stream,
          // validateAppend proved data is plain JSON; the client JSON.stringifies whatever it is given
          sealed.map(({ id, type, data, metadata }) => jsonEvent({ id, type, data: data as JSONType, metadata })),
          // always exact, whatever the caller expected, so two writers can never fork the hash chain
          { expectedRevision: head ? head.revision : NO_STREAM },
        )
        .catch((error: unknown) => {
          if (error instanceof WrongExpectedVersionError) return null;
          throw error;
        });
      // someone wrote in between: the re-read turns this into a repeat, a WrongExpectedRevisionError, or another try
      if (!result?.success) continue;
      if (result.position) return { nextRevision: result.nextExpectedRevision, position: result.position.commit };
      const [last] = await readStream(stream, { fromRevision: result.nextExpectedRevision, maxCount: 1 });
      if (last) return { nextRevision: last.revision, position: last.position };
    }
    // only 'any' / 'stream_exists' writers can lose every race: an exact expectation fails on the re-read
    throw new WrongExpectedRevisionError(stream, expected, actual);
  }

  /** The newest record (of any stream) at or before `after`: ESDB reads only from a record's own position. */
  async function recordAtOrBefore(after: bigint): Promise<ReadPosition> {
    const read = quiet(client.readAll({ direction: BACKWARDS, fromPosition: END }));
    for await (const resolved of read) {
      const position = resolved.event?.position;
      if (position && position.commit <= after) {
        await read.cancel().catch(() => undefined);
        return position;
      }
    }
    return START;
  }

  /** Where to start reading so that nothing after `after` is missed, at the cost of a probe read. */
  async function startAt(after: bigint): Promise<ReadPosition> {
    if (after <= 0n) return START;
    const exact = { commit: after, prepare: after };
    const [probe] = await collect(client.readAll({ fromPosition: exact, maxCount: 1 }), 1).catch(() => []);
    return probe?.position === after ? exact : recordAtOrBefore(after);
  }

  async function readAll(options: ReadAllOptions = {}): Promise<RecordedEvent[]> {
    const after = options.after ?? 0n;
    const limit = options.maxCount ?? DEFAULT_READ_ALL_COUNT;
    if (after > 0n) {
      // the usual case, `after` is one of our positions: the inclusive read starts with that very event
      const direct = await collect(client.readAll({ fromPosition: { commit: after, prepare: after } }), limit + 1).catch(() => null);
      if (direct?.[0]?.position === after) return direct.slice(1);
    }
    // any other position (e.g. mid-record) must not be sent as is: the server rejects it or reads garbage
    const fromPosition = after > 0n ? await recordAtOrBefore(after) : START;
    return collect(client.readAll({ fromPosition }), limit, (event) => event.position > after);
  }

  function subscribeToAll(options: SubscribeOptions = {}): Subscription {
    let last = options.after ?? 0n;
    let closed = false;
    let from: ReadPosition | null = null;
    let current: AllStreamSubscription | null = null;
    let wake: (() => void) | null = null;
    // as the server tells (23.10 and later); a server that does not leaves it unknown
    let caughtUp: boolean | undefined;

    async function* run(): AsyncGenerator<RecordedEvent> {
      try {
        let delay = 100;
        while (!closed) {
          let sub: AllStreamSubscription | null = null;
          try {
            // subscribing from a position is exclusive; after a delivery `from` is that event's own position
            from ??= await startAt(last);
            if (closed) return;
            sub = current = quiet(client.subscribeToAll({ fromPosition: from, filter: excludeSystemEvents() }));
            caughtUp = undefined;
            sub.on('caughtUp', () => void (caughtUp = true));
            sub.on('fellBehind', () => void (caughtUp = false));
            for await (const resolved of sub) {
              const event = toRecorded(resolved);
              // a resubscription may hand back what was already delivered
              if (!event || event.position <= last) continue;
              last = event.position;
              from = { commit: last, prepare: last };
              delay = 100;
              yield event;
              if (closed) return;
            }
          } catch {
            // dropped (network, server restart, close): the client does not resubscribe, so we do below
          } finally {
            current = null;
            await sub?.unsubscribe().catch(() => undefined);
          }
          if (closed) return;
          await new Promise<void>((resolve) => {
            const timer = setTimeout(resolve, delay);
            wake = () => (clearTimeout(timer), resolve());
          });
          wake = null;
          delay = Math.min(delay * 2, 5000);
        }
      } finally {
        // also when the consumer just stops iterating (break) without calling close()
        closed = true;
        subscriptions.delete(subscription);
      }
    }

    const iterator = run();
    const subscription: Subscription = {
      [Symbol.asyncIterator]: () => iterator,
      get caughtUp() {
        return caughtUp;
      },
      async close() {
        if (closed) return;
        closed = true;
        subscriptions.delete(subscription);
        wake?.();
        const sub = current;
        if (!sub) return;
        await sub.unsubscribe().catch(() => undefined);
        // ends a pending for-await even if the cancelled gRPC call never ends the stream
        sub.destroy();
      },
    };
    subscriptions.add(subscription);
    return subscription;
  }

  async function headPosition(): Promise<bigint> {
    // stream and cancel rather than a fixed maxCount: the tail of $all may be all system events
    const [newest] = await collect(client.readAll({ direction: BACKWARDS, fromPosition: END }), 1);
    return newest?.position ?? 0n;
  }

  async function close(): Promise<void> {
    // an open subscription would otherwise keep resubscribing against a disposed client
    await Promise.all([...subscriptions].map((subscription) => subscription.close()));
    await client.dispose();
  }

  // the server sends metadata with every event: the bare reads are the full ones
  return { append, readStream, readAll, readAllBare: readAll, subscribeToAll, subscribeToAllBare: subscribeToAll, headPosition, close };
}

/** Maps our events and skips everything else (system streams, links, binary events). */
function toRecorded(resolved: Resolved): RecordedEvent | null {
  const event = resolved.event;
  if (!event || !event.isJson || event.streamId.startsWith('$')) return null;
  const metadata: unknown = event.metadata;
  if (typeof metadata !== 'object' || metadata === null || metadata instanceof Uint8Array || Array.isArray(metadata)) return null;
  const position = event.position?.commit ?? resolved.commitPosition;
  if (!hasPosition(position)) {
    throw new EventStoreError('position_unavailable', `event ${event.id} came without a log position: EventStoreDB 22.6 or later is required`);
  }
  return {
    id: event.id,
    type: event.type,
    data: event.data,
    metadata: metadata as SealedMetadata,
    stream: event.streamId,
    revision: event.revision,
    position,
    // the client truncates the server's 100 ns ticks to a millisecond Date
    recordedAt: event.created.toISOString().replace(/Z$/, '000Z'),
  };
}

/** Reads until `limit` of our events are kept, then cancels the gRPC call rather than draining it. */
async function collect<E extends Resolved>(read: StreamingRead<E>, limit: number, keep = (_: RecordedEvent) => true): Promise<RecordedEvent[]> {
  const out: RecordedEvent[] = [];
  quiet(read);
  if (limit > 0) {
    for await (const resolved of read) {
      const event = toRecorded(resolved);
      if (event && keep(event)) out.push(event);
      if (out.length >= limit) break;
    }
  }
  if (out.length >= limit) await read.cancel().catch(() => undefined);
  return out;
}

/** The client emits late errors (after we stopped reading) as 'error' events; unheard, they would crash the process. */
function quiet<S extends NodeJS.EventEmitter>(stream: S): S {
  stream.on('error', () => undefined);
  return stream;
}

/** A retry of an append that already landed answers as the first time; an id reused any other way is refused. */
function findRepeat(recent: readonly RecordedEvent[], events: readonly NewEvent[]): AppendResult | null {
  const first = events[0]!;
  const start = recent.findIndex((old) => sameId(old.id, first.id));
  if (start < 0) {
    const reused = events.find((event) => recent.some((old) => sameId(old.id, event.id)));
    if (reused) throw new DuplicateEventIdError(reused.id);
    return null;
  }
  // the ids say it is the same append; its content may differ, as a retried command decides again later
  events.forEach((event, i) => {
    const old = recent[start + i];
    if (!old || !sameId(old.id, event.id)) throw new DuplicateEventIdError(first.id);
  });
  const last = recent[start + events.length - 1]!;
  return { nextRevision: last.revision, position: last.position, repeated: true };
}

function checkExpected(stream: string, expected: ExpectedRevision, head: RecordedEvent | null): void {
  const actual = head ? head.revision : null;
  const ok =
    expected === 'any' ||
    (expected === 'no_stream' && actual === null) ||
    (expected === 'stream_exists' && actual !== null) ||
    (typeof expected === 'bigint' && actual === expected);
  if (!ok) throw new WrongExpectedRevisionError(stream, expected, actual);
}

function sameId(a: string, b: string): boolean {
  return a.toLowerCase() === b.toLowerCase();
}

/** A retry must repeat exactly: same type, data and caller metadata (the chain links are ours). */
