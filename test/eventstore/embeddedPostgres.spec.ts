import { createKnex, migrate } from '../../src/db/database.ts';
import { startEmbeddedPostgres, type EmbeddedDatabase } from '../../src/db/embeddedPostgres.ts';
import { createPostgresEventStore } from '../../src/eventstore/postgres/PostgresEventStore.ts';
import { eventStoreContract } from './eventStoreContract.ts';

// the embedded default must hold the same contract as the Postgres service, with no service running
describe('Postgres event store on embedded Postgres: the contract', function () {
  this.timeout(120_000);
  let embedded: EmbeddedDatabase;
  before(async () => {
    embedded = await startEmbeddedPostgres('.data/test-embedded-contract', Number(process.env.TEST_EMBEDDED_CONTRACT_PORT ?? 54338));
    const knex = createKnex(embedded.url);
    await migrate(knex);
    await knex.destroy();
  });
  after(async () => {
    await embedded?.stop();
  });
  eventStoreContract(() => ({ connect: () => createPostgresEventStore(embedded.url) }));
});
