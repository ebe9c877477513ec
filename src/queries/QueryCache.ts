import { createHash } from 'node:crypto';

/**
 * The cache in front of queries. Answers are stored under keys that include the current version
 * of every scope they depend on (`user:<uuid>`, `users`, `chat:<uuid>`); projections bump a
 * scope's version after each commit that changes it, so a cached answer is never staler than the
 * projection itself. Every method degrades to a miss or a no-op when the cache is unreachable.
 */
export interface QueryCache {
  get(key: string): Promise<string | null>;
  set(key: string, value: string, ttlSeconds: number): Promise<void>;
  /** one version per scope, 0 for a scope never bumped; null when they cannot be read, so nothing cached may be trusted */
  versions(scopes: string[]): Promise<number[] | null>;
  bump(scopes: string[]): Promise<void>;
  /** rejects when the cache is configured but unreachable (for /readyz) */
  ping(): Promise<void>;
  close(): Promise<void>;
}

export interface CachedRead {
  /** what the answer depends on besides its scopes: query name and arguments */
  key: readonly unknown[];
  scopes: string[];
  ttl: number;
  /** the X-Min-Position of the request: a cached answer from before it is not good enough */
  minPosition?: bigint | undefined;
  /** a position the read models have reached; asked only when an answer is about to be computed */
  position: () => Promise<bigint>;
}

interface Stored<T> {
  position: string;
  value: T;
}

/**
 * Answers from the cache when it holds an answer for the current scope versions that is at least
 * as recent as `minPosition`; otherwise computes the answer and stores it with `position`.
 * Versions are read before computing: a bump that lands meanwhile only orphans what is stored.
 */
export async function cached<T>(cache: QueryCache, read: CachedRead, compute: () => Promise<T>): Promise<T> {
  const versions = await cache.versions(read.scopes);
  if (!versions) return compute();
  const key = cacheKey(read.key, read.scopes, versions);
  const hit = parse<T>(await cache.get(key));
  if (hit && (read.minPosition === undefined || BigInt(hit.position) >= read.minPosition)) return hit.value;
  const position = await read.position();
  const value = await compute();
  const stored: Stored<T> = { position: String(position), value };
  await cache.set(key, JSON.stringify(stored), read.ttl);
  return value;
}

/** A hash, as Memcached keys are at most 250 bytes without spaces, and key parts carry user input. */
export function cacheKey(parts: readonly unknown[], scopes: readonly string[], versions: readonly number[]): string {
  const digest = createHash('sha256')
    .update(JSON.stringify([parts, scopes, versions]))
    .digest('base64url');
  return `q:${digest}`;
}

function parse<T>(text: string | null): Stored<T> | null {
  if (text === null) return null;
  try {
    const stored = JSON.parse(text) as Stored<T>;
    return typeof stored?.position === 'string' && /^\d+$/.test(stored.position) ? stored : null;
  } catch {
    return null;
  }
}
