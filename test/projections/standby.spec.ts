import { expect } from 'chai';
import { createKnex } from '../../src/db/database.ts';
import { createLogger } from '../../src/log.ts';
import { allProjections } from '../../src/projections/allProjections.ts';
import { ProjectionRunner } from '../../src/projections/ProjectionRunner.ts';
import { adminQuery } from '../support/services.ts';
import { befriend, client, registerUser, startTestBackend, type TestBackend } from '../support/testBackend.ts';

describe('projections: a second runner stands by', function () {
  this.timeout(60_000);
  let backend: TestBackend;

  before(async () => {
    backend = await startTestBackend();
  });

  after(async () => {
    await backend.close();
  });

  it('runs nothing while the first holds the locks, takes over when it stops, and applies each message once', async () => {
    const api = client(backend.url);
    const [ann, bob] = [await registerUser(api, 'standbyann'), await registerUser(api, 'standbybob')];
    const chat = await befriend(ann, bob);
    const knex = createKnex(backend.db.url);
    const second = new ProjectionRunner(knex, backend.db.url, backend.eventStore, allProjections, createLogger('silent'));
    try {
      second.start();
      const before = await ann.api.post(`/api/chat/${chat}/messages/`, { message: 'heard by the first' });
      expect(await backend.progress.reached(BigInt(before.body.position), 10_000)).to.equal(true);
      // a few of the standby's tries for the locks
      await new Promise((resolve) => setTimeout(resolve, 2500));
      expect(second.status().filter((s) => s.active), 'the standby runs nothing').to.deep.equal([]);

      await backend.projections!.stop();
      const after = await bob.api.post(`/api/chat/${chat}/messages/`, { message: 'heard by the second' });
      expect(await second.reached(BigInt(after.body.position), 15_000), 'the standby caught up').to.equal(true);
      expect(second.status().every((s) => s.active), 'the standby runs every projection').to.equal(true);
      const { rows } = await adminQuery(backend.db.url, `SELECT content FROM rm_messages WHERE chat_id = '${chat}' ORDER BY id`);
      expect(rows.map((r) => r.content)).to.deep.equal(['heard by the first', 'heard by the second']);
      const list = await ann.api.get('/api/chat/mychats/');
      expect(list.body.results[0].unread_count, 'unread counted once each').to.equal(1);
    } finally {
      await second.stop();
      await knex.destroy();
    }
  });
});
