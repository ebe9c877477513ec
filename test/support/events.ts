import { randomUUID } from 'node:crypto';
import type { NewEvent } from '../../src/eventstore/EventStore.ts';

export function newEvent(type = 'Tested', data: unknown = { n: 1 }, id: string = randomUUID()): NewEvent {
  return {
    id,
    type,
    data,
    metadata: { actor: 'system', correlation_id: id, causation_id: id, occurred_at: new Date().toISOString().replace('Z', '000Z'), schema: 1 },
  };
}

export const uniqueStream = (prefix = 'test') => `${prefix}-${randomUUID()}`;
