import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * The OAuth `state` bound to the browser that started the login: a random nonce goes into an
 * httpOnly cookie and `state` is the nonce with its HMAC, so a callback URL made for someone
 * else's browser (login CSRF) does not match the cookie this browser sends.
 */
export function newOAuthState(secret: string): { state: string; cookie: string } {
  const nonce = randomBytes(32).toString('base64url');
  return { state: stateFor(secret, nonce), cookie: nonce };
}

export function checkOAuthState(secret: string, state: string | undefined, cookie: string | undefined): boolean {
  if (!state || !cookie) return false;
  const expected = Buffer.from(stateFor(secret, cookie));
  const given = Buffer.from(state);
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/** Where the nonce is kept between the redirect to Google and the callback. */
export const OAUTH_STATE_COOKIE = {
  name: 'google_oauth_state',
  // lax, not strict: the callback is a top-level navigation coming from Google's site
  options: { httpOnly: true, sameSite: 'lax', maxAge: 10 * 60 * 1000, overwrite: true },
} as const;

function stateFor(secret: string, nonce: string): string {
  if (!secret) throw new Error('the OAuth state secret is empty');
  const mac = createHmac('sha256', secret).update(`google-oauth-state:${nonce}`).digest('base64url');
  return `${nonce}.${mac}`;
}
