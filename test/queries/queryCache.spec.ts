import { expect } from 'chai';
import { randomUUID } from 'node:crypto';
import { createMemcachedCache } from '../../src/queries/createMemcachedCache.ts';
import { createMemoryCache } from '../../src/queries/createMemoryCache.ts';
import { cached, type QueryCache } from '../../src/queries/QueryCache.ts';
import { requireService } from '../support/services.ts';

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** What every cache must do; `ttlCheck` waits for a 1 s TTL to pass. */
function cacheContract(make: () => { cache: QueryCache; expire(seconds: number): Promise<void> }) {
  let cache: QueryCache;
  let expire: (seconds: number) => Promise<void>;
  // scopes unique to each test, as a real Memcached keeps what earlier runs stored
  let scope: string;
  beforeEach(() => {
    ({ cache, expire } = make());
    scope = `user:${randomUUID()}`;
  });
  afterEach(async () => {
    await cache.close();
  });

  it('answers a stored value, and a miss for an unknown key', async () => {
    await cache.set(`k-${scope}`, 'value', 60);
    expect(await cache.get(`k-${scope}`)).to.equal('value');
    expect(await cache.get(`other-${scope}`)).to.equal(null);
  });

  it('forgets a value once its TTL has passed', async function () {
    this.timeout(5000);
    await cache.set(`k-${scope}`, 'value', 1);
    await expire(1);
    expect(await cache.get(`k-${scope}`)).to.equal(null);
  });

  it('reads 0 for a scope never bumped, and a new version after each bump', async () => {
    const other = `chat:${randomUUID()}`;
    expect(await cache.versions([scope, other])).to.deep.equal([0, 0]);
    await cache.bump([scope]);
    const [first, untouched] = (await cache.versions([scope, other]))!;
    expect(first).to.not.equal(0);
    expect(untouched).to.equal(0);
    await cache.bump([scope, other]);
    const [second, bumped] = (await cache.versions([scope, other]))!;
    expect(second).to.not.equal(first);
    expect(bumped).to.not.equal(0);
  });

  it('looks up a value and the versions of its scopes together, many lookups at once', async () => {
    const none = `chat:${randomUUID()}`;
    await cache.bump([scope]);
    await cache.set(`k-${scope}`, 'v', 60);
    const [version] = (await cache.versions([scope]))!;
    const answers = await Promise.all(Array.from({ length: 50 }, (_, i) => cache.lookup(i % 2 ? `k-${scope}` : `other-${scope}`, [scope, none])));
    answers.forEach((answer, i) => expect(answer).to.deep.equal({ value: i % 2 ? 'v' : null, versions: [version, 0] }));
  });

  it('cached: an answer computed while one of its scopes was bumped is not served afterwards', async () => {
    let computed = 0;
    const read = () =>
      cached(cache, { key: ['race', scope], scopes: [scope], ttl: 60, position: async () => 1n }, async () => {
        const n = ++computed;
        if (n === 1) await cache.bump([scope]);
        return n;
      });
    expect(await read()).to.equal(1);
    expect(await read()).to.equal(2);
    expect(await read()).to.equal(2);
  });

  it('cached: computes once, then answers from the cache until a scope is bumped', async () => {
    let computed = 0;
    const read = () => cached(cache, { key: ['q', scope], scopes: [scope, 'users'], ttl: 60, position: async () => 10n }, async () => ({ n: ++computed }));
    expect(await read()).to.deep.equal({ n: 1 });
    expect(await read()).to.deep.equal({ n: 1 });
    await cache.bump([scope]);
    expect(await read()).to.deep.equal({ n: 2 });
    expect(await read()).to.deep.equal({ n: 2 });
  });

  it('cached: bypasses an answer stored at a position older than the request’s minimum', async () => {
    let computed = 0;
    const read = (position: bigint, minPosition?: bigint) =>
      cached(cache, { key: ["q", scope], scopes: [scope], ttl: 60, position: async () => position, minPosition }, async () => ++computed);
    expect(await read(10n)).to.equal(1);
    expect(await read(10n, 10n)).to.equal(1);
    expect(await read(12n, 11n)).to.equal(2);
    // the recomputed answer replaced the older one
    expect(await read(12n, 12n)).to.equal(2);
    expect(await read(12n)).to.equal(2);
  });

  it('cached: keys carry user input safely (spaces, long phrases, any characters)', async () => {
    const phrase = `' or 1=1 -- ${'x'.repeat(500)} \n\u0000 ünï`;
    let computed = 0;
    const read = () => cached(cache, { key: ['search', phrase], scopes: [scope], ttl: 60, position: async () => 1n }, async () => ++computed);
    expect(await read()).to.equal(1);
    expect(await read()).to.equal(1);
  });
}

