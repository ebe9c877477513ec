import { expect } from 'chai';
import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { startEmbeddedPostgres, type EmbeddedDatabase } from '../../src/db/embeddedPostgres.ts';
import { freePort } from '../support/processes.ts';
import { runCli } from './runCli.ts';

async function answers(port: number): Promise<boolean> {
  const client = new pg.Client({ connectionString: `postgres://postgres:postgres@127.0.0.1:${port}/postgres`, connectionTimeoutMillis: 2000 });
  client.on('error', () => {});
  try {
    await client.connect();
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => {});
  }
}

// with no DATABASE_URL the CLI works on the embedded Postgres: the running one, or one it starts and stops
describe('CLI on embedded Postgres', function () {
  this.timeout(180_000);
  const dir = path.join(os.tmpdir(), `cli-embedded-${process.pid}`);
  const elsewhere = path.join(os.tmpdir(), `cli-embedded-unused-${process.pid}`);
  let port: number;
  let running: EmbeddedDatabase | undefined;

  before(async () => {
    port = await freePort();
  });
  after(async () => {
    await running?.stop();
    await rm(dir, { recursive: true, force: true });
    await rm(elsewhere, { recursive: true, force: true });
  });

  it('starts it from EMBEDDED_PG_DIR when none answers, and stops it when the command ends', async () => {
    const run = await runCli(['audit', 'verify', '--json'], { EMBEDDED_PG_DIR: dir, EMBEDDED_PG_PORT: String(port) }, 120_000);
    expect(run.status, run.stderr).to.equal(0);
    expect(JSON.parse(run.stdout)).to.deep.equal({ events: 0, streams: 0, ok: true, breaks: [] });
    expect(existsSync(path.join(dir, 'PG_VERSION'))).to.equal(true);
    expect(await answers(port)).to.equal(false);
  });

  it('uses the one a running backend serves, and leaves it running', async () => {
    running = await startEmbeddedPostgres(dir, port);
    const run = await runCli(['audit', 'verify'], { EMBEDDED_PG_DIR: elsewhere, EMBEDDED_PG_PORT: String(port) }, 120_000);
    expect(run.status, run.stderr).to.equal(0);
    expect(existsSync(elsewhere)).to.equal(false);
    expect(await answers(port)).to.equal(true);
  });
});
