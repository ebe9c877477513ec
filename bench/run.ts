/**
 * `npm run bench` prints a table of figures; `npm run bench -- --json` prints the same rows as JSON.
 * `--only <name>` runs one bench. Runs against DATABASE_URL, or embedded Postgres when unset.
 */
import os from 'node:os';
import { createKnex, migrate } from '../src/db/database.ts';
import { startEmbeddedPostgres, type EmbeddedDatabase } from '../src/db/embeddedPostgres.ts';
import { adminQuery, withDatabase } from '../test/support/services.ts';
import { commandsBench } from './commands.bench.ts';
import { measureSteal } from './cpuSteal.ts';
import { eventStoreBench } from './eventStore.bench.ts';
import { exportBench } from './export.bench.ts';
import { gatewayBench } from './gateway.bench.ts';
import { formatTable, type Bench, type BenchRow } from './harness.ts';
import { readSideBench } from './readSide.bench.ts';
import { rebuildBench } from './rebuild.bench.ts';

const benches: Record<string, Bench> = { eventstore: eventStoreBench, commands: commandsBench, readside: readSideBench, rebuild: rebuildBench, gateway: gatewayBench, export: exportBench };

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const json = args.includes('--json');
  const only = args.includes('--only') ? args[args.indexOf('--only') + 1] : undefined;
  if (only && !benches[only]) throw new Error(`unknown bench ${only}; known: ${Object.keys(benches).join(', ')}`);
  const log = (line: string) => process.stderr.write(`bench: ${line}\n`);

  let embedded: EmbeddedDatabase | undefined;
  let adminUrl = process.env.DATABASE_URL;
  if (!adminUrl) {
    log('DATABASE_URL is not set: benchmarking on embedded Postgres');
    embedded = await startEmbeddedPostgres('.data/bench-postgres', 54336);
    adminUrl = embedded.url;
  }
  const created: string[] = [];
  const freshDatabase = async () => {
    const name = `chat_bench_${process.pid}_${created.length}`;
    await adminQuery(adminUrl, `CREATE DATABASE ${name}`);
    created.push(name);
    const url = withDatabase(adminUrl, name);
    const knex = createKnex(url);
    await migrate(knex);
    await knex.destroy();
    return url;
  };

  const rows: BenchRow[] = [];
  try {
    for (const [name, bench] of Object.entries(benches)) {
      if (only && only !== name) continue;
      const steal = measureSteal();
      rows.push(...(await bench({ freshDatabase, log })));
      const stolen = steal.stop();
      if (stolen !== null) rows.push({ bench: name, case: 'CPU time stolen by the hypervisor', value: stolen, unit: '%', note: 'during this bench, all cores: other guests on the host; figures compare across runs only at similar steal' });
    }
  } finally {
    for (const name of created) await adminQuery(adminUrl, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await embedded?.stop();
  }
  const machine = `${os.cpus().length} cores, ${Math.round(os.totalmem() / 2 ** 30)} GiB, node ${process.version}, ${embedded ? 'embedded Postgres' : 'Postgres service'}`;
  if (json) console.log(JSON.stringify({ machine, at: new Date().toISOString(), rows }, null, 2));
  else console.log(`${machine}\n\n${formatTable(rows)}`);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
