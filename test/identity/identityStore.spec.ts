import { expect } from 'chai';
import type { Knex } from 'knex';
import { createHash, randomUUID, scryptSync } from 'node:crypto';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createKnex } from '../../src/db/database.ts';
import { EmailTakenError, createIdentityStore, type IdentityStore } from '../../src/commands/identity/IdentityStore.ts';
import { hashPassword, parseHash, passwordProblems, verifyPassword } from '../../src/commands/identity/passwords.ts';
import { freshDatabase, type TestDatabase } from '../support/services.ts';

const uniqueEmail = (name = 'user') => `${name}-${randomUUID().slice(0, 8)}@example.com`;

describe('passwords', () => {
  it('verifies the password a hash was made from, and no other', async () => {
    const encoded = await hashPassword('correct horse battery');
    expect(await verifyPassword('correct horse battery', encoded)).to.equal(true);
    expect(await verifyPassword('correct horse batterY', encoded)).to.equal(false);
    expect(await verifyPassword('', encoded)).to.equal(false);
  });

  it('writes scrypt with N=2^14, r=8, p=1, a 16-byte salt and a 32-byte key into the hash, salted afresh each time', async () => {
    const encoded = await hashPassword('same password');
    expect(encoded).to.match(/^scrypt\$16384\$8\$1\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$/);
    const parsed = parseHash(encoded)!;
    expect(parsed.salt).to.have.length(16);
    expect(parsed.hash).to.have.length(32);
    expect(await hashPassword('same password')).not.to.equal(encoded);
  });

  it('still verifies hashes made with other parameters, which it reads from the hash', async () => {
    const encoded = await hashPassword('portable secret');
    const [, , , , salt] = encoded.split('$');
    const older = `scrypt$1024$4$2$${salt}$${scryptSync('portable secret', Buffer.from(salt!, 'base64'), 24, { N: 1024, r: 4, p: 2 }).toString('base64')}`;
    expect(await verifyPassword('portable secret', older)).to.equal(true);
    expect(await verifyPassword('portable secreT', older)).to.equal(false);
  });

  it('refuses malformed and truncated hashes instead of matching them', async () => {
    const encoded = await hashPassword('whatever you say');
    const truncated = encoded.replace(/\$[^$]+$/, '$AAAA');
    for (const bad of ['', 'plain', 'bcrypt$16384$8$1$c2FsdA==$aGFzaA==', truncated, `${encoded}$extra`]) {
      expect(await verifyPassword('whatever you say', bad), bad).to.equal(false);
    }
  });

  it('names each weak-password rule the contract has, and nothing for a good password', () => {
    expect(passwordProblems('s3cret!', 'a@example.com')).to.deep.equal(['This password is too short. It must contain at least 8 characters.']);
    expect(passwordProblems('1234567890', 'a@example.com')).to.deep.equal(['This password is entirely numeric.']);
    expect(passwordProblems('1234', 'a@example.com')).to.have.length(2);
    expect(passwordProblems('Alice.Smith', 'alice.smith@example.com')).to.deep.equal(['The password is too similar to the email.']);
    expect(passwordProblems('alice.smith', 'ALICE.SMITH@Example.com')).to.deep.equal(['The password is too similar to the email.']);
    expect(passwordProblems('alice.smith2', 'alice.smith@example.com')).to.deep.equal([]);
    expect(passwordProblems('correct horse battery', 'alice@example.com')).to.deep.equal([]);
  });
});

