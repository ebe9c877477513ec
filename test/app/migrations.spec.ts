import { expect } from 'chai';
import { createKnex, migrate } from '../../src/db/database.ts';
import { adminQuery, withDatabase } from '../support/services.ts';

describe('migrations', () => {
  it('three replicas starting together on an empty database: one migrates, the others wait and find it done', async () => {
    const adminUrl = process.env.TEST_PG_ADMIN_URL!;
    const name = `chat_migrate_${process.pid}_${Date.now().toString(36)}`;
    await adminQuery(adminUrl, `CREATE DATABASE ${name}`);
    const replicas = [1, 2, 3].map(() => createKnex(withDatabase(adminUrl, name)));
    try {
      const applied = await Promise.all(replicas.map((knex) => migrate(knex)));
      const migrating = applied.filter((list) => list.length > 0);
      expect(migrating, 'replicas that applied migrations').to.have.length(1);
      expect(migrating[0]!.length).to.be.greaterThan(3);
      const { rows } = await adminQuery(withDatabase(adminUrl, name), 'SELECT count(*)::int AS n FROM knex_migrations');
      expect(rows[0].n).to.equal(migrating[0]!.length);
    } finally {
      await Promise.all(replicas.map((knex) => knex.destroy()));
      await adminQuery(adminUrl, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    }
  });
});
