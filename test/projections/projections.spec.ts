import { expect } from 'chai';
import { randomUUID } from 'node:crypto';
import { isoMicros } from '../../src/events/time.ts';
import { createKnex } from '../../src/db/database.ts';
import { createLogger } from '../../src/log.ts';
import { allProjections } from '../../src/projections/allProjections.ts';
import { ProjectionRunner } from '../../src/projections/ProjectionRunner.ts';
import { ADMIN_APPLICATION, adminQuery } from '../support/services.ts';
import { befriend, client, registerUser, startTestBackend, type TestBackend } from '../support/testBackend.ts';

const TABLES = {
  rm_users: 'uuid',
  rm_friendships: 'user_id, friend_id',
  rm_invitations: 'id',
  rm_chats: 'uuid',
  rm_chat_members: 'chat_id, user_id',
  rm_messages: 'chat_id, id',
  rm_analytics_chat_days: 'chat_id, day',
  rm_analytics_chat_day_users: 'chat_id, day, user_id',
};

async function snapshot(url: string): Promise<Record<string, unknown[]>> {
  const tables: Record<string, unknown[]> = {};
  for (const [table, key] of Object.entries(TABLES)) {
    tables[table] = (await adminQuery(url, `SELECT * FROM ${table} ORDER BY ${key}`)).rows.map((row) => ({ ...row, search: undefined }));
  }
  return tables;
}

