import type { Clock } from '../events/time.ts';
import { OpenAPIRegistry } from '@asteasolutions/zod-to-openapi';
import { bodyParser } from '@koa/bodyparser';
import Router from '@koa/router';
import Koa from 'koa';
import type { Logger } from '../log.ts';
import { apiSchemaRouter } from './apiSchema.ts';
import type { AuthState } from './authentication.ts';
import { errorHandler } from './errors.ts';
import { mountRoutes, requestId, type Route } from './route.ts';
import { webClient } from './webClient.ts';

export interface ReadinessCheck {
  name: string;
  check(): Promise<unknown>;
}

export interface HttpAppDeps {
  log: Logger;
  readiness: ReadinessCheck[];
  authenticate: Koa.Middleware<AuthState>;
  routes: Route<any, any, any>[];
  metrics?: { timing: Koa.Middleware; endpoint: Koa.Middleware };
  /** the time commands are given (the wall clock unless a test brings its own) */
  clock?: Clock;
}

/** The Koa app: one middleware per concern, thin routes, errors shaped in one place. */
export function createHttpApp({ log, readiness, authenticate, routes, metrics, clock }: HttpAppDeps): Koa {
  const app = new Koa();
  app.proxy = true;
  const router = new Router();
  const registry = new OpenAPIRegistry();

  router.get('/healthz', (ctx) => {
    ctx.body = { status: 'ok' };
  });

  router.get('/readyz', async (ctx) => {
    const results = await Promise.all(
      readiness.map(async ({ name, check }) => {
        try {
          await withTimeout(check(), 2000);
          return [name, 'ok'] as const;
        } catch (error) {
          return [name, `down: ${(error as Error).message}`] as const;
        }
      }),
    );
    const ready = results.every(([, state]) => state === 'ok');
    ctx.status = ready ? 200 : 503;
    ctx.body = { status: ready ? 'ready' : 'unavailable', checks: Object.fromEntries(results) };
  });

  mountRoutes(router, registry, authenticate, routes, clock);
  const apiSchema = apiSchemaRouter(registry);

  app.use(requestId);
  if (metrics) app.use(metrics.timing);
  app.use(errorHandler(log));
  if (metrics) app.use(metrics.endpoint);
  // JSON bodies only, and small: a message is at most 4,000 characters
  app.use(bodyParser({ enableTypes: ['json'], jsonLimit: '64kb', encoding: 'utf-8' }));
  app.use(webClient());
  app.use(apiSchema.routes());
  app.use(router.routes());
  app.use(router.allowedMethods());
  return app;
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer in ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
