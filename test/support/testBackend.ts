import type { Clock } from '../../src/events/time.ts';
import { startBackend, type RunningBackend } from '../../src/backend.ts';
import { loadConfig } from '../../src/config.ts';
import { createLogger } from '../../src/log.ts';
import { adminQuery, freshDatabase, type TestDatabase } from './services.ts';

export interface TestBackend extends RunningBackend {
  db: TestDatabase;
  /**
   * The last committed event's position. Readers (headPosition) stop at the horizon of transactions
   * still running, so right after an answer their head can lag; "did this request append?" asks here.
   */
  logHead(): Promise<bigint>;
  /** stops the backend and drops its database */
  close(): Promise<void>;
}

/** The whole backend on a fresh database, listening on a free port of 127.0.0.1. */
export async function startTestBackend(env: Record<string, string> = {}, options: { clock?: Clock } = {}): Promise<TestBackend> {
  const db = await freshDatabase();
  const config = loadConfig({ DATABASE_URL: db.url, PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'silent', ...env });
  const backend = await startBackend(config, createLogger('silent'), options);
  return {
    ...backend,
    db,
    async logHead() {
      const { rows } = await adminQuery(db.url, 'SELECT coalesce(max(position), 0) AS head FROM es_events');
      return BigInt(rows[0].head);
    },
    async close() {
      await backend.stop();
      await db.drop();
    },
  };
}

export interface Reply<T = any> {
  status: number;
  body: T;
  headers: Headers;
}

/** A small JSON client for the REST contract: `api.as(key).post(path, body)`. */
export function client(baseUrl: string, key?: string) {
  async function call<T = any>(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Reply<T>> {
    const response = await fetch(`${baseUrl}${path}`, {
      method,
      redirect: 'manual',
      headers: {
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        ...(key ? { authorization: `Token ${key}` } : {}),
        ...headers,
      },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    const text = await response.text();
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      // not JSON: keep the text
    }
    return { status: response.status, body: parsed as T, headers: response.headers };
  }
  return {
    as: (other: string) => client(baseUrl, other),
    get: <T = any>(path: string, headers?: Record<string, string>) => call<T>('GET', path, undefined, headers),
    post: <T = any>(path: string, body?: unknown, headers?: Record<string, string>) => call<T>('POST', path, body ?? {}, headers),
    patch: <T = any>(path: string, body?: unknown) => call<T>('PATCH', path, body ?? {}),
    delete: <T = any>(path: string) => call<T>('DELETE', path),
    raw: call,
  };
}

export type Client = ReturnType<typeof client>;

let userCount = 0;

/** Registers a new user and answers a client acting as them. */
export async function registerUser(api: Client, name = `user${++userCount}`) {
  const email = `${name}.${Date.now()}.${userCount}@example.com`;
  const reply = await api.post('/api/rest-auth/registration/', { email, password1: 'correct horse battery', password2: 'correct horse battery', username: name });
  if (reply.status !== 201) throw new Error(`registration failed: ${reply.status} ${JSON.stringify(reply.body)}`);
  return { id: reply.body.user.uuid as string, key: reply.body.key as string, email, api: api.as(reply.body.key) };
}

/** Two users who are friends, with the private chat their accepted invitation opened. */
export async function befriend(a: Awaited<ReturnType<typeof registerUser>>, b: Awaited<ReturnType<typeof registerUser>>) {
  const invited = await a.api.post('/api/user/friends/', { user_uuid: b.id });
  if (invited.status !== 201) throw new Error(`invite failed: ${invited.status} ${JSON.stringify(invited.body)}`);
  const accepted = await b.api.post('/api/user/invitations/', { invitation_id: invited.body.id, decision: true });
  if (accepted.status !== 201) throw new Error(`accept failed: ${accepted.status} ${JSON.stringify(accepted.body)}`);
  return accepted.body.chat.uuid as string;
}
