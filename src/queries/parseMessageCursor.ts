import { parseIsoMicros } from '../events/time.ts';

/**
 * The `before` / `last_message_time_stamp` of a message fetch, as REST and the socket command send
 * it: absent, "", "0" or 0 for the newest page, else an ISO time stamp (µs). undefined when malformed.
 */
export function parseMessageCursor(value: unknown): bigint | null | undefined {
  if (value === undefined || value === null || value === '' || value === '0' || value === 0) return null;
  if (typeof value !== 'string') return undefined;
  const micros = parseIsoMicros(value);
  return micros === null || micros < 0 ? undefined : BigInt(micros);
}
