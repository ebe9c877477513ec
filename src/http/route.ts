import { OpenAPIRegistry, OpenApiGeneratorV3 } from '@asteasolutions/zod-to-openapi';
import type Router from '@koa/router';
import { randomUUID } from 'node:crypto';
import type Koa from 'koa';
import { z } from 'zod';
import type { CommandContext } from '../commands/AggregateRepository.ts';
import { isoMicros, nowMicros, type Clock } from '../events/time.ts';
import type { Auth, AuthState as Authenticated } from './authentication.ts';
import { ErrorAnswer } from './errorAnswer.ts';
import { HttpError } from './errors.ts';

type Schema = z.ZodType;
type Infer<T> = T extends Schema ? z.output<T> : undefined;

export interface AuthState extends Partial<Authenticated> {
  requestId: string;
}

export interface RouteInput<P, Q, B> {
  params: Infer<P>;
  query: Infer<Q>;
  body: Infer<B>;
  /** the caller; null only on routes that need no authentication */
  auth: Auth | null;
  /** actor, time, client id and correlation id for the commands the route runs */
  command: CommandContext;
  ctx: Koa.ParameterizedContext<AuthState>;
}

export interface Answer {
  status?: number;
  body?: unknown;
}

export interface Route<P = Schema | undefined, Q = Schema | undefined, B = Schema | undefined> {
  method: 'get' | 'post' | 'patch' | 'delete';
  /** OpenAPI style: /api/chat/{chat}/ */
  path: string;
  summary: string;
  tags: string[];
  /** default true */
  authenticated?: boolean;
  params?: P;
  query?: Q;
  body?: B;
  responses: Record<number, { description: string; schema?: Schema }>;
  handle(input: RouteInput<P, Q, B>): Promise<Answer>;
}

export const route = <P extends Schema | undefined = undefined, Q extends Schema | undefined = undefined, B extends Schema | undefined = undefined>(
  spec: Route<P, Q, B>,
): Route<P, Q, B> => spec;

/** Marks a schema issue as "too large" (413) rather than invalid (400), e.g. an overlong message. */
export const TOO_LARGE = { status: 413 } as const;

/**
 * Mounts routes on the router and describes them in the OpenAPI registry: one schema both
 * validates a request and documents it. Malformed path parameters (a bad UUID) are 404; bad
 * query or body fields are 400 with `fields`; the route runs only on valid input.
 */
export function mountRoutes(router: Router, registry: OpenAPIRegistry, authenticate: Koa.Middleware<Authenticated>, routes: Route<any, any, any>[], clock: Clock = nowMicros): void {
  for (const spec of routes) {
    const needsAuth = spec.authenticated !== false;
    registry.registerPath({
      method: spec.method,
      path: spec.path,
      summary: spec.summary,
      tags: spec.tags,
      security: needsAuth ? [{ token: [] }] : [],
      request: {
        ...(spec.params ? { params: spec.params } : {}),
        ...(spec.query ? { query: spec.query } : {}),
        ...(spec.body ? { body: { content: { 'application/json': { schema: spec.body } } } } : {}),
      },
      responses: Object.fromEntries(
        Object.entries({ ...standardRefusals(spec, needsAuth), ...spec.responses }).map(([status, { description, schema }]) => [
          status,
          { description, ...(schema ? { content: { 'application/json': { schema } } } : {}) },
        ]),
      ),
    });

    const koaPath = spec.path.replace(/\{(\w+)\}/g, ':$1');
    const handler: Koa.Middleware<AuthState> = async (ctx) => {
      // JSON everywhere: a body in another type is refused, not read as empty
      if (spec.body && hasBody(ctx) && !ctx.is('application/json')) {
        throw new HttpError(415, 'unsupported_media_type', 'Send the body as application/json.');
      }
      const params = spec.params ? parse(spec.params, ctx.params, 'path') : undefined;
      const query = spec.query ? parse(spec.query, ctx.query, 'query') : undefined;
      const body = spec.body ? parse(spec.body, (ctx.request as { body?: unknown }).body ?? {}, 'body') : undefined;
      const auth = needsAuth ? ctx.state.auth! : null;
      const command: CommandContext = {
        actor: auth?.userId ?? 'anonymous',
        now: isoMicros(clock()),
        clientId: (body as { client_id?: string } | undefined)?.client_id,
        correlationId: ctx.state.requestId,
      };
      const answer = await spec.handle({ params, query, body, auth, command, ctx });
      ctx.status = answer.status ?? 200;
      ctx.body = answer.body ?? {};
    };
    const stack = needsAuth ? [authenticate, handler] : [handler];
    router[spec.method](koaPath, ...(stack as Koa.Middleware[]));
  }
}

