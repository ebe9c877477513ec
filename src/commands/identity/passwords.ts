import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';

/** scrypt's cost parameters; they are written into every hash, so they can be raised later without breaking old ones. */
const PARAMS = { N: 2 ** 14, r: 8, p: 1 };
const SALT_BYTES = 16;
const KEY_BYTES = 32;

/** `scrypt$N$r$p$saltB64$hashB64`. */
export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(SALT_BYTES);
  const key = await derive(password, salt, KEY_BYTES, PARAMS);
  return ['scrypt', PARAMS.N, PARAMS.r, PARAMS.p, salt.toString('base64'), key.toString('base64')].join('$');
}

/** False for a wrong password and for anything that is not one of our hashes. */
export async function verifyPassword(password: string, encoded: string): Promise<boolean> {
  const parsed = parseHash(encoded);
  if (!parsed) return false;
  const key = await derive(password, parsed.salt, parsed.hash.length, parsed.params);
  return timingSafeEqual(key, parsed.hash);
}

export interface ParsedHash {
  params: { N: number; r: number; p: number };
  salt: Buffer;
  hash: Buffer;
}

export function parseHash(encoded: string): ParsedHash | null {
  const [scheme, N, r, p, salt, hash, ...rest] = encoded.split('$');
  if (scheme !== 'scrypt' || rest.length > 0 || !salt || !hash) return null;
  const params = { N: Number(N), r: Number(r), p: Number(p) };
  if (!Object.values(params).every((n) => Number.isSafeInteger(n) && n > 0)) return null;
  const parsed = { params, salt: Buffer.from(salt, 'base64'), hash: Buffer.from(hash, 'base64') };
  // a truncated hash would let almost any password match it
  return parsed.hash.length >= 16 ? parsed : null;
}

/** The contract's weak-password rules; human messages, none when the password will do. */
export function passwordProblems(password: string, email: string): string[] {
  const problems: string[] = [];
  if ([...password].length < 8) problems.push('This password is too short. It must contain at least 8 characters.');
  if (/^\p{Nd}+$/u.test(password)) problems.push('This password is entirely numeric.');
  const at = email.lastIndexOf('@');
  const localPart = at < 0 ? email : email.slice(0, at);
  if (localPart !== '' && password.toLowerCase() === localPart.toLowerCase()) problems.push('The password is too similar to the email.');
  return problems;
}

function derive(password: string, salt: Buffer, keyLength: number, { N, r, p }: ParsedHash['params']): Promise<Buffer> {
  // the same characters typed on different keyboards may arrive composed differently (NIST 800-63B)
  const normalized = password.normalize('NFKC');
  // scrypt needs 128·N·r bytes; Node's default ceiling (32 MiB) would refuse raised parameters
  const options: ScryptOptions = { N, r, p, maxmem: 256 * N * r + 1024 * 1024 };
  return new Promise((resolve, reject) => {
    scrypt(normalized, salt, keyLength, options, (error, key) => (error ? reject(error) : resolve(key)));
  });
}
