import { expect } from 'chai';
import { Redis } from 'ioredis';
import type { Knex } from 'knex';
import { randomUUID } from 'node:crypto';
import { createIdentityStore, type IdentityStore } from '../../src/commands/identity/IdentityStore.ts';
import { localRevocations, redisRevocations, type RevocationBus } from '../../src/commands/identity/revocations.ts';
import { createKnex } from '../../src/db/database.ts';
import { freshDatabase, requireService, type TestDatabase } from '../support/services.ts';

/** The token cache must never outlive a revocation: each case revokes and asks again at once. */
function revocationCases(makeNodes: (knex: Knex, context: Mocha.Context) => { a: IdentityStore; b: IdentityStore; buses: RevocationBus[] }) {
  let db: TestDatabase;
  let knex: Knex;
  let a: IdentityStore;
  let b: IdentityStore;
  let buses: RevocationBus[] = [];

  before(async function () {
    db = await freshDatabase();
    knex = createKnex(db.url);
    ({ a, b, buses } = makeNodes(knex, this));
    for (let i = 0; i < 100 && !buses.every((bus) => bus.listening()); i++) await new Promise((resolve) => setTimeout(resolve, 20));
    expect(buses.every((bus) => bus.listening()), 'revocation buses listening').to.equal(true);
  });
  after(async () => {
    for (const bus of buses) await bus.close();
    await knex?.destroy();
    await db.drop();
  });

  async function user() {
    const userId = randomUUID();
    await a.addCredentials(userId, `cache-${userId}@example.com`, 'scrypt$1$1$1$AA==$AA==');
    return userId;
  }
  /** both nodes have authenticated the token, so both have it cached */
  async function seen(key: string, expected: { userId: string; tokenId: string }) {
    for (const node of [a, b]) for (let i = 0; i < 2; i++) expect(await node.authenticate(key)).to.deep.equal(expected);
  }

  it('answers a cached token as Postgres did, and serves many concurrent requests with one token', async () => {
    const userId = await user();
    const token = await a.issueToken(userId);
    const answers = await Promise.all(Array.from({ length: 50 }, () => b.authenticate(token.key)));
    for (const answer of answers) expect(answer).to.deep.equal({ userId, tokenId: token.tokenId });
    expect(await b.authenticate('f'.repeat(40))).to.equal(null);
  });

  it('answers from its cache: only revocations made through the store are heard', async () => {
    const userId = await user();
    const token = await a.issueToken(userId);
    await seen(token.key, { userId, tokenId: token.tokenId });
    // behind the store's back, which the application never does
    await knex('identity_tokens').where({ id: token.tokenId }).update({ revoked_at: knex.fn.now() });
    expect(await b.authenticate(token.key)).to.deep.equal({ userId, tokenId: token.tokenId });
    await a.revokeToken(token.tokenId);
    expect(await b.authenticate(token.key)).to.equal(null);
  });

  it('refuses a logged-out token on every node right after the revocation returns', async () => {
    const userId = await user();
    const token = await a.issueToken(userId);
    const other = await a.issueToken(userId);
    await seen(token.key, { userId, tokenId: token.tokenId });
    await seen(other.key, { userId, tokenId: other.tokenId });
    await a.revokeToken(token.tokenId);
    expect(await a.authenticate(token.key)).to.equal(null);
    expect(await b.authenticate(token.key)).to.equal(null);
    expect(await b.authenticate(other.key)).to.deep.equal({ userId, tokenId: other.tokenId });
  });

  it('refuses the other tokens on every node after a password change, keeping the caller’s', async () => {
    const userId = await user();
    const bystander = await user();
    const [keep, drop] = [await a.issueToken(userId), await a.issueToken(userId)];
    const theirs = await a.issueToken(bystander);
    for (const t of [keep, drop]) await seen(t.key, { userId, tokenId: t.tokenId });
    await seen(theirs.key, { userId: bystander, tokenId: theirs.tokenId });
    await b.changePassword(userId, 'scrypt$1$1$1$AQ==$AQ==', keep.tokenId);
    for (const node of [a, b]) {
      expect(await node.authenticate(drop.key)).to.equal(null);
      expect(await node.authenticate(keep.key)).to.deep.equal({ userId, tokenId: keep.tokenId });
      expect(await node.authenticate(theirs.key)).to.deep.equal({ userId: bystander, tokenId: theirs.tokenId });
    }
  });

  it('refuses every token of an account whose credentials are removed', async () => {
    const userId = await user();
    const token = await a.issueToken(userId);
    await seen(token.key, { userId, tokenId: token.tokenId });
    await a.removeCredentials(userId);
    expect(await a.authenticate(token.key)).to.equal(null);
    expect(await b.authenticate(token.key)).to.equal(null);
  });

  it('does not cache a lookup that a revocation overtook', async () => {
    const userId = await user();
    const token = await a.issueToken(userId);
    // b's lookup is in flight while a revokes: whatever it read must not be remembered
    const inFlight = b.authenticate(token.key);
    await a.revokeToken(token.tokenId);
    await inFlight;
    expect(await b.authenticate(token.key)).to.equal(null);
  });
}

describe('token cache, one node (in-process revocations)', () => {
  // the routes and the gateway of one node share its bus
  revocationCases((knex) => {
    const bus = localRevocations();
    return { a: createIdentityStore(knex, { revocations: bus }), b: createIdentityStore(knex, { revocations: bus }), buses: [bus] };
  });
});

describe('token cache, two nodes (revocations through Redis)', function () {
  const redisClients: Redis[] = [];
  after(() => redisClients.forEach((r) => r.disconnect()));

  revocationCases((knex, context) => {
    const url = requireService(context, 'redis');
    const node = () => {
      const redis = new Redis(url);
      redisClients.push(redis);
      return redisRevocations(redis);
    };
    const [busA, busB] = [node(), node()];
    return { a: createIdentityStore(knex, { revocations: busA }), b: createIdentityStore(knex, { revocations: busB }), buses: [busA, busB] };
  });

  it('asks Postgres while its subscription is not up, rather than trust a cache that may have missed a revocation', async function () {
    const url = requireService(this, 'redis');
    const redis = new Redis(url);
    redisClients.push(redis);
    const bus = redisRevocations(redis);
    expect(bus.listening()).to.equal(false);
    for (let i = 0; i < 50 && !bus.listening(); i++) await new Promise((resolve) => setTimeout(resolve, 20));
    expect(bus.listening()).to.equal(true);
    await bus.close();
    for (let i = 0; i < 50 && bus.listening(); i++) await new Promise((resolve) => setTimeout(resolve, 20));
    expect(bus.listening()).to.equal(false);
  });
});
