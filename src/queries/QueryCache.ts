import { createHash } from 'node:crypto';

/**
 * The cache in front of queries. Each answer is stored with the version of every scope it
 * depends on (`user:<uuid>`, `users`, `chat:<uuid>`) as they were when it was computed;
 * projections bump a scope's version after each commit that changes it, and an answer whose
 * versions are no longer current is a miss, so a cached answer is never staler than the
 * projection itself. Every method degrades to a miss or a no-op when the cache is unreachable.
 */
export interface QueryCache {
  get(key: string): Promise<string | null>;
  /** the value at `key` and the scopes' versions, in one round trip where the cache allows */
  lookup(key: string, scopes: string[]): Promise<{ value: string | null; versions: number[] | null }>;
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
  /** the scopes' versions read before the answer was computed */
  versions: number[];
  value: T;
}

/** A scope every answer depends on: bumped when a read model is swapped for a rebuilt one (src/projections/rebuildProjections.ts). */
export const GENERATION_SCOPE = 'generation';

/**
 * Answers from the cache when it holds an answer computed under the current scope versions that
 * is at least as recent as `minPosition`; otherwise computes the answer and stores it with the
 * versions read before computing (a bump that lands meanwhile makes it a miss) and `position`.
 */
export async function cached<T>(cache: QueryCache, read: CachedRead, compute: () => Promise<T>): Promise<T> {
  const key = cacheKey(read.key, read.scopes);
  const { value, versions } = await cache.lookup(key, [GENERATION_SCOPE, ...read.scopes]);
  if (!versions) return compute();
  const hit = parse<T>(value);
  if (hit && sameVersions(hit.versions, versions) && (read.minPosition === undefined || BigInt(hit.position) >= read.minPosition)) return hit.value;
  const position = await read.position();
  const computed = await compute();
  const stored: Stored<T> = { position: String(position), versions, value: computed };
  await cache.set(key, JSON.stringify(stored), read.ttl);
  return computed;
}

const sameVersions = (a: readonly number[], b: readonly number[]) => a.length === b.length && a.every((v, i) => v === b[i]);

/** A hash, as Memcached keys are at most 250 bytes without spaces, and key parts carry user input. */
export function cacheKey(parts: readonly unknown[], scopes: readonly string[]): string {
  const digest = createHash('sha256')
    .update(JSON.stringify([parts, scopes]))
    .digest('base64url');
  return `q:${digest}`;
}

function parse<T>(text: string | null): Stored<T> | null {
  if (text === null) return null;
  try {
    const stored = JSON.parse(text) as Stored<T>;
    return typeof stored?.position === 'string' && /^\d+$/.test(stored.position) && Array.isArray(stored.versions) ? stored : null;
  } catch {
    return null;
  }
}
