import { expect } from 'chai';
import Koa from 'koa';
import type { Knex } from 'knex';
import { randomUUID } from 'node:crypto';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createKnex } from '../../src/db/database.ts';
import { createIdentityStore, type IdentityStore } from '../../src/commands/identity/IdentityStore.ts';
import { authenticate, type AuthState } from '../../src/http/authentication.ts';
import { errorHandler } from '../../src/http/errors.ts';
import { createLogger } from '../../src/log.ts';
import { freshDatabase, type TestDatabase } from '../support/services.ts';

describe('authentication middleware', () => {
  let db: TestDatabase;
  let knex: Knex;
  let identity: IdentityStore;
  let server: Server;
  let url: string;
  let userId: string;
  let token: { key: string; tokenId: string };

  before(async () => {
    db = await freshDatabase();
    knex = createKnex(db.url);
    identity = createIdentityStore(knex);
    userId = randomUUID();
    await identity.addCredentials(userId, `auth-${userId}@example.com`, null);
    token = await identity.issueToken(userId);

    const app = new Koa<AuthState>();
    app.use(errorHandler(createLogger('silent')));
    app.use(authenticate(identity));
    app.use((ctx) => {
      ctx.body = { auth: ctx.state.auth };
    });
    server = app.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/anything/`;
  });
  after(async () => {
    await new Promise((resolve) => server.close(resolve));
    await knex.destroy();
    await db.drop();
  });

  const call = (authorization?: string) => fetch(url, { headers: authorization === undefined ? {} : { authorization } });

  async function expectRefused(response: Response, code: string, detail: string) {
    expect(response.status).to.equal(401);
    expect(await response.json()).to.deep.equal({ detail, code });
    expect(response.headers.get('www-authenticate')).to.equal('Token');
  }

  it('refuses a request with no Authorization header: 401 not_authenticated', async () => {
    await expectRefused(await call(), 'not_authenticated', 'Authentication credentials were not provided.');
  });

  it('takes another scheme as no credentials', async () => {
    await expectRefused(await call(`Basic ${Buffer.from('a:b').toString('base64')}`), 'not_authenticated', 'Authentication credentials were not provided.');
  });

  it('refuses an unknown token, a token header with no key, and one with more than a key: 401 invalid_token', async () => {
    for (const header of [`Token ${'0'.repeat(40)}`, 'Token', `Token ${token.key} extra`, `Bearer ${token.key.slice(2)}`]) {
      await expectRefused(await call(header), 'invalid_token', 'Invalid token.');
    }
  });

  for (const scheme of ['Token', 'Bearer', 'token', 'bearer']) {
    it(`accepts "${scheme} <key>" and puts the caller into ctx.state.auth`, async () => {
      const response = await call(`${scheme} ${token.key}`);
      expect(response.status).to.equal(200);
      expect(await response.json()).to.deep.equal({ auth: { userId, tokenId: token.tokenId } });
      expect(response.headers.get('www-authenticate')).to.equal(null);
    });
  }

  it('refuses a token as soon as it is revoked', async () => {
    const revoked = await identity.issueToken(userId);
    expect((await call(`Token ${revoked.key}`)).status).to.equal(200);
    await identity.revokeToken(revoked.tokenId);
    await expectRefused(await call(`Token ${revoked.key}`), 'invalid_token', 'Invalid token.');
  });
});