/** The refusals every route of its kind can answer, so the document never leaves them out. */
function standardRefusals(spec: Route<any, any, any>, needsAuth: boolean): Route['responses'] {
  const refusals: Route['responses'] = {};
  if (spec.body || spec.query) refusals[400] = { description: 'invalid input: `fields` names each problem', schema: ErrorAnswer };
  if (needsAuth) refusals[401] = { description: 'no valid token', schema: ErrorAnswer };
  if (spec.params) refusals[404] = { description: 'nothing at this path (a malformed id included)', schema: ErrorAnswer };
  if (spec.body) refusals[415] = { description: 'the body is not application/json', schema: ErrorAnswer };
  return refusals;
}

function hasBody(ctx: Koa.Context): boolean {
  return Number(ctx.get('Content-Length') || 0) > 0 || ctx.get('Transfer-Encoding') !== '';
}

function parse(schema: Schema, value: unknown, where: 'path' | 'query' | 'body'): unknown {
  const parsed = schema.safeParse(value);
  if (parsed.success) {
    const bad = unstorableText(parsed.data, []);
    if (!bad) return parsed.data;
    if (where === 'path') throw new HttpError(404, 'not_found', 'Not found.');
    throw new HttpError(400, 'invalid', 'Invalid input.', { fields: { [bad.join('.') || 'non_field_errors']: ['Text may not contain NUL characters or unpaired surrogates.'] } });
  }
  // a path that does not name anything (a malformed UUID, say) is not found, as the contract says
  if (where === 'path') throw new HttpError(404, 'not_found', 'Not found.');
  const tooLarge = parsed.error.issues.find((issue) => (issue as { params?: { status?: number } }).params?.status === TOO_LARGE.status);
  if (tooLarge) throw new HttpError(413, 'too_large', tooLarge.message, { fields: fieldsOf(parsed.error) });
  throw new HttpError(400, 'invalid', 'Invalid input.', { fields: fieldsOf(parsed.error) });
}

/**
 * The path to the first string no store keeps as sent — U+0000 (Postgres refuses it) or an
 * unpaired surrogate (not valid Unicode) — or null when there is none.
 */
function unstorableText(value: unknown, path: (string | number)[]): (string | number)[] | null {
  if (typeof value === 'string') return /\u0000/.test(value) || !value.isWellFormed() ? path : null;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const found = unstorableText(value[i], [...path, i]);
      if (found) return found;
    }
  } else if (typeof value === 'object' && value !== null) {
    for (const [key, item] of Object.entries(value)) {
      const found = unstorableText(item, [...path, key]);
      if (found) return found;
    }
  }
  return null;
}

function fieldsOf(error: z.ZodError): Record<string, string[]> {
  const fields: Record<string, string[]> = {};
  for (const issue of error.issues) {
    const name = issue.path.length > 0 ? issue.path.join('.') : 'non_field_errors';
    (fields[name] ??= []).push(issue.message);
  }
  return fields;
}

/** A request id for logs and for the correlation id of the events a request causes. */
export const requestId: Koa.Middleware = async (ctx, next) => {
  const given = ctx.get('X-Request-Id');
  ctx.state.requestId = /^[0-9a-f-]{36}$/i.test(given) ? given : randomUUID();
  ctx.set('X-Request-Id', ctx.state.requestId);
  await next();
};

/** The OpenAPI 3 document of every route mounted on the registry. */
export function openApiDocument(registry: OpenAPIRegistry) {
  registry.registerComponent('securitySchemes', 'token', { type: 'apiKey', in: 'header', name: 'Authorization', description: '`Token <key>` or `Bearer <key>`' });
  return new OpenApiGeneratorV3(registry.definitions).generateDocument({
    openapi: '3.0.3',
    info: { title: 'Chat backend', version: '1', description: 'The REST contract of ../shared/API.md. Commands answer with the global `position` of their last event.' },
  });
}
