import type { Knex } from 'knex';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { hashPassword, verifyPassword as verifyScrypt } from './passwords.ts';

/** The email is registered already (compared case-insensitively). */
export class EmailTakenError extends Error {
  constructor(readonly email: string) {
    super('A user with that email is already registered.');
    this.name = 'EmailTakenError';
  }
}

export interface TokenIdentity {
  userId: string;
  tokenId: string;
}

/** The secrets of accounts: credentials, API tokens and Google links, in Postgres and never in the event log. */
export interface IdentityStore {
  /** @throws EmailTakenError when the email is taken in any letter case */
  addCredentials(userId: string, email: string, passwordHash: string | null): Promise<void>;
  /** Undoes addCredentials for an account whose registration failed; its tokens and links go with it. */
  removeCredentials(userId: string): Promise<void>;
  /** The user id, or null for an unknown email, a wrong password and a Google-only account alike. */
  login(email: string, password: string): Promise<string | null>;
  /** With `keepTokenId`, revokes the user's other tokens in the same transaction. */
  changePassword(userId: string, newPasswordHash: string, keepTokenId?: string): Promise<void>;
  /** Null when the user has no password (Google-only) or no credentials. */
  passwordHashOf(userId: string): Promise<string | null>;
  issueToken(userId: string): Promise<{ key: string; tokenId: string }>;
  /** Null for an unknown, malformed or revoked key. */
  authenticate(key: string): Promise<TokenIdentity | null>;
  revokeToken(tokenId: string): Promise<void>;
  revokeOtherTokens(userId: string, keepTokenId: string): Promise<void>;
  /** The user the Google account is linked to now: `userId`, or whoever linked it first. */
  linkGoogle(googleSub: string, userId: string): Promise<string>;
  userIdForGoogle(googleSub: string): Promise<string | null>;
  userIdForEmail(email: string): Promise<string | null>;
}

export interface IdentityStoreOptions {
  /** Tests watch which hashes login verifies through this. */
  verifyPassword?: (password: string, encoded: string) => Promise<boolean>;
}

const EMAIL_INDEX = 'identity_credentials_email_key';
const KEY_FORMAT = /^[0-9a-f]{40}$/;

export function createIdentityStore(knex: Knex, { verifyPassword = verifyScrypt }: IdentityStoreOptions = {}): IdentityStore {
  const dummy = dummyHash();
  const credentialsByEmail = (email: string) => knex('identity_credentials').whereRaw('lower(email) = lower(?)', [email]);
  const revokeOthers = (db: Knex, userId: string, keepTokenId: string) =>
    db('identity_tokens').where({ user_id: userId }).whereNot({ id: keepTokenId }).whereNull('revoked_at').update({ revoked_at: db.fn.now() });
  const userIdForGoogle = async (googleSub: string): Promise<string | null> => {
    const row = await knex('identity_google').where({ google_sub: googleSub }).first('user_id');
    return row?.user_id ?? null;
  };

  return {
    async addCredentials(userId, email, passwordHash) {
      try {
        await knex('identity_credentials').insert({ user_id: userId, email, password_hash: passwordHash });
      } catch (error) {
        if (isUniqueViolation(error, EMAIL_INDEX)) throw new EmailTakenError(email);
        throw error;
      }
    },

    async login(email, password) {
      const row: { user_id: string; password_hash: string | null } | undefined = await credentialsByEmail(email).first('user_id', 'password_hash');
      // with no hash to check, check the dummy one: the answer's timing must not tell which emails are registered
      const matches = await verifyPassword(password, row?.password_hash ?? (await dummy));
      return matches && row?.password_hash ? row.user_id : null;
    },

    async changePassword(userId, newPasswordHash, keepTokenId) {
      await knex.transaction(async (trx) => {
        const updated = await trx('identity_credentials').where({ user_id: userId }).update({ password_hash: newPasswordHash });
        if (updated === 0) throw new Error(`no credentials for user ${userId}`);
        if (keepTokenId !== undefined) await revokeOthers(trx, userId, keepTokenId);
      });
    },

    async passwordHashOf(userId) {
      const row = await knex('identity_credentials').where({ user_id: userId }).first('password_hash');
      return row?.password_hash ?? null;
    },

    async issueToken(userId) {
      const key = randomBytes(20).toString('hex');
      const tokenId = randomUUID();
      await knex('identity_tokens').insert({ id: tokenId, user_id: userId, token_hash: tokenHash(key) });
      return { key, tokenId };
    },

    // no cache in front: a revoked token must stop working on every node at once
    async authenticate(key) {
      if (!KEY_FORMAT.test(key)) return null;
      const row = await knex('identity_tokens').where({ token_hash: tokenHash(key) }).whereNull('revoked_at').first('id', 'user_id');
      return row ? { userId: row.user_id, tokenId: row.id } : null;
    },

    async removeCredentials(userId) {
      await knex('identity_credentials').where({ user_id: userId }).delete();
    },

    async revokeToken(tokenId) {
      await knex('identity_tokens').where({ id: tokenId }).whereNull('revoked_at').update({ revoked_at: knex.fn.now() });
    },

    async revokeOtherTokens(userId, keepTokenId) {
      await revokeOthers(knex, userId, keepTokenId);
    },

    async linkGoogle(googleSub, userId) {
      await knex('identity_google').insert({ google_sub: googleSub, user_id: userId }).onConflict('google_sub').ignore();
      const linked = await userIdForGoogle(googleSub);
      if (!linked) throw new Error(`Google account ${googleSub} was unlinked while being linked`);
      return linked;
    },

    userIdForGoogle,

    async userIdForEmail(email) {
      const row = await credentialsByEmail(email).first('user_id');
      return row?.user_id ?? null;
    },
  };
}

const tokenHash = (key: string): Buffer => createHash('sha256').update(key).digest();

let dummyHashPromise: Promise<string> | undefined;

/** A hash of a password nobody knows, made once per process with the current parameters so it costs what a real one does. */
function dummyHash(): Promise<string> {
  return (dummyHashPromise ??= hashPassword(randomBytes(32).toString('base64')));
}

function isUniqueViolation(error: unknown, constraint: string): boolean {
  const { code, constraint: name } = error as { code?: unknown; constraint?: unknown };
  return code === '23505' && name === constraint;
}