describe('query cache: in memory', () => {
  let now = 0;
  cacheContract(() => ({
    cache: createMemoryCache({ now: () => now }),
    expire: async (seconds) => void (now += seconds * 1000 + 1),
  }));

  it('stays within its size, forgetting the least recently used', async () => {
    const cache = createMemoryCache({ maxEntries: 2 });
    await cache.set('a', '1', 60);
    await cache.set('b', '2', 60);
    await cache.get('a');
    await cache.set('c', '3', 60);
    expect(await cache.get('a')).to.equal('1');
    expect(await cache.get('b')).to.equal(null);
    expect(await cache.get('c')).to.equal('3');
  });

  it('never brings back an answer stored under a version it forgot', async () => {
    const cache = createMemoryCache({ maxEntries: 2 });
    let computed = 0;
    const read = () => cached(cache, { key: ['q'], scopes: ['user:a'], ttl: 60, position: async () => 1n }, async () => ++computed);
    await cache.bump(['user:a']);
    expect(await read()).to.equal(1);
    // two other scopes push user:a's version out; the answer stored under it must not return
    await cache.bump(['user:b', 'user:c']);
    expect(await read()).to.equal(2);
    await cache.bump(['user:a']);
    expect(await read()).to.equal(3);
  });
});

describe('query cache: Memcached', () => {
  let servers: string;
  before(function () {
    servers = requireService(this, 'memcached');
  });

  cacheContract(() => ({
    cache: createMemcachedCache(servers),
    expire: (seconds) => sleep(seconds * 1000 + 1500),
  }));
});

describe('query cache: Memcached down', () => {
  const warnings: unknown[] = [];
  let cache: QueryCache;
  beforeEach(() => {
    // nothing listens on port 1
    cache = createMemcachedCache('127.0.0.1:1', { log: { warn: (obj) => void warnings.push(obj) } });
  });
  afterEach(async () => {
    await cache.close();
  });

  const quickly = async <T>(call: () => Promise<T>): Promise<T> => {
    const started = Date.now();
    const result = await call();
    expect(Date.now() - started).to.be.below(500);
    return result;
  };

  it('answers misses and no-ops at once, never throwing', async () => {
    for (let round = 0; round < 3; round++) {
      expect(await quickly(() => cache.get('k'))).to.equal(null);
      await quickly(() => cache.set('k', 'v', 60));
      expect(await quickly(() => cache.versions(['users']))).to.equal(null);
      await quickly(() => cache.bump(['users']));
    }
  });

  it('lets cached() compute every time', async () => {
    let computed = 0;
    const read = () => quickly(() => cached(cache, { key: ['q'], scopes: ['users'], ttl: 60, position: async () => 1n }, async () => ++computed));
    expect(await read()).to.equal(1);
    expect(await read()).to.equal(2);
  });

  it('logs at most once a minute', async () => {
    warnings.length = 0;
    for (let i = 0; i < 5; i++) await cache.get(`k${i}`);
    await sleep(1100);
    for (let i = 0; i < 5; i++) await cache.get(`k${i}`);
    expect(warnings).to.have.length(1);
  });

  it('fails its readiness ping', async () => {
    let failed = false;
    await cache.ping().catch(() => (failed = true));
    expect(failed).to.equal(true);
  });
});
