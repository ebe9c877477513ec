import memjs from 'memjs';
import { randomInt } from 'node:crypto';
import type { Socket } from 'node:net';
import type { QueryCache } from './QueryCache.ts';

export interface MemcachedOptions {
  log?: { warn(obj: object, msg: string): void };
  /** per operation, connecting included */
  timeoutMs?: number;
  /** namespaces the keys when several applications share the servers */
  prefix?: string;
}

const VERSION_TTL_SECONDS = 24 * 60 * 60;
/** after a failure a server is left alone this long: calls are misses at once rather than timeouts */
const PAUSE_AFTER_FAILURE_MS = 1000;
const LOG_EVERY_MS = 60_000;
const MAX_ITEM_BYTES = 1_000_000;

/**
 * The query cache on Memcached (`host:port[,host:port...]`). Memcached is an optimisation, never a
 * dependency: when it is slow or down every call resolves as a miss or a no-op within the timeout,
 * queries answer from Postgres, and a warning is logged at most once a minute.
 */
export function createMemcachedCache(servers: string, { log, timeoutMs = 150, prefix = 'chat:' }: MemcachedOptions = {}): QueryCache {
  const client = memjs.Client.create(servers, {
    retries: 0,
    timeout: timeoutMs / 1000,
    conntimeout: timeoutMs / 1000,
    keepAlive: true,
    logger: { log() {} },
  });
  const pausedUntil = new Map<memjs.Server, number>();
  let loggedAt = -Infinity;

  /** Runs one operation on the key's server, or answers `fallback` when the server fails or is paused. */
  async function attempt<T>(key: string, fallback: T, operation: () => Promise<T>): Promise<T> {
    const server = client.server(key);
    if (!server || (pausedUntil.get(server) ?? 0) > Date.now()) return fallback;
    try {
      return await withTimeout(operation(), timeoutMs);
    } catch (error) {
      pausedUntil.set(server, Date.now() + PAUSE_AFTER_FAILURE_MS);
      if (Date.now() - loggedAt >= LOG_EVERY_MS) {
        loggedAt = Date.now();
        log?.warn({ err: error, server: `${server.host}:${server.port}` }, 'memcached unavailable: queries answer from Postgres');
      }
      return fallback;
    }
  }

  const versionKey = (scope: string) => `${prefix}v:${scope}`;

  // Requests issued in one turn of the event loop (the lookups of every HTTP request read in it)
  // leave in one write per server: a write costs a system call, which here costs more than the rest.
  let holding = false;
  const holdWrites = () => {
    if (holding) return;
    holding = true;
    const sockets = client.servers
      .map((server) => server as unknown as { _socket?: Socket; connected: boolean })
      .filter((server) => server.connected && server._socket)
      .map((server) => server._socket!);
    for (const socket of sockets) socket.cork();
    setImmediate(() => {
      holding = false;
      for (const socket of sockets) socket.uncork();
    });
  };
  const FAILED = Symbol('failed');

  return {
    async get(key) {
      const found = await attempt(prefix + key, null, () => client.get(prefix + key));
      return found?.value ? found.value.toString('utf8') : null;
    },
    async lookup(key, scopes) {
      holdWrites();
      const [value, versions] = await Promise.all([this.get(key), this.versions(scopes)]);
      return { value, versions };
    },
    async set(key, value, ttlSeconds) {
      // Memcached refuses items over 1 MB by default; such an answer is simply not cached
      if (Buffer.byteLength(value) > MAX_ITEM_BYTES) return;
      holdWrites();
      await attempt(prefix + key, false, () => client.set(prefix + key, value, { expires: ttlSeconds }));
    },
    async versions(scopes) {
      const read = await Promise.all(
        scopes.map((scope) => attempt<number | typeof FAILED>(versionKey(scope), FAILED, async () => {
          const { value } = await client.get(versionKey(scope));
          return value ? Number(value.toString('ascii')) : 0;
        })),
      );
      return read.some((version) => version === FAILED) ? null : (read as number[]);
    },
    async bump(scopes) {
      await Promise.all(
        scopes.map((scope) =>
          attempt(versionKey(scope), null, () =>
            // a version key Memcached forgot comes back at a random value rather than at 1, so the
            // answers stored under the versions it had before cannot be reached again
            client.increment(versionKey(scope), 1, { initial: randomInt(1, 2 ** 31), expires: VERSION_TTL_SECONDS }),
          ),
        ),
      );
    },
    async ping() {
      await withTimeout(client.get(`${prefix}ping`), timeoutMs);
    },
    async close() {
      client.close();
    },
  };
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`memcached: no answer in ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
