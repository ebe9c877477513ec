import { expect } from 'chai';
import type { Knex } from 'knex';
import { createKnex } from '../../src/db/database.ts';
import { allProjections } from '../../src/projections/allProjections.ts';
import { connect, pause, type Listener } from '../support/sockets.ts';
import { befriend, client, registerUser, startTestBackend, type TestBackend } from '../support/testBackend.ts';

/**
 * What a rebuild's swap does to a live runner, made to happen at the worst moments. The swap here
 * holds the checkpoints while messages are posted, then applies every projection up to the last of
 * them itself and moves every checkpoint there. The live runner must still hand those events over,
 * so that their pushes go out live, and must not apply them again.
 */
async function swapAt(knex: Knex, backend: TestBackend, hold: (tx: Knex.Transaction) => Promise<bigint>): Promise<void> {
  await knex.transaction(async (tx) => {
    const head = await hold(tx);
    const rows = await tx('projection_checkpoints').select<{ name: string; position: string }[]>('name', 'position');
    for (const projection of allProjections) {
      const from = BigInt(rows.find((r) => r.name === projection.name)!.position);
      const events = (await backend.eventStore.readAllBare({ after: from, maxCount: 1000 })).filter((e) => e.position <= head);
      const types = projection.eventTypes;
      const mine = types ? events.filter((e) => types.includes(e.type)) : events;
      if (mine.length > 0) await projection.apply(mine, tx);
    }
    await tx('projection_checkpoints').update({ position: String(head) });
  });
}

describe('projections: a swap beyond what the live runner handed over', function () {
  this.timeout(60_000);
  let backend: TestBackend;
  let knex: Knex;
  let listener: Listener | undefined;

  before(async () => {
    backend = await startTestBackend();
    knex = createKnex(backend.db.url);
  });

  afterEach(() => listener?.close());

  after(async () => {
    await knex.destroy();
    await backend.close();
  });

  /** Two friends, the first one's socket, and a post by the second that the socket has heard. */
  async function chatHeardLive(names: [string, string]) {
    const api = client(backend.url);
    const [reader, writer] = [await registerUser(api, names[0]), await registerUser(api, names[1])];
    const chat = await befriend(reader, writer);
    listener = await connect(backend.url, reader.key);
    const post = async (message: string) => {
      const reply = await writer.api.post(`/api/chat/${chat}/messages/`, { message });
      expect(reply.status, JSON.stringify(reply.body)).to.equal(201);
      return String(reply.body.position);
    };
    const first = await post('before the swap');
    await listener.waitUntil('new_message', (p) => String(p.position) === first);
    // every checkpoint stored (the ones that ignore messages are stored within 20 ms)
    await pause(200);
    return { reader, chat, post, first, heard: listener };
  }

  /** After the swap: one more post; every post must have been pushed live, in order, once each. */
  async function expectEveryPush(heard: Listener, post: (message: string) => Promise<string>, posted: string[]) {
    const after = await post('after the swap');
    expect(await backend.progress.reached(BigInt(after), 10_000)).to.equal(true);
    await heard.waitUntil('new_message', (p) => String(p.position) === after);
    await backend.pushesSettled();
    const pushed = heard.heard.get('new_message')!.map((p) => String(p.position));
    expect(pushed, 'pushed live, in order, once each').to.deep.equal([...posted, after]);
  }

  it('pushes the events the swap applied, live and once each, and applies only what comes after', async () => {
    const { reader, chat, post, first, heard } = await chatHeardLive(['swapann', 'swapbob']);
    const held: string[] = [];
    await swapAt(knex, backend, async (tx) => {
      await tx('projection_checkpoints').forUpdate().select('name');
      // the runner's batch of this one waits for the checkpoint rows; these after it are not read into a batch yet
      held.push(await post('while the runner waits 1'));
      await pause(200);
      for (let i = 2; i <= 4; i++) held.push(await post(`while the runner waits ${i}`));
      return BigInt(held[held.length - 1]!);
    });
    await expectEveryPush(heard, post, [first, ...held]);

    const page = await reader.api.get(`/api/chat/${chat}/messages/`);
    expect(page.body.messages.map((m: { content: string }) => m.content).reverse(), 'stored once each').to.deep.equal([
      'before the swap',
      'while the runner waits 1',
      'while the runner waits 2',
      'while the runner waits 3',
      'while the runner waits 4',
      'after the swap',
    ]);
    const list = await reader.api.get('/api/chat/mychats/');
    expect(list.body.results[0].unread_count, 'unread counted once each').to.equal(6);
  });

  it('also when the swap commits while the runner starts a new session (it holds the locks throughout)', async () => {
    const { reader, chat, post, first, heard } = await chatHeardLive(['swapcat', 'swapdan']);
    const held: string[] = [];
    await swapAt(knex, backend, async (tx) => {
      // the next session's first read of the checkpoints waits for this transaction
      await tx.raw('LOCK TABLE projection_checkpoints IN ACCESS EXCLUSIVE MODE');
      // a session restart, as a rebuild finished in this process or a lock gained asks for
      (backend.projections as unknown as { restartWanted: boolean }).restartWanted = true;
      await pause(300);
      for (let i = 1; i <= 3; i++) held.push(await post(`between sessions ${i}`));
      return BigInt(held[held.length - 1]!);
    });
    await expectEveryPush(heard, post, [first, ...held]);

    const page = await reader.api.get(`/api/chat/${chat}/messages/`);
    expect(page.body.messages, 'stored once each').to.have.length(5);
  });
});
