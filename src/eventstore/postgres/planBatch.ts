import type { AppendResult, ExpectedRevision, NewEvent } from '../EventStore.ts';
import { DuplicateEventIdError, WrongExpectedRevisionError } from '../errors.ts';
import { seal, type SealedEvent } from '../hashChain.ts';

export interface PendingAppend {
  stream: string;
  events: readonly NewEvent[];
  expected: ExpectedRevision;
}

export interface StreamHead {
  revision: bigint;
  hash: string | null;
}

export interface StoredId {
  stream: string;
  revision: bigint;
  position: bigint;
}

/** `relative`: the position counts from the batch's base, which is known only once it commits. */
export type AppendOutcome = { ok: true; result: AppendResult; relative: boolean } | { ok: false; error: Error };

export interface BatchPlan {
  /** the events to insert; `offset` 1..n is each one's position after the batch's base */
  rows: (SealedEvent & { offset: bigint })[];
  outcomes: AppendOutcome[];
  /** every stream's head once the batch is written */
  heads: Map<string, StreamHead | null>;
}

/**
 * Decides a batch of appends that share one transaction, in order, as if each ran alone:
 * each keeps its own expected-revision check and result, and a later append to the same
 * stream sees what an earlier one in the batch wrote. Pure, so it is tested without a database.
 */
export function planBatch(
  appends: readonly PendingAppend[],
  heads: ReadonlyMap<string, StreamHead | null>,
  storedIds: ReadonlyMap<string, StoredId>,
): BatchPlan {
  const streamHeads = new Map(heads);
  const ids = new Map<string, StoredId & { planned?: true }>(storedIds);
  const rows: BatchPlan['rows'] = [];
  let offset = 0n;

  const outcomes = appends.map(({ stream, events, expected }): AppendOutcome => {
    const repeat = findRepeat(stream, events, ids);
    if (repeat) return repeat;
    const head = streamHeads.get(stream) ?? null;
    if (!meetsExpectation(expected, head)) {
      return { ok: false, error: new WrongExpectedRevisionError(stream, expected, head?.revision ?? null) };
    }
    for (const event of seal(stream, head, events)) {
      offset += 1n;
      rows.push({ ...event, offset });
      ids.set(event.id.toLowerCase(), { stream, revision: event.revision, position: offset, planned: true });
      streamHeads.set(stream, { revision: event.revision, hash: event.metadata.hash });
    }
    return { ok: true, result: { nextRevision: streamHeads.get(stream)!.revision, position: offset }, relative: true };
  });
  return { rows, outcomes, heads: streamHeads };
}

function meetsExpectation(expected: ExpectedRevision, head: StreamHead | null): boolean {
  switch (expected) {
    case 'any':
      return true;
    case 'no_stream':
      return head === null;
    case 'stream_exists':
      return head !== null;
    default:
      return head?.revision === expected;
  }
}

/** A retried append (same ids, same stream, same order) answers as the first one did and writes nothing. */
function findRepeat(stream: string, events: readonly NewEvent[], ids: ReadonlyMap<string, StoredId & { planned?: true }>): AppendOutcome | null {
  const found = events.map((event) => ids.get(event.id.toLowerCase()));
  if (found.every((stored) => stored === undefined)) return null;
  const first = found[0];
  const exactRepeat =
    first !== undefined &&
    found.every((stored, i) => stored !== undefined && stored.stream === stream && stored.revision === first.revision + BigInt(i));
  if (!exactRepeat) {
    const clash = events.find((event) => ids.has(event.id.toLowerCase()))!;
    return { ok: false, error: new DuplicateEventIdError(clash.id) };
  }
  const last = found[found.length - 1]!;
  return { ok: true, result: { nextRevision: last.revision, position: last.position, repeated: true }, relative: last.planned === true };
}
