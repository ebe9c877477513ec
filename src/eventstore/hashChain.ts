import { createHash } from 'node:crypto';
import type { EventMetadata, SealedMetadata } from '../events/metadata.ts';
import type { NewEvent } from './EventStore.ts';

/** JSON with object keys sorted at every depth: one text for one value, whichever store it came back from. */
export function canonicalJson(value: unknown): string {
  if (typeof value !== 'object' || value === null) return JSON.stringify(value);
  // plain loops: this runs for every event appended and every event verified
  let out: string;
  if (Array.isArray(value)) {
    out = '[';
    for (let i = 0; i < value.length; i++) out += (i > 0 ? ',' : '') + canonicalJson(value[i]);
    return out + ']';
  }
  const record = value as Record<string, unknown>;
  out = '{';
  for (const key of Object.keys(record).sort()) {
    const item = record[key];
    if (item === undefined) continue;
    out += (out.length > 1 ? ',' : '') + JSON.stringify(key) + ':' + canonicalJson(item);
  }
  return out + '}';
}

export interface ChainedEvent {
  id: string;
  type: string;
  data: unknown;
  stream: string;
  revision: bigint;
  metadata: EventMetadata & { prev_hash: string | null };
}

/** The canonical JSON a hash covers: the whole event, its metadata (with prev_hash) but for the hash itself. */
export function canonicalBody(event: ChainedEvent): string {
  const { hash: _ignored, ...metadata } = event.metadata as SealedMetadata;
  return canonicalJson({ id: event.id, type: event.type, data: event.data, stream: event.stream, revision: String(event.revision), metadata });
}

/** SHA-256 over this event's canonical JSON, which includes the previous event's hash. */
export function eventHash(event: ChainedEvent): string {
  return sha256(canonicalBody(event));
}

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

export interface SealedEvent extends NewEvent {
  stream: string;
  revision: bigint;
  metadata: SealedMetadata;
  /** canonicalBody of the event, which an adapter may store as it is */
  body: string;
}

/** Links new events onto a stream whose last event has `head` (null for a new stream). */
export function seal(stream: string, head: { revision: bigint; hash: string | null } | null, events: readonly NewEvent[]): SealedEvent[] {
  let prevHash = head?.hash ?? null;
  let revision = head ? head.revision : -1n;
  return events.map((event) => {
    revision += 1n;
    const chained: ChainedEvent = { ...event, stream, revision, metadata: { ...event.metadata, prev_hash: prevHash } };
    const body = canonicalBody(chained);
    const hash = sha256(body);
    prevHash = hash;
    return { ...chained, metadata: { ...chained.metadata, hash }, body };
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
