import { createHash } from 'node:crypto';
import type { EventMetadata, SealedMetadata } from '../events/metadata.ts';
import type { NewEvent } from './EventStore.ts';

/** JSON with object keys sorted at every depth: one text for one value, whichever store it came back from. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (typeof value === 'object' && value !== null) {
    const members = Object.keys(value)
      .filter((key) => (value as Record<string, unknown>)[key] !== undefined)
      .sort()
      .map((key) => `${JSON.stringify(key)}:${canonicalJson((value as Record<string, unknown>)[key])}`);
    return `{${members.join(',')}}`;
  }
  return JSON.stringify(value);
}

export interface ChainedEvent {
  id: string;
  type: string;
  data: unknown;
  stream: string;
  revision: bigint;
  metadata: EventMetadata & { prev_hash: string | null };
}

/** SHA-256 over this event's canonical JSON, which includes the previous event's hash. */
export function eventHash(event: ChainedEvent): string {
  const { hash: _ignored, ...metadata } = event.metadata as SealedMetadata;
  const body = { id: event.id, type: event.type, data: event.data, stream: event.stream, revision: String(event.revision), metadata };
  return createHash('sha256').update(canonicalJson(body)).digest('hex');
}

export interface SealedEvent extends NewEvent {
  stream: string;
  revision: bigint;
  metadata: SealedMetadata;
}

/** Links new events onto a stream whose last event has `head` (null for a new stream). */
export function seal(stream: string, head: { revision: bigint; hash: string | null } | null, events: readonly NewEvent[]): SealedEvent[] {
  let prevHash = head?.hash ?? null;
  let revision = head ? head.revision : -1n;
  return events.map((event) => {
    revision += 1n;
    const chained: ChainedEvent = { ...event, stream, revision, metadata: { ...event.metadata, prev_hash: prevHash } };
    const hash = eventHash(chained);
    prevHash = hash;
    return { ...chained, metadata: { ...chained.metadata, hash } };
  });
}

export type ChainBreak = { revision: bigint; reason: string };

/**
 * Walks a stream's events in revision order and returns the first broken link, or null.
 * `expectedPrevHash` lets a verifier resume mid-stream from a link it already checked.
 */
export function findChainBreak(
  events: Iterable<{ stream: string; revision: bigint; id: string; type: string; data: unknown; metadata: SealedMetadata }>,
  expectedPrevHash: string | null = null,
  expectedRevision = 0n,
): ChainBreak | null {
  let prevHash = expectedPrevHash;
  let revision = expectedRevision;
  for (const event of events) {
    if (event.revision !== revision) return { revision: event.revision, reason: `expected revision ${revision}` };
    if ((event.metadata.prev_hash ?? null) !== prevHash) return { revision, reason: 'prev_hash does not match the previous event' };
    if (eventHash(event) !== event.metadata.hash) return { revision, reason: 'hash does not match the event content' };
    prevHash = event.metadata.hash;
    revision += 1n;
  }
  return null;
}
