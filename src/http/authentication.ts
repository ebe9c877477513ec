import type { Middleware } from 'koa';
import type { IdentityStore, TokenIdentity } from '../commands/identity/IdentityStore.ts';
import { HttpError } from './errors.ts';

/** `ctx.state.auth` behind `authenticate`: who is calling, and with which token (logout revokes that one). */
export type Auth = TokenIdentity;

export interface AuthState {
  auth: Auth;
}

const SCHEMES = new Set(['token', 'bearer']);

/**
 * Lets through only requests with `Authorization: Token <key>` (or `Bearer <key>`) naming a live
 * token. A plain middleware rather than a passport strategy: one header scheme and no sessions
 * leave a strategy registry nothing to do but translate its callback back into our errors.
 */
export function authenticate(identity: Pick<IdentityStore, 'authenticate'>): Middleware<AuthState> {
  return async (ctx, next) => {
    const refuse = (code: string, detail: string) => {
      // RFC 9110: a 401 names the scheme the client should use
      ctx.set('WWW-Authenticate', 'Token');
      return new HttpError(401, code, detail);
    };
    const [scheme, ...credentials] = ctx.get('Authorization').trim().split(/\s+/);
    if (!scheme || !SCHEMES.has(scheme.toLowerCase())) throw refuse('not_authenticated', 'Authentication credentials were not provided.');
    const found = credentials.length === 1 ? await identity.authenticate(credentials[0]!) : null;
    if (!found) throw refuse('invalid_token', 'Invalid token.');
    ctx.state.auth = found;
    await next();
  };
}
