import type { OpenAPIRegistry } from '@asteasolutions/zod-to-openapi';
import Router from '@koa/router';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import swaggerUi from 'swagger-ui-dist';
import { openApiDocument } from './route.ts';

const ASSETS: Record<string, string> = {
  'swagger-ui.css': 'text/css; charset=utf-8',
  'swagger-ui-bundle.js': 'application/javascript; charset=utf-8',
  'swagger-ui-standalone-preset.js': 'application/javascript; charset=utf-8',
};

// the page is ours; the assets come from the swagger-ui-dist package, served from this process
const PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Chat backend API</title>
<link rel="stylesheet" href="/apischema/swagger-ui.css"></head>
<body><div id="swagger-ui"></div>
<script src="/apischema/swagger-ui-bundle.js"></script>
<script src="/apischema/swagger-ui-standalone-preset.js"></script>
<script>window.ui = SwaggerUIBundle({ url: '/apischema/openapi.json', dom_id: '#swagger-ui', presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset], layout: 'StandaloneLayout' });</script>
</body></html>`;

/** GET /apischema/ (Swagger UI) and /apischema/openapi.json, generated from the routes' own schemas. */
export function apiSchemaRouter(registry: OpenAPIRegistry): Router {
  const router = new Router();
  let document: unknown;
  router.get('/apischema/openapi.json', (ctx) => {
    document ??= openApiDocument(registry);
    ctx.body = document;
  });
  router.get('/apischema/', (ctx) => {
    ctx.type = 'text/html; charset=utf-8';
    ctx.body = PAGE;
  });
  router.get('/apischema/:asset', async (ctx, next) => {
    const type = ASSETS[ctx.params.asset!];
    if (!type) return next();
    ctx.type = type;
    ctx.set('Cache-Control', 'public, max-age=86400');
    ctx.body = await readFile(path.join(swaggerUi.getAbsoluteFSPath(), ctx.params.asset!));
  });
  return router;
}
