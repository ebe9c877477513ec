import type { Knex } from 'knex';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { prepare, runPrepared } from '../../db/prepared.ts';
import { hashPassword, verifyPassword as verifyScrypt } from './passwords.ts';
import type { Revocation, RevocationBus } from './revocations.ts';

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
  /**
   * With a bus, live tokens are cached in this process and every revocation is published on it,
   * so each node caching tokens evicts them at once. Without one, every request asks Postgres.
   */
  revocations?: RevocationBus;
}

const EMAIL_INDEX = 'identity_credentials_email_key';
const KEY_FORMAT = /^[0-9a-f]{40}$/;

const LIVE_TOKEN = prepare('SELECT id, user_id FROM identity_tokens WHERE token_hash = :hash AND revoked_at IS NULL');

export function createIdentityStore(knex: Knex, { verifyPassword = verifyScrypt, revocations }: IdentityStoreOptions = {}): IdentityStore {
  const dummy = dummyHash();
  const tokens = revocations ? new TokenCache(revocations) : null;
  // concurrent requests with one token share one lookup
  const lookups = new Map<string, Promise<TokenIdentity | null>>();
  const lookUp = (hash: Buffer, hex: string): Promise<TokenIdentity | null> => {
    let lookup = lookups.get(hex);
    if (!lookup) {
      const generation = tokens?.generation ?? 0;
      lookup = runPrepared<{ id: string; user_id: string }>(knex, LIVE_TOKEN, { hash })
        .then((rows) => {
          const found = rows[0] ? { userId: rows[0].user_id, tokenId: rows[0].id } : null;
          if (found) tokens?.remember(hex, found, generation);
          return found;
        })
        .finally(() => lookups.delete(hex));
      lookups.set(hex, lookup);
    }
    return lookup;
  };
  const revoked = async (revocation: Revocation) => {
    await revocations?.publish(revocation);
  };
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
      if (keepTokenId !== undefined) await revoked({ userId, except: keepTokenId });
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

    // a revoked token stops working on every node at once: each node caching tokens has evicted it
    // (the bus waits for their word) before the revoking request is answered
    async authenticate(key) {
      if (!KEY_FORMAT.test(key)) return null;
      const hash = tokenHash(key);
      const hex = hash.toString('hex');
      const cached = tokens?.get(hex);
      if (cached) return cached;
      return lookUp(hash, hex);
    },

    async removeCredentials(userId) {
      await knex('identity_credentials').where({ user_id: userId }).delete();
      await revoked({ userId });
    },

    async revokeToken(tokenId) {
      await knex('identity_tokens').where({ id: tokenId }).whereNull('revoked_at').update({ revoked_at: knex.fn.now() });
      await revoked({ tokenId });
    },

    async revokeOtherTokens(userId, keepTokenId) {
      await revokeOthers(knex, userId, keepTokenId);
      await revoked({ userId, except: keepTokenId });
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

const CACHED_TOKENS = 100_000;
/** a ceiling on how long a token is trusted without asking Postgres, should a revocation ever go unheard */
const CACHED_TOKEN_MS = 5 * 60_000;

/**
 * Live tokens this process has seen, by SHA-256 hash (hex), evicted by the revocations the bus
 * brings. A lookup that was in flight while any revocation arrived is not remembered: it may
 * have read the token just before it was revoked.
 */
class TokenCache {
  private readonly byHash = new Map<string, { identity: TokenIdentity; at: number }>();
  private readonly byUser = new Map<string, Set<string>>();
  private readonly byToken = new Map<string, string>();
  /** counts the revocations heard */
  generation = 0;

  constructor(private readonly bus: RevocationBus) {
    bus.subscribe(
      (revocation) => this.evict(revocation),
      () => {
        this.generation++;
        this.byHash.clear();
        this.byUser.clear();
        this.byToken.clear();
      },
    );
  }

  get(hex: string): TokenIdentity | undefined {
    if (!this.bus.listening()) return undefined;
    const found = this.byHash.get(hex);
    if (found && Date.now() - found.at > CACHED_TOKEN_MS) {
      this.forget(hex);
      return undefined;
    }
    return found?.identity;
  }

  remember(hex: string, identity: TokenIdentity, generation: number): void {
    if (generation !== this.generation || !this.bus.listening()) return;
    this.byHash.set(hex, { identity, at: Date.now() });
    let own = this.byUser.get(identity.userId);
    if (!own) this.byUser.set(identity.userId, (own = new Set()));
    own.add(hex);
    this.byToken.set(identity.tokenId, hex);
    if (this.byHash.size > CACHED_TOKENS) this.forget(this.byHash.keys().next().value!);
  }

  private forget(hex: string): void {
    const found = this.byHash.get(hex);
    if (!found) return;
    this.byHash.delete(hex);
    this.byToken.delete(found.identity.tokenId);
    const own = this.byUser.get(found.identity.userId);
    own?.delete(hex);
    if (own?.size === 0) this.byUser.delete(found.identity.userId);
  }

  private evict(revocation: Revocation): void {
    this.generation++;
    if ('tokenId' in revocation) {
      const hex = this.byToken.get(revocation.tokenId);
      if (hex !== undefined) this.forget(hex);
      return;
    }
    for (const hex of [...(this.byUser.get(revocation.userId) ?? [])]) {
      if (this.byHash.get(hex)?.identity.tokenId !== revocation.except) this.forget(hex);
    }
  }
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
