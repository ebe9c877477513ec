import { expect } from 'chai';
import { Redis } from 'ioredis';
import { randomUUID } from 'node:crypto';
import { memoryRateLimiter, redisRateLimiter, type RateLimiter } from '../../src/gateway/RateLimiter.ts';
import { requireService } from '../support/services.ts';

/** the start of the next second, so a burst falls in one window */
const nextSecond = () => new Promise((resolve) => setTimeout(resolve, 1000 - (Date.now() % 1000) + 5));

function contract(name: string, make: () => RateLimiter) {
  describe(name, () => {
    it('allows `perSecond` actions of a key in a second and refuses the rest, each key on its own, also when asked all at once', async () => {
      const limiter = make();
      const [a, b] = [`test:${randomUUID()}`, `test:${randomUUID()}`];
      await nextSecond();
      // one turn of the event loop: the Redis limiter sends these as one command
      const answers = await Promise.all([...Array.from({ length: 8 }, () => limiter.allow(a, 5)), ...Array.from({ length: 3 }, () => limiter.allow(b, 5))]);
      expect(answers.slice(0, 8)).to.deep.equal([true, true, true, true, true, false, false, false]);
      expect(answers.slice(8)).to.deep.equal([true, true, true]);
    });

    it('opens a new window the next second', async () => {
      const limiter = make();
      const key = `test:${randomUUID()}`;
      await nextSecond();
      expect(await Promise.all([limiter.allow(key, 1), limiter.allow(key, 1)])).to.deep.equal([true, false]);
      await nextSecond();
      expect(await limiter.allow(key, 1)).to.equal(true);
    });
  });
}

describe('rate limiters', () => {
  contract('in process', memoryRateLimiter);

  describe('on Redis', () => {
    let redis: Redis;
    before(function () {
      redis = new Redis(requireService(this, 'redis'));
    });
    after(() => redis?.disconnect());

    contract('shared windows', () => redisRateLimiter(redis));

    it('gives each window an expiry, so Redis forgets it', async () => {
      const key = `test:${randomUUID()}`;
      await redisRateLimiter(redis).allow(key, 5);
      const windows = await redis.keys(`rate:${key}:*`);
      expect(windows).to.have.length(1);
      const ttl = await redis.ttl(windows[0]!);
      expect(ttl).to.be.within(1, 2);
    });

    it('lets actions through when Redis cannot be reached', async () => {
      const down = new Redis('redis://127.0.0.1:1', { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
      down.on('error', () => {});
      try {
        expect(await Promise.all([1, 2, 3].map(() => redisRateLimiter(down).allow(`test:${randomUUID()}`, 1)))).to.deep.equal([true, true, true]);
      } finally {
        down.disconnect();
      }
    });
  });
});
