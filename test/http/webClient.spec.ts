import { expect } from 'chai';
import Koa from 'koa';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { errorHandler } from '../../src/http/errors.ts';
import { webClient } from '../../src/http/webClient.ts';

describe('web client files (webClient middleware)', () => {
  let dir: string;
  let server: Server;
  let base: string;

  /** the middleware in front of a stand-in API that answers what reached it */
  async function serve(folder: string) {
    const app = new Koa();
    app.use(errorHandler({ error() {} }));
    app.use(webClient(folder));
    app.use((ctx) => {
      if (ctx.path === '/api/echo/') ctx.body = { reached: 'api' };
    });
    server = createServer(app.callback());
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'web-client-'));
    await writeFile(path.join(dir, 'index.html'), '<!doctype html><title>client</title>');
    await writeFile(path.join(dir, 'app.js'), 'console.log(1)');
    await mkdir(path.join(dir, 'nested'));
    await writeFile(path.join(dir, 'nested', 'secret.js'), 'no');
  });
  afterEach(async () => {
    await new Promise((resolve) => server.close(resolve));
    await rm(dir, { recursive: true, force: true });
  });

  it('serves the page at / with a content security policy, and the bundle with its type', async () => {
    await serve(dir);
    const page = await fetch(`${base}/`);
    expect(page.status).to.equal(200);
    expect(page.headers.get('content-type')).to.match(/^text\/html/);
    expect(page.headers.get('content-security-policy')).to.include("default-src 'self'");
    expect(await page.text()).to.include('<title>client</title>');
    const bundle = await fetch(`${base}/app.js`);
    expect(bundle.headers.get('content-type')).to.match(/^application\/javascript/);
    expect(await bundle.text()).to.equal('console.log(1)');
  });

  it('serves only files the folder holds at its top: no sub-folders, no way out of it, no other methods', async () => {
    await serve(path.join(dir, 'nested'));
    for (const probe of ['/../index.html', '/%2e%2e/index.html', '/..%2findex.html', '/nested/secret.js', '/missing.js', '/secret.exe']) {
      const reply = await fetch(`${base}${probe}`);
      expect(reply.status, probe).to.equal(404);
      expect(await reply.json(), probe).to.deep.equal({ detail: 'Not found.', code: 'not_found' });
    }
    const posted = await fetch(`${base}/secret.js`, { method: 'POST' });
    expect(posted.status).to.equal(404);
  });

  it('leaves API paths to the API', async () => {
    await serve(dir);
    expect(await (await fetch(`${base}/api/echo/`)).json()).to.deep.equal({ reached: 'api' });
  });

  it('answers / with how to build the client when it is not built, and nothing else', async () => {
    await serve(path.join(dir, 'not-built'));
    const page = await fetch(`${base}/`);
    expect(page.status).to.equal(503);
    expect(await page.text()).to.include('npm run build:web');
    expect((await fetch(`${base}/app.js`)).status).to.equal(404);
  });
});
