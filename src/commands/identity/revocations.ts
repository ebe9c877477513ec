import type { Redis } from 'ioredis';
import { randomUUID } from 'node:crypto';

/** Tokens that stopped working: one token, or every token of a user but `except`. */
export type Revocation = { tokenId: string } | { userId: string; except?: string | undefined };

/**
 * How the nodes that cache tokens hear of revocations. `publish` resolves once every node
 * listening has evicted what the revocation names; `listening` is false while a node may have missed one
 * (its connection is down), and then it must not answer from its cache.
 */
export interface RevocationBus {
  publish(revocation: Revocation): Promise<void>;
  /** `reset` runs whenever revocations may have been missed: forget everything cached */
  subscribe(handler: (revocation: Revocation) => void, reset: () => void): void;
  listening(): boolean;
  close(): Promise<void>;
}

/** A single node: revocations are heard in the same process, at once. */
export function localRevocations(): RevocationBus {
  const handlers: ((revocation: Revocation) => void)[] = [];
  return {
    async publish(revocation) {
      for (const handler of handlers) handler(revocation);
    },
    subscribe(handler) {
      handlers.push(handler);
    },
    listening: () => true,
    async close() {},
  };
}

const CHANNEL = 'identity:revoked';
const ACKS = 'identity:revoked:ack';
/** how long a revocation waits for the other nodes to say they evicted; then it is logged and let go */
const ACK_TIMEOUT_MS = 1000;

/**
 * Every node on one Redis. A revocation is published with an id; each node evicts, then
 * acknowledges on a second channel, and `publish` resolves once as many nodes acknowledged as
 * PUBLISH said received it: when the revoking request is answered, no node answers from a cache
 * that still holds the token. The subscriber is a connection of its own (a subscribed connection
 * can do nothing else).
 */
export function redisRevocations(redis: Redis, log?: { warn(obj: object, msg: string): void }): RevocationBus {
  const sub = redis.duplicate({ lazyConnect: false, maxRetriesPerRequest: 2 });
  let subscribed = false;
  const handlers: ((revocation: Revocation) => void)[] = [];
  const resets: (() => void)[] = [];
  /** acknowledgements per revocation id this node published, and what to do once all are in */
  const waiting = new Map<string, { acks: number; expected: number; done: () => void }>();
  const lost = () => {
    if (subscribed) log?.warn({}, 'token revocations unheard while Redis is away: tokens are checked in Postgres');
    subscribed = false;
    for (const reset of resets) reset();
  };
  sub.on('error', () => lost());
  sub.on('close', lost);
  sub.on('ready', () => {
    sub.subscribe(CHANNEL, ACKS).then(
      () => {
        // what was cached before this subscription may have missed a revocation
        for (const reset of resets) reset();
        subscribed = true;
      },
      () => lost(),
    );
  });
  sub.on('message', (channel: string, message: string) => {
    if (channel === ACKS) {
      const wait = waiting.get(message);
      if (wait && ++wait.acks >= wait.expected) wait.done();
      return;
    }
    if (channel !== CHANNEL) return;
    let published: { id: string; revocation: Revocation };
    try {
      published = JSON.parse(message) as { id: string; revocation: Revocation };
    } catch {
      return;
    }
    for (const handler of handlers) handler(published.revocation);
    redis.publish(ACKS, published.id).catch(() => {});
  });
  return {
    async publish(revocation) {
      // heard here at once, whatever Redis does
      for (const handler of handlers) handler(revocation);
      const id = randomUUID();
      let timer: NodeJS.Timeout | undefined;
      const acknowledged = new Promise<boolean>((resolve) => {
        waiting.set(id, { acks: 0, expected: Infinity, done: () => resolve(true) });
        timer = setTimeout(() => resolve(false), ACK_TIMEOUT_MS);
      });
      try {
        // the revocation is in Postgres already: an outage must not fail the request, nodes that lost
        // Redis stop trusting their caches anyway
        const receivers = await redis.publish(CHANNEL, JSON.stringify({ id, revocation }));
        const wait = waiting.get(id)!;
        wait.expected = receivers;
        if (wait.acks >= receivers) wait.done();
        if (!(await acknowledged)) log?.warn({ receivers, acks: wait.acks }, 'token revocation not acknowledged by every node in time');
      } catch (error) {
        log?.warn({ err: error }, 'token revocation not published');
      } finally {
        clearTimeout(timer);
        waiting.delete(id);
      }
    },
    subscribe(handler, reset) {
      handlers.push(handler);
      resets.push(reset);
    },
    listening: () => subscribed,
    async close() {
      sub.disconnect();
    },
  };
}
