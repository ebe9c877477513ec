import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { promisify } from 'node:util';
import { startBackend } from '../../src/backend.ts';
import { loadConfig } from '../../src/config.ts';
import { createLogger } from '../../src/log.ts';
import { newEvent, uniqueStream } from '../support/events.ts';

const run = promisify(execFile);

describe('the backend process', function () {
  this.timeout(120_000);

  it('starts on embedded Postgres with no DATABASE_URL, is ready, and reuses its data on a second start', async () => {
    const dir = '.data/test-backend-embedded';
    await rm(dir, { recursive: true, force: true });
    const config = loadConfig({ PORT: '0', HOST: '127.0.0.1', EMBEDDED_PG_DIR: dir, EMBEDDED_PG_PORT: process.env.TEST_BACKEND_PG_PORT ?? '54337' });
    const log = createLogger('silent');
    const stream = uniqueStream();

    const first = await startBackend(config, log);
    try {
      const ready = await fetch(`${first.url}/readyz`);
      expect(ready.status).to.equal(200);
      expect(await ready.json()).to.deep.include({ status: 'ready' });
      await first.eventStore.append(stream, [newEvent('Kept')], 'no_stream');
    } finally {
      await first.stop();
    }

    const second = await startBackend(config, log);
    try {
      const [kept] = await second.eventStore.readStream(stream);
      expect(kept?.type).to.equal('Kept');
      expect((await fetch(`${second.url}/healthz`)).status).to.equal(200);
    } finally {
      await second.stop();
    }
  });

  it('refuses to start on invalid configuration, naming every bad variable', async () => {
    const failure = await run('node', ['--import', 'tsx', 'src/main.ts'], {
      env: { ...process.env, PORT: 'eighty', ROLE: 'everything', DATABASE_URL: 'mysql://x' },
    }).then(
      () => null,
      (error: { code: number; stderr: string }) => error,
    );
    expect(failure?.code).to.equal(1);
    expect(failure?.stderr).to.include('invalid configuration');
    for (const name of ['PORT', 'ROLE', 'DATABASE_URL']) expect(failure?.stderr).to.include(name);
    expect(failure?.stderr).not.to.match(/at .*\.ts:\d+/);
  });
});
