/**
 * `npm test`: finds the services this machine has, starts embedded Postgres when there is no
 * DATABASE_URL, prepares a migrated template database, then runs every spec with mocha.
 */
import Mocha from 'mocha';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { startEmbeddedPostgres, type EmbeddedDatabase } from '../src/db/embeddedPostgres.ts';
import { createKnex, migrate } from '../src/db/database.ts';
import { adminQuery, skippedSuites, withDatabase } from './support/services.ts';

const runId = `${process.pid}_${Date.now().toString(36)}`;
const template = `chat_tpl_${runId}`;

async function preparePostgres(): Promise<{ adminUrl: string; embedded?: EmbeddedDatabase }> {
  if (process.env.DATABASE_URL) return { adminUrl: process.env.DATABASE_URL };
  if (process.env.CI === 'true') throw new Error('CI=true but DATABASE_URL is not set: the Postgres suites must run against the real service');
  console.log('DATABASE_URL is not set: running the Postgres suites on embedded Postgres (.data/test-postgres)');
  const embedded = await startEmbeddedPostgres('.data/test-postgres', Number(process.env.TEST_EMBEDDED_PG_PORT ?? 54339));
  return { adminUrl: embedded.url, embedded };
}

async function main(): Promise<number> {
  const { adminUrl, embedded } = await preparePostgres();
  await adminQuery(adminUrl, `CREATE DATABASE ${template}`);
  const knex = createKnex(withDatabase(adminUrl, template));
  await migrate(knex);
  await knex.destroy();
  process.env.TEST_PG_ADMIN_URL = adminUrl;
  process.env.TEST_PG_TEMPLATE = template;

  const mocha = new Mocha({ timeout: 30_000, reporter: 'spec', grep: process.env.TEST_GREP });
  // `npm test -- eventstore` runs only the specs whose path contains "eventstore"
  const only = process.argv[2];
  for (const file of specFiles('test').filter((f) => !only || f.includes(only))) mocha.addFile(file);
  await mocha.loadFilesAsync();

  const counts = { passed: 0, failed: 0, skipped: 0 };
  try {
    await new Promise<void>((resolve) => {
      const runner = mocha.run(() => resolve());
      runner.on('pass', () => counts.passed++);
      runner.on('fail', () => counts.failed++);
      runner.on('pending', () => counts.skipped++);
    });
  } finally {
    const leftovers = await adminQuery(adminUrl, `SELECT datname FROM pg_database WHERE datname LIKE 'chat_t_${runId}%'`);
    for (const { datname } of leftovers.rows) await adminQuery(adminUrl, `DROP DATABASE IF EXISTS ${datname} WITH (FORCE)`);
    await adminQuery(adminUrl, `DROP DATABASE IF EXISTS ${template} WITH (FORCE)`);
    await embedded?.stop();
  }
  for (const why of skippedSuites) console.log(`skipped: ${why}`);
  console.log(`${counts.passed} passed, ${counts.failed} failed, ${counts.skipped} skipped`);
  return counts.failed > 0 ? 1 : 0;
}

function specFiles(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((file) => file.endsWith('.spec.ts'))
    .map((file) => path.join(dir, file))
    .sort();
}

main().then(
  (code) => process.exit(code),
  (error) => {
    console.error(error);
    process.exit(1);
  },
);
