import { createMemcachedCache } from './createMemcachedCache.ts';
import { createMemoryCache } from './createMemoryCache.ts';
import type { QueryCache } from './QueryCache.ts';

/** Memcached when MEMCACHED_SERVERS is set (shared by every node), otherwise an in-process cache. */
export function createQueryCache(servers: string | undefined, log: { warn(obj: object, msg: string): void }): QueryCache {
  return servers ? createMemcachedCache(servers, { log }) : createMemoryCache();
}
