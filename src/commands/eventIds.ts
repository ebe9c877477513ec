import { createHash, randomUUID } from 'node:crypto';

// an arbitrary fixed namespace for this application's name-based (v5) UUIDs
const NAMESPACE = Buffer.from('6f1b5a3c9e2d4f708a1b2c3d4e5f6071', 'hex');

/** A name-based UUID (RFC 9562 version 5): the same name always gives the same id. */
export function uuidFromName(name: string): string {
  const bytes = createHash('sha1').update(NAMESPACE).update(name).digest().subarray(0, 16);
  bytes[6] = (bytes[6]! & 0x0f) | 0x50;
  bytes[8] = (bytes[8]! & 0x3f) | 0x80;
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/**
 * Event ids for what one command appends to one stream: derived from the client's command id
 * when it gave one, so a repeated command appends nothing new; random otherwise.
 */
export function eventIds(stream: string, count: number, clientId?: string): string[] {
  return Array.from({ length: count }, (_, i) => (clientId ? uuidFromName(`${stream}/${clientId.toLowerCase()}/${i}`) : randomUUID()));
}
