import type { Redis } from 'ioredis';

export interface RateLimiter {
  /** true when `key` may act once more in the current second */
  allow(key: string, perSecond: number): Promise<boolean>;
}

/** counts one action in each window (KEYS) and gives a window its expiry when it opens; answers the counts */
const COUNT = `local counts = {}
for i, key in ipairs(KEYS) do
  counts[i] = redis.call('INCR', key)
  if counts[i] == 1 then redis.call('EXPIRE', key, 2) end
end
return counts`;

/**
 * Fixed one-second windows in Redis, shared by every gateway node; a Redis failure lets the action
 * through. The checks asked for in one turn of the event loop go to Redis as one command.
 */
export function redisRateLimiter(redis: Redis): RateLimiter {
  let asked: { window: string; perSecond: number; answer: (allowed: boolean) => void }[] = [];
  const count = async () => {
    const batch = asked;
    asked = [];
    try {
      // EVAL with the script itself: nothing to reload when Redis restarts without its script cache
      const counts = (await redis.eval(COUNT, batch.length, ...batch.map((a) => a.window))) as number[];
      batch.forEach((a, i) => a.answer(counts[i]! <= a.perSecond));
    } catch {
      for (const a of batch) a.answer(true);
    }
  };
  return {
    allow(key, perSecond) {
      return new Promise((answer) => {
        if (asked.length === 0) setImmediate(() => void count());
        asked.push({ window: `rate:${key}:${Math.floor(Date.now() / 1000)}`, perSecond, answer });
      });
    },
  };
}

/** The same windows in this process, for a single node without Redis. */
export function memoryRateLimiter(): RateLimiter {
  const windows = new Map<string, number>();
  let second = 0;
  return {
    async allow(key, perSecond) {
      const now = Math.floor(Date.now() / 1000);
      if (now !== second) {
        windows.clear();
        second = now;
      }
      const count = (windows.get(key) ?? 0) + 1;
      windows.set(key, count);
      return count <= perSecond;
    },
  };
}
