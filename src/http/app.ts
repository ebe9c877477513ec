import Router from '@koa/router';
import Koa from 'koa';
import type { Logger } from '../log.ts';
import { errorHandler } from './errors.ts';

export interface ReadinessCheck {
  name: string;
  check(): Promise<unknown>;
}

export interface HttpAppDeps {
  log: Logger;
  readiness: ReadinessCheck[];
}

/** The Koa app: health endpoints here; each capability mounts its own router. */
export function createHttpApp({ log, readiness }: HttpAppDeps): Koa {
  const app = new Koa();
  const router = new Router();

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

  app.use(errorHandler(log));
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
