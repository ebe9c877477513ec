import type { ExpectedRevision, NewEvent } from './EventStore.ts';
import { InvalidAppendError } from './errors.ts';

export const MAX_STREAM_NAME_LENGTH = 200;
/** far below either store's hard limit; a chat event is a few hundred bytes */
export const MAX_EVENT_BYTES = 1024 * 1024;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Checks an append before either adapter touches its store, so both reject the same input the same way. */
export function validateAppend(stream: unknown, events: unknown, expected: unknown): asserts events is NewEvent[] {
  if (typeof stream !== 'string' || stream.length === 0) throw new InvalidAppendError('stream name must be a non-empty string');
  if (stream.length > MAX_STREAM_NAME_LENGTH) {
    throw new InvalidAppendError(`stream name is ${stream.length} characters; at most ${MAX_STREAM_NAME_LENGTH}`);
  }
  if (stream.startsWith('$')) throw new InvalidAppendError('stream names starting with $ are reserved');
  if (!isExpectedRevision(expected)) {
    throw new InvalidAppendError(`unknown expected revision ${describe(expected)}: use 'any', 'no_stream', 'stream_exists' or a revision (bigint ≥ 0)`);
  }
  if (!Array.isArray(events) || events.length === 0) throw new InvalidAppendError('an append needs at least one event');
  const ids = new Set<string>();
  events.forEach((event: unknown, index) => {
    const where = `event ${index}`;
    if (!isPlainObject(event)) throw new InvalidAppendError(`${where} is not an object`);
    const { id, type, data, metadata } = event;
    if (typeof id !== 'string' || !UUID.test(id)) throw new InvalidAppendError(`${where}: id must be a UUID`);
    if (ids.has(id.toLowerCase())) throw new InvalidAppendError(`${where}: id ${id} appears twice in one append`);
    ids.add(id.toLowerCase());
    if (typeof type !== 'string' || type.length === 0 || type.length > 100) throw new InvalidAppendError(`${where}: type must be 1-100 characters`);
    const bound = assertJson(data, `${where}.data`) + assertMetadata(metadata, `${where}.metadata`);
    // measure exactly only when the cheap bound says it might be too large
    const bytes = bound > MAX_EVENT_BYTES ? Buffer.byteLength(JSON.stringify({ data, metadata })) : 0;
    if (bytes > MAX_EVENT_BYTES) throw new InvalidAppendError(`${where} is ${bytes} bytes; at most ${MAX_EVENT_BYTES}`);
  });
}

export function isExpectedRevision(value: unknown): value is ExpectedRevision {
  return value === 'any' || value === 'no_stream' || value === 'stream_exists' || (typeof value === 'bigint' && value >= 0n);
}

function assertMetadata(value: unknown, where: string): number {
  if (!isPlainObject(value)) throw new InvalidAppendError(`${where} must be an object`);
  for (const key of ['actor', 'correlation_id', 'causation_id', 'occurred_at'] as const) {
    if (typeof value[key] !== 'string' || value[key] === '') throw new InvalidAppendError(`${where}.${key} must be a non-empty string`);
  }
  if (!Number.isInteger(value.schema) || (value.schema as number) < 1) throw new InvalidAppendError(`${where}.schema must be a positive integer`);
  if ('hash' in value || 'prev_hash' in value) throw new InvalidAppendError(`${where}: hash and prev_hash are set by the event store`);
  return assertJson(value, where);
}

/**
 * Plain JSON only: what goes in must come back out of either store unchanged, or the hash chain
 * would not verify. Undefined object members are dropped, as JSON.stringify drops them.
 * Answers an upper bound of the value's size as UTF-8 JSON (each character escaped at worst).
 */
export function assertJson(value: unknown, where: string, seen = new Set<object>()): number {
  switch (typeof value) {
    case 'string':
      // Postgres jsonb cannot hold U+0000; refusing it here keeps both stores alike
      if (value.includes('\u0000')) throw new InvalidAppendError(`${where}: strings may not contain U+0000`);
      return 2 + 6 * value.length;
    case 'boolean':
      return 5;
    case 'number':
      if (!Number.isFinite(value)) throw new InvalidAppendError(`${where}: ${value} is not a JSON number`);
      return 24;
    case 'object': {
      if (value === null) return 4;
      if (seen.has(value)) throw new InvalidAppendError(`${where}: a cycle is not JSON`);
      seen.add(value);
      let bound = 2;
      if (Array.isArray(value)) value.forEach((item, i) => (bound += 1 + assertJson(item, `${where}[${i}]`, seen)));
      else if (isPlainObject(value)) {
        for (const [key, item] of Object.entries(value)) {
          if (key.includes('\u0000')) throw new InvalidAppendError(`${where}: keys may not contain U+0000`);
          if (item !== undefined) bound += 4 + 6 * key.length + assertJson(item, `${where}.${key}`, seen);
        }
      } else throw new InvalidAppendError(`${where}: ${value.constructor?.name ?? 'object'} is not plain JSON`);
      seen.delete(value);
      return bound;
    }
    default:
      throw new InvalidAppendError(`${where}: a ${typeof value} is not JSON`);
  }
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

function describe(value: unknown): string {
  return typeof value === 'bigint' ? `${value}n` : JSON.stringify(value) ?? String(value);
}
