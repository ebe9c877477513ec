import type { QueryCache } from './QueryCache.ts';

interface Entry {
  value: string;
  expiresAt: number;
}

/**
 * The in-process cache for a single process without Memcached: answers with TTLs and scope
 * versions, each in a map that forgets its least recently used entries beyond `maxEntries`.
 */
export function createMemoryCache({ maxEntries = 10_000, now = Date.now }: { maxEntries?: number; now?: () => number } = {}): QueryCache {
  const answers = new Map<string, Entry>();
  const versions = new Map<string, number>();
  // Versions come from one clock. A forgotten scope reads as the clock at the last forgetting, a
  // value it never had before, so answers stored under its earlier versions stay unreachable.
  let clock = 0;
  let forgotten = 0;

  const touch = <V>(map: Map<string, V>, key: string, value: V) => {
    map.delete(key);
    map.set(key, value);
    if (map.size > maxEntries) {
      const oldest = map.keys().next().value!;
      map.delete(oldest);
      return true;
    }
    return false;
  };

  return {
    async get(key) {
      const entry = answers.get(key);
      if (!entry) return null;
      if (entry.expiresAt <= now()) {
        answers.delete(key);
        return null;
      }
      touch(answers, key, entry);
      return entry.value;
    },
    async lookup(key, scopes) {
      return { value: await this.get(key), versions: await this.versions(scopes) };
    },
    async set(key, value, ttlSeconds) {
      touch(answers, key, { value, expiresAt: now() + ttlSeconds * 1000 });
    },
    async versions(scopes) {
      return scopes.map((scope) => versions.get(scope) ?? forgotten);
    },
    async bump(scopes) {
      for (const scope of scopes) {
        if (touch(versions, scope, ++clock)) forgotten = clock;
      }
    },
    async ping() {},
    async close() {
      answers.clear();
    },
  };
}