describe('identity store (Postgres)', () => {
  let db: TestDatabase;
  let knex: Knex;
  let identity: IdentityStore;
  before(async () => {
    db = await freshDatabase();
    knex = createKnex(db.url);
    identity = createIdentityStore(knex);
  });
  after(async () => {
    await knex.destroy();
    await db.drop();
  });

  async function register(password: string | null = 'long enough password', email = uniqueEmail()) {
    const userId = randomUUID();
    await identity.addCredentials(userId, email, password === null ? null : await hashPassword(password));
    return { userId, email };
  }

  it('logs in with the email in any letter case', async () => {
    const { userId, email } = await register('long enough password', uniqueEmail('MixedCase'));
    expect(await identity.login(email, 'long enough password')).to.equal(userId);
    expect(await identity.login(email.toUpperCase(), 'long enough password')).to.equal(userId);
    expect(await identity.login(email.toLowerCase(), 'long enough password')).to.equal(userId);
    expect(await identity.userIdForEmail(email.toUpperCase())).to.equal(userId);
  });

  it('answers null alike for a wrong password, an unknown email and a Google-only account', async () => {
    const { email } = await register('long enough password');
    const googleOnly = await register(null);
    expect(await identity.login(email, 'wrong password!!')).to.equal(null);
    expect(await identity.login(uniqueEmail('nobody'), 'long enough password')).to.equal(null);
    expect(await identity.login(googleOnly.email, '')).to.equal(null);
    expect(await identity.login(googleOnly.email, 'long enough password')).to.equal(null);
  });

  it('runs one scrypt with the current parameters on a dummy hash when there is no hash to check', async () => {
    const verified: string[] = [];
    const watched = createIdentityStore(knex, {
      verifyPassword: async (password, encoded) => {
        verified.push(encoded);
        return verifyPassword(password, encoded);
      },
    });
    const { email } = await register('long enough password');
    const googleOnly = await register(null);

    await watched.login(email, 'wrong password!!');
    await watched.login(uniqueEmail('nobody'), 'long enough password');
    await watched.login(googleOnly.email, 'long enough password');

    expect(verified).to.have.length(3);
    const [real, unknown, google] = verified.map((encoded) => parseHash(encoded));
    expect(unknown, 'the unknown email verified a real scrypt hash').to.not.equal(null);
    expect(unknown!.params).to.deep.equal(real!.params);
    expect(unknown!.hash).to.have.length(real!.hash.length);
    expect(verified[1], 'one fixed dummy hash').to.equal(verified[2]);
    expect(verified[1]).not.to.equal(verified[0]);
    expect(google).to.deep.equal(unknown);
  });

  it('refuses a second account whose email differs only in letter case, with EmailTakenError', async () => {
    const { email } = await register();
    const error = await identity.addCredentials(randomUUID(), email.toUpperCase(), null).catch((e: unknown) => e);
    expect(error).to.be.instanceOf(EmailTakenError);
    expect((error as EmailTakenError).email).to.equal(email.toUpperCase());
  });

  it('lets other unique violations through as they are', async () => {
    const { userId } = await register();
    const error = await identity.addCredentials(userId, uniqueEmail(), null).catch((e: unknown) => e);
    expect(error).to.be.instanceOf(Error);
    expect(error).not.to.be.instanceOf(EmailTakenError);
  });

  it('changes a password: the new one logs in, the old one does not', async () => {
    const { userId, email } = await register('the old password');
    await identity.changePassword(userId, await hashPassword('the new password'));
    expect(await identity.login(email, 'the new password')).to.equal(userId);
    expect(await identity.login(email, 'the old password')).to.equal(null);
    expect(await verifyPassword('the new password', (await identity.passwordHashOf(userId))!)).to.equal(true);
  });

  it('has no password hash for a Google-only account, and gives one a password on change', async () => {
    const { userId, email } = await register(null);
    expect(await identity.passwordHashOf(userId)).to.equal(null);
    await identity.changePassword(userId, await hashPassword('now with a password'));
    expect(await identity.login(email, 'now with a password')).to.equal(userId);
  });

  it('refuses to change the password of a user it does not know', async () => {
    const error = await identity.changePassword(randomUUID(), await hashPassword('whatever it is')).catch((e: unknown) => e);
    expect(error).to.be.instanceOf(Error);
  });

  it('issues 40-hex-digit keys that authenticate as their user and token', async () => {
    const { userId } = await register();
    const { key, tokenId } = await identity.issueToken(userId);
    expect(key).to.match(/^[0-9a-f]{40}$/);
    expect(await identity.authenticate(key)).to.deep.equal({ userId, tokenId });
    const other = await identity.issueToken(userId);
    expect(other.key).not.to.equal(key);
    expect(await identity.authenticate(other.key)).to.deep.equal({ userId, tokenId: other.tokenId });
  });

  it('does not authenticate unknown, altered or malformed keys', async () => {
    const { userId } = await register();
    const { key } = await identity.issueToken(userId);
    const altered = `${key.slice(0, -1)}${key.endsWith('0') ? '1' : '0'}`;
    for (const bad of [altered, key.toUpperCase(), `${key} `, key.slice(1), '', "' OR 1=1 --"]) {
      expect(await identity.authenticate(bad), bad).to.equal(null);
    }
  });

  it('stores only sha256 of a key, never the key', async () => {
    const { userId } = await register();
    const { key, tokenId } = await identity.issueToken(userId);
    const { rows } = await knex.raw<{ rows: { whole: string; token_hash: Buffer }[] }>(
      'SELECT t::text AS whole, token_hash FROM identity_tokens t WHERE id = ?',
      [tokenId],
    );
    expect(rows).to.have.length(1);
    expect(rows[0]!.token_hash.equals(createHash('sha256').update(key).digest())).to.equal(true);
    const dump = await knex.raw<{ rows: { all: string }[] }>("SELECT string_agg(t::text, ' ') AS all FROM identity_tokens t");
    expect(dump.rows[0]!.all.toLowerCase()).not.to.include(key);
    expect(rows[0]!.whole).not.to.include(Buffer.from(key).toString('hex'));
  });

  it('stops a revoked token at once and leaves the user’s other tokens working', async () => {
    const { userId } = await register();
    const first = await identity.issueToken(userId);
    const second = await identity.issueToken(userId);
    // a second store stands for another node: it must not answer from a cache
    const otherNode = createIdentityStore(knex);
    expect(await otherNode.authenticate(first.key)).to.not.equal(null);

    await identity.revokeToken(first.tokenId);
    expect(await identity.authenticate(first.key)).to.equal(null);
    expect(await otherNode.authenticate(first.key)).to.equal(null);
    expect(await identity.authenticate(second.key)).to.deep.equal({ userId, tokenId: second.tokenId });
  });

  it('revokes every other token of the user, keeps the given one, and touches nobody else’s', async () => {
    const { userId } = await register();
    const someoneElse = await register();
    const [keep, drop1, drop2] = await Promise.all([identity.issueToken(userId), identity.issueToken(userId), identity.issueToken(userId)]);
    const theirs = await identity.issueToken(someoneElse.userId);

    await identity.revokeOtherTokens(userId, keep!.tokenId);
    expect(await identity.authenticate(keep!.key)).to.deep.equal({ userId, tokenId: keep!.tokenId });
    expect(await identity.authenticate(drop1!.key)).to.equal(null);
    expect(await identity.authenticate(drop2!.key)).to.equal(null);
    expect(await identity.authenticate(theirs.key)).to.not.equal(null);
  });

  it('changes a password and revokes the other tokens in one go when told which token to keep', async () => {
    const { userId } = await register('the old password');
    const [keep, drop] = await Promise.all([identity.issueToken(userId), identity.issueToken(userId)]);
    await identity.changePassword(userId, await hashPassword('the new password'), keep!.tokenId);
    expect(await identity.authenticate(keep!.key)).to.not.equal(null);
    expect(await identity.authenticate(drop!.key)).to.equal(null);
  });

  it('links a Google account to one user, and keeps that link when another user claims it later', async () => {
    const first = await register(null);
    const second = await register(null);
    const sub = `google-${randomUUID()}`;
    expect(await identity.userIdForGoogle(sub)).to.equal(null);
    expect(await identity.linkGoogle(sub, first.userId)).to.equal(first.userId);
    expect(await identity.linkGoogle(sub, second.userId)).to.equal(first.userId);
    expect(await identity.userIdForGoogle(sub)).to.equal(first.userId);
  });

  it('finds no user for an unknown email', async () => {
    expect(await identity.userIdForEmail(uniqueEmail('nobody'))).to.equal(null);
  });
});

describe('identity migration', () => {
  it('drops its tables on down and makes them again on up', async () => {
    const db = await freshDatabase();
    const knex = createKnex(db.url);
    const tables = async () =>
      (await knex.raw<{ rows: { tablename: string }[] }>("SELECT tablename FROM pg_tables WHERE tablename LIKE 'identity\\_%' ORDER BY 1")).rows.map((r) => r.tablename);
    const options = {
      directory: path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../migrations'),
      loadExtensions: ['.ts'],
      name: '20261125000002_identity.ts',
    };
    try {
      expect(await tables()).to.deep.equal(['identity_credentials', 'identity_google', 'identity_tokens']);
      await knex.migrate.down(options);
      expect(await tables()).to.deep.equal([]);
      await knex.migrate.up(options);
      expect(await tables()).to.deep.equal(['identity_credentials', 'identity_google', 'identity_tokens']);
    } finally {
      await knex.destroy();
      await db.drop();
    }
  });
});
