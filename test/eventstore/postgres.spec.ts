import { createPostgresEventStore } from '../../src/eventstore/postgres/PostgresEventStore.ts';
import { freshDatabase, type TestDatabase } from '../support/services.ts';
import { eventStoreContract } from './eventStoreContract.ts';

describe('Postgres event store: the contract', () => {
  let db: TestDatabase;
  before(async () => {
    db = await freshDatabase();
  });
  after(async () => {
    await db.drop();
  });
  eventStoreContract(() => ({ connect: () => createPostgresEventStore(db.url) }));
});
