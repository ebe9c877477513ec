import type { Redis } from 'ioredis';

export interface RateLimiter {
  /** true when `key` may act once more in the current second */
  allow(key: string, perSecond: number): Promise<boolean>;
}

/** Fixed one-second windows in Redis, shared by every gateway node; a Redis failure lets the action through. */
export function redisRateLimiter(redis: Redis): RateLimiter {
  return {
    async allow(key, perSecond) {
      const window = `rate:${key}:${Math.floor(Date.now() / 1000)}`;
      try {
        const [[, count]] = (await redis.multi().incr(window).expire(window, 2).exec()) as [[Error | null, number]];
        return count <= perSecond;
      } catch {
        return true;
      }
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
