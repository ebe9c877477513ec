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

  it('gives a knex the server settings asked for on every session, and leaves others at the server defaults', async () => {
    const url = process.env.TEST_PG_ADMIN_URL!;
    const relaxed = createKnex(url, { settings: { synchronous_commit: 'off' } });
    const plain = createKnex(url);
    try {
      // two sessions at once: the setting is the pool's, not one connection's
      const sessions = await Promise.all([1, 2].map(() => relaxed.transaction((tx) => tx.raw("SELECT current_setting('synchronous_commit') AS sync, pg_sleep(0.05)"))));
      expect(sessions.map((r) => r.rows[0].sync)).to.deep.equal(['off', 'off']);
      expect((await plain.raw("SELECT current_setting('synchronous_commit') AS sync")).rows[0].sync).to.equal('on');
    } finally {
      await Promise.all([relaxed.destroy(), plain.destroy()]);
    }
  });
});
