import type { Middleware } from 'koa';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** Where `npm run build:web` (web/build.ts) writes the client; never committed. */
export const WEB_CLIENT_DIR = fileURLToPath(new URL('../../dist/web/', import.meta.url));

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'application/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
};

// the client talks only to this origin (REST and Socket.IO) and builds its DOM without inline code
const CSP = "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data: https:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'";

const NOT_BUILT = `<!doctype html><meta charset="utf-8"><title>Chat</title>
<p>The web client is not built. Run <code>npm run build:web</code> (<code>npm start</code> does it first), then reload.</p>`;

/**
 * GET / and the client's files, straight from the build folder: only names the folder holds are
 * served (no path from the request reaches the file system), everything else goes to the API.
 */
export function webClient(dir: string = WEB_CLIENT_DIR): Middleware {
  return async (ctx, next) => {
    if (ctx.method !== 'GET' && ctx.method !== 'HEAD') return next();
    const name = ctx.path === '/' ? 'index.html' : ctx.path.slice(1);
    if (name.includes('/') || !TYPES[path.extname(name)]) return next();
    const files = await readdir(dir).catch(() => null);
    if (!files) {
      if (name !== 'index.html') return next();
      ctx.status = 503;
      ctx.type = TYPES['.html']!;
      ctx.body = NOT_BUILT;
      return;
    }
    if (!files.includes(name)) return next();
    ctx.type = TYPES[path.extname(name)]!;
    // small files, rebuilt often while developing: the browser asks again each time
    ctx.set('Cache-Control', 'no-cache');
    if (name === 'index.html') ctx.set('Content-Security-Policy', CSP);
    ctx.body = await readFile(path.join(dir, name));
  };
}