describe('projections', function () {
  this.timeout(120_000);
  let backend: TestBackend;
  let ids: { ann: string; bob: string; cid: string; group: string; private: string };

  before(async () => {
    backend = await startTestBackend();
    const api = client(backend.url);
    const [ann, bob, cid] = [await registerUser(api, 'ann'), await registerUser(api, 'bob'), await registerUser(api, 'cid')];
    const privateChat = await befriend(ann, bob);
    await befriend(ann, cid);
    const group = (await ann.api.post('/api/chat/mychats/groups/', { name: 'trio' })).body.chat.uuid as string;
    await ann.api.post(`/api/chat/${group}/`, { user_uuid: bob.id });
    await ann.api.post(`/api/chat/${group}/`, { user_uuid: cid.id });
    for (let round = 0; round < 20; round++) {
      await Promise.all(Array.from({ length: 40 }, (_, i) => [ann, bob, cid][i % 3]!.api.post(`/api/chat/${group}/messages/`, { message: `group message ${round}.${i}` })));
    }
    for (let i = 0; i < 40; i++) await (i % 2 ? ann : bob).api.post(`/api/chat/${privateChat}/messages/`, { message: `private ${i}` });
    await ann.api.patch(`/api/chat/${privateChat}/messages/40/`, { message: 'private 39, edited' });
    await bob.api.delete(`/api/chat/${privateChat}/messages/39/`);
    await ann.api.post(`/api/chat/${privateChat}/read/`, { message_id: 30 });
    await ann.api.delete(`/api/chat/${group}/participants/${cid.id}/`);
    const last = await bob.api.patch('/api/user/currentuser/', { description: 'bob here' });
    ids = { ann: ann.id, bob: bob.id, cid: cid.id, group, private: privateChat };
    // the last command's position: every earlier command committed before it began
    expect(await backend.progress.reached(BigInt(last.body.position), 10_000)).to.equal(true);
  });

  after(async () => {
    await backend.close();
  });

  it('builds each user\'s chat list with last message, activity and unread counts', async () => {
    const chats = (await adminQuery(backend.db.url, 'SELECT * FROM rm_chats')).rows;
    const priv = chats.find((c) => c.uuid === ids.private)!;
    expect(priv).to.include({ is_group_chat: false, message_count: 40, last_message: 'private 39, edited' });
    const group = chats.find((c) => c.uuid === ids.group)!;
    expect(group).to.include({ is_group_chat: true, message_count: 800, name: 'trio', admin: ids.ann });
    const members = (await adminQuery(backend.db.url, `SELECT * FROM rm_chat_members WHERE chat_id = '${ids.private}' ORDER BY user_id`)).rows;
    const annRow = members.find((m) => m.user_id === ids.ann)!;
    const bobRow = members.find((m) => m.user_id === ids.bob)!;
    expect(annRow.read_up_to).to.equal(40); // her own newest message, beyond her explicit read mark of 30
    expect(bobRow.read_up_to).to.equal(39);
    const groupMembers = (await adminQuery(backend.db.url, `SELECT user_id FROM rm_chat_members WHERE chat_id = '${ids.group}'`)).rows.map((r) => r.user_id);
    expect(groupMembers).to.have.members([ids.ann, ids.bob]);
  });

  it('keeps every message once, with strictly increasing time stamps, edits and deletions applied', async () => {
    const rows = (await adminQuery(backend.db.url, `SELECT id, content, time_stamp, deleted, edited_at FROM rm_messages WHERE chat_id = '${ids.group}' ORDER BY id`)).rows;
    expect(rows.map((r) => r.id)).to.deep.equal(Array.from({ length: 800 }, (_, i) => i + 1));
    const stamps = rows.map((r) => BigInt(r.time_stamp));
    expect(stamps.every((t, i) => i === 0 || t > stamps[i - 1]!)).to.equal(true);
    const priv = (await adminQuery(backend.db.url, `SELECT id, content, deleted, edited_at FROM rm_messages WHERE chat_id = '${ids.private}' AND id >= 39 ORDER BY id`)).rows;
    expect(priv[0]).to.include({ id: 39, content: '', deleted: true });
    expect(priv[1]).to.include({ id: 40, content: 'private 39, edited', deleted: false });
    expect(priv[1]!.edited_at).to.be.a('string');
  });

  it('keeps users, friendships and invitations', async () => {
    const bob = (await adminQuery(backend.db.url, `SELECT * FROM rm_users WHERE uuid = '${ids.bob}'`)).rows[0];
    expect(bob).to.include({ username: 'bob', description: 'bob here', is_active: true });
    const friends = (await adminQuery(backend.db.url, `SELECT friend_id FROM rm_friendships WHERE user_id = '${ids.ann}'`)).rows.map((r) => r.friend_id);
    expect(friends).to.have.members([ids.bob, ids.cid]);
    const invitations = (await adminQuery(backend.db.url, `SELECT status FROM rm_invitations WHERE from_id = '${ids.ann}'`)).rows.map((r) => r.status);
    expect(invitations).to.deep.equal(['accepted', 'accepted']);
  });

  it('resumes after its connections are killed mid-batch, ending with the same read models and no duplicates', async () => {
    // a long history, so the kills land while it catches up
    const chat = ids.group;
    const stream = `chat-${chat}`;
    let [last] = await backend.eventStore.readStream(stream, { direction: 'backwards', maxCount: 1 });
    let messageId = 800;
    let time = Date.parse('2030-01-01T00:00:00Z') * 1000;
    for (let round = 0; round < 30; round++) {
      const events = Array.from({ length: 500 }, () => {
        const id = randomUUID();
        messageId++;
        time += 7;
        return {
          id,
          type: 'MessagePosted',
          data: { message_id: messageId, author_id: ids.bob, content: `bulk ${messageId}`, time_stamp: isoMicros(time) },
          metadata: { actor: ids.bob, correlation_id: id, causation_id: id, occurred_at: isoMicros(time), schema: 1 },
        };
      });
      await backend.eventStore.append(stream, events, last!.revision + BigInt(round * 500));
    }
    [last] = await backend.eventStore.readStream(stream, { direction: 'backwards', maxCount: 1 });
    expect(await backend.progress.reached(last!.position, 20_000)).to.equal(true);
    const uninterrupted = await snapshot(backend.db.url);
    const head = last!.position;
    await backend.projections!.stop();
    await adminQuery(backend.db.url, `TRUNCATE ${Object.keys(TABLES).join(', ')}; DELETE FROM projection_checkpoints`);

    const knex = createKnex(backend.db.url);
    let failures = 0;
    const log = Object.assign(createLogger('silent'), { error: () => void failures++ });
    // catching up, a replay writes every 2,000 rows (messages: every 2,000 events) while it folds the next: kills land in those writes too
    const runner = new ProjectionRunner(knex, backend.db.url, backend.eventStore, allProjections, log, 2000);
    let kills = 0;
    const killer = setInterval(() => {
      kills++;
      void adminQuery(
        backend.db.url,
        `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
          WHERE datname = current_database() AND application_name NOT IN ('chat-event-store', '${ADMIN_APPLICATION}')`,
      ).catch(() => {});
    }, 40);
    try {
      runner.start();
      // until a kill has landed mid-batch: how soon one does depends on how fast this machine catches up
      for (const started = Date.now(); (kills <= 5 || failures === 0) && Date.now() - started < 10_000; ) await new Promise((resolve) => setTimeout(resolve, 20));
    } finally {
      clearInterval(killer);
    }
    expect(kills).to.be.greaterThan(5);
    expect(failures, 'batches interrupted by the kills').to.be.greaterThan(0);
    expect(await runner.reached(head, 30_000)).to.equal(true);
    await runner.stop();
    await knex.destroy();
    expect(await snapshot(backend.db.url)).to.deep.equal(uninterrupted);
  });
});
