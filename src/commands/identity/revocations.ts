import type { Redis } from 'ioredis';

/** Tokens that stopped working: one token, or every token of a user but `except`. */
export type Revocation = { tokenId: string } | { userId: string; except?: string | undefined };

/**
 * How the nodes that cache tokens hear of revocations. `publish` resolves once every node
 * listening has been sent the revocation; `listening` is false while a node may have missed one
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

/**
 * Every node on one Redis: PUBLISH answers after Redis has queued the message to every
 * subscriber, so a node hears a revocation about when the revoking request is answered. The
 * subscriber is a connection of its own (a subscribed connection can do nothing else).
 */
export function redisRevocations(redis: Redis, log?: { warn(obj: object, msg: string): void }): RevocationBus {
  const sub = redis.duplicate({ lazyConnect: false, maxRetriesPerRequest: 2 });
  let subscribed = false;
  const handlers: ((revocation: Revocation) => void)[] = [];
  const resets: (() => void)[] = [];
  const lost = () => {
    if (subscribed) log?.warn({}, 'token revocations unheard while Redis is away: tokens are checked in Postgres');
    subscribed = false;
    for (const reset of resets) reset();
  };
  sub.on('error', () => lost());
  sub.on('close', lost);
  sub.on('ready', () => {
    sub.subscribe(CHANNEL).then(
      () => {
        // what was cached before this subscription may have missed a revocation
        for (const reset of resets) reset();
        subscribed = true;
      },
      () => lost(),
    );
  });
  sub.on('message', (channel: string, message: string) => {
    if (channel !== CHANNEL) return;
    let revocation: Revocation;
    try {
      revocation = JSON.parse(message) as Revocation;
    } catch {
      return;
    }
    for (const handler of handlers) handler(revocation);
  });
  return {
    async publish(revocation) {
      // heard here at once, whatever Redis does
      for (const handler of handlers) handler(revocation);
      // the revocation is in Postgres already: an outage must not fail the request, nodes that lost
      // Redis stop trusting their caches anyway
      await redis.publish(CHANNEL, JSON.stringify(revocation)).catch((error: unknown) => log?.warn({ err: error }, 'token revocation not published'));
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
