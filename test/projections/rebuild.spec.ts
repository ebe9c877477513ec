import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { createKnex } from '../../src/db/database.ts';
import { isoMicros } from '../../src/events/time.ts';
import { PushRelease } from '../../src/gateway/PushRelease.ts';
import { Pusher } from '../../src/gateway/Pusher.ts';
import { pushSources } from '../../src/gateway/pushSources.ts';
import { createLogger } from '../../src/log.ts';
import { allProjections } from '../../src/projections/allProjections.ts';
import { ProjectionRunner } from '../../src/projections/ProjectionRunner.ts';
import { rebuildProjections } from '../../src/projections/rebuildProjections.ts';
import { usersProjection } from '../../src/projections/usersProjection.ts';
import { createQueries } from '../../src/queries/createQueries.ts';
import { runCli, STACK_LINE } from '../cli/runCli.ts';
import { adminQuery } from '../support/services.ts';
import { connect } from '../support/sockets.ts';
import { befriend, client, registerUser, startTestBackend, type TestBackend } from '../support/testBackend.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** Every read model table with its key, read in key order: two snapshots are equal when the tables hold the same rows. */
async function snapshot(url: string): Promise<Record<string, unknown[]>> {
  const tables: Record<string, unknown[]> = {};
  for (const projection of allProjections) {
    for (const table of projection.tables) {
      const { rows } = await adminQuery(url, `SELECT * FROM ${table}`);
      tables[table] = rows.map((row) => JSON.stringify({ ...row, search: undefined })).sort();
    }
  }
  return tables;
}

async function leftoverSchemas(url: string): Promise<string[]> {
  const { rows } = await adminQuery(url, `SELECT nspname FROM pg_namespace WHERE nspname LIKE 'rebuild\\_%' OR nspname LIKE 'retired\\_%'`);
  return rows.map((r) => r.nspname);
}

/** Appends `count` messages to a chat straight into the log: a history long enough for a rebuild to be interrupted. */
async function appendMessages(backend: TestBackend, chat: string, author: string, count: number): Promise<void> {
  const stream = `chat-${chat}`;
  let [last] = await backend.eventStore.readStream(stream, { direction: 'backwards', maxCount: 1 });
  let messageId = Number((last!.data as { message_id?: number }).message_id ?? 0);
  const { rows } = await adminQuery(backend.db.url, `SELECT coalesce(max(id), 0) AS id, coalesce(max(time_stamp), 0) AS ts FROM rm_messages WHERE chat_id = '${chat}'`);
  messageId = Math.max(messageId, Number(rows[0].id));
  let time = Math.max(Number(rows[0].ts), Date.now() * 1000) + 1000;
  for (let done = 0; done < count; done += 1000) {
    const events = Array.from({ length: Math.min(1000, count - done) }, () => {
      const id = randomUUID();
      messageId++;
      time += 3;
      return {
        id,
        type: 'MessagePosted',
        data: { message_id: messageId, author_id: author, content: `bulk ${messageId}`, time_stamp: isoMicros(time) },
        metadata: { actor: author, correlation_id: id, causation_id: id, occurred_at: isoMicros(time), schema: 1 },
      };
    });
    await backend.eventStore.append(stream, events, last!.revision);
    [last] = await backend.eventStore.readStream(stream, { direction: 'backwards', maxCount: 1 });
  }
}

/** The read models of the same log, projected from scratch by a plain runner: what a rebuild must equal. */
async function control(backend: TestBackend): Promise<Record<string, unknown[]>> {
  const head = await backend.logHead();
  await backend.projections!.stop();
  await adminQuery(backend.db.url, `TRUNCATE ${allProjections.flatMap((p) => p.tables).join(', ')}; DELETE FROM projection_checkpoints`);
  const knex = createKnex(backend.db.url);
  const runner = new ProjectionRunner(knex, backend.db.url, backend.eventStore, allProjections, createLogger('silent'));
  try {
    runner.start();
    expect(await runner.reached(head, 30_000)).to.equal(true);
  } finally {
    await runner.stop();
    await knex.destroy();
  }
  return snapshot(backend.db.url);
}

describe('projections rebuild', function () {
  this.timeout(180_000);

  describe('under load', () => {
    let backend: TestBackend;

    before(async () => {
      backend = await startTestBackend();
    });

    after(async () => {
      await backend.close();
    });

    it('swaps rebuilt read models in while a writer posts and readers query: no reader sees an error or a partial read model, nothing is lost, and the live runner carries on', async () => {
      const api = client(backend.url);
      const [ann, bob, cid] = [await registerUser(api, 'rebuildann'), await registerUser(api, 'rebuildbob'), await registerUser(api, 'rebuildcid')];
      const privateChat = await befriend(ann, bob);
      await befriend(ann, cid);
      const group = (await ann.api.post('/api/chat/mychats/groups/', { name: 'rebuilders' })).body.chat.uuid as string;
      await ann.api.post(`/api/chat/${group}/`, { user_uuid: bob.id });
      await ann.api.post(`/api/chat/${group}/`, { user_uuid: cid.id });
      for (let i = 0; i < 40; i++) await [ann, bob][i % 2]!.api.post(`/api/chat/${privateChat}/messages/`, { message: `private ${i}` });
      await ann.api.patch(`/api/chat/${privateChat}/messages/3/`, { message: 'private 2, edited' });
      await bob.api.delete(`/api/chat/${privateChat}/messages/4/`);
      const seeded = await backend.logHead();
      await appendMessages(backend, group, bob.id, 20_000);
      expect(await backend.progress.reached(await backend.logHead(), 60_000)).to.equal(true);
      expect(seeded > 0n).to.equal(true);

      // a member's socket hears, live, every message posted meanwhile: the swap moves every checkpoint
      // past events the live runner had not yet handed over, and their pushes must still go out
      await backend.pushesSettled();
      const listener = await connect(backend.url, ann.key);
      let writing = true;
      let posted = 0;
      const positions: string[] = [];
      const problems: string[] = [];
      const writer = (async () => {
        while (writing) {
          const reply = await cid.api.post(`/api/chat/${group}/messages/`, { message: `during the rebuild ${posted}` });
          if (reply.status !== 201) problems.push(`post: ${reply.status}`);
          else {
            posted++;
            positions.push(String(reply.body.position));
          }
        }
      })();
      let reads = 0;
      const readers = [ann, bob].map(async (reader) => {
        while (writing) {
          const chats = await reader.api.get('/api/chat/mychats/');
          const expected = reader === ann ? 3 : 2;
          if (chats.status !== 200 || chats.body.count !== expected) problems.push(`mychats: ${chats.status} ${JSON.stringify(chats.body).slice(0, 200)}`);
          const page = await reader.api.get(`/api/chat/${group}/messages/`);
          if (page.status !== 200 || page.body.messages?.length !== 15) problems.push(`messages: ${page.status} ${JSON.stringify(page.body).slice(0, 200)}`);
          const older = await reader.api.get(`/api/chat/${privateChat}/messages/`);
          if (older.status !== 200 || older.body.messages?.length !== 15) problems.push(`private messages: ${older.status}`);
          const found = await reader.api.get('/api/user/search/rebuild/');
          if (found.status !== 200 || found.body.count !== 3) problems.push(`user search: ${found.status} ${JSON.stringify(found.body).slice(0, 200)}`);
          reads += 4;
        }
      });

      let run;
      try {
        run = await runCli(['projections', 'rebuild', '--all'], { DATABASE_URL: backend.db.url }, 120_000);
      } finally {
        writing = false;
        await Promise.all([writer, ...readers]);
      }
      expect(run.status, run.stderr).to.equal(0);
      expect(run.stdout).to.match(/^rebuilt users, social, chats, messages, analytics from [\d,]+ events/);
      expect(run.stderr).to.match(/rebuild: loading/);
      expect(problems, problems.slice(0, 5).join('\n')).to.deep.equal([]);
      expect(posted, 'messages posted during the rebuild').to.be.greaterThan(0);
      expect(reads).to.be.greaterThan(20);
      expect(await leftoverSchemas(backend.db.url)).to.deep.equal([]);

      // the live runner carries on after the swap: a new message shows up in the read model
      const last = await ann.api.post(`/api/chat/${group}/messages/`, { message: 'after the swap' });
      expect(last.status).to.equal(201);
      expect(await backend.progress.reached(BigInt(last.body.position), 10_000)).to.equal(true);
      const page = await ann.api.get(`/api/chat/${group}/messages/`);
      expect(page.body.messages.map((m: { content: string }) => m.content)).to.include('after the swap');
      await listener.waitUntil('new_message', (p) => p.position === last.body.position, 10_000);
      listener.close();
      const pushed = listener.heard
        .get('new_message')!
        .filter((p) => p.chat === group)
        .map((p) => String(p.position));
      expect(pushed, 'pushed live, in order, once each').to.deep.equal([...positions, String(last.body.position)]);
      const { rows } = await adminQuery(backend.db.url, `SELECT count(*)::int AS n FROM rm_messages WHERE chat_id = '${group}'`);
      expect(rows[0].n, 'bulk, posted during the rebuild, and the last one').to.equal(20_000 + posted + 1);

      const status = await runCli(['projections', 'status', '--json'], { DATABASE_URL: backend.db.url });
      expect(status.status, status.stderr).to.equal(0);
      const listed = JSON.parse(status.stdout) as { name: string; active: boolean; checkpoint: string; head: string; lagEvents: number }[];
      expect(listed.map((s) => s.name)).to.deep.equal(allProjections.map((p) => p.name));
      for (const s of listed) {
        expect(s.active, `${s.name} active`).to.equal(true);
        expect(BigInt(s.checkpoint) >= BigInt(last.body.position), `${s.name} checkpoint`).to.equal(true);
      }

      // the rebuilt tables plus what the live runner added equal a projection of the whole log from scratch
      await backend.pushesSettled();
      const rebuilt = await snapshot(backend.db.url);
      expect(rebuilt).to.deep.equal(await control(backend));
    });
  });

  describe('interrupted and rerun', () => {
    let backend: TestBackend;

    before(async () => {
      backend = await startTestBackend();
    });

    after(async () => {
      await backend.close();
    });

    it('stops on SIGINT with the live read models untouched, and a rerun starts over and ends with the same tables', async () => {
      const api = client(backend.url);
      const [ann, bob] = [await registerUser(api, 'sigann'), await registerUser(api, 'sigbob')];
      const chat = await befriend(ann, bob);
      await appendMessages(backend, chat, ann.id, 60_000);
      expect(await backend.progress.reached(await backend.logHead(), 60_000)).to.equal(true);
      const before = await snapshot(backend.db.url);

      const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'projections', 'rebuild', '--all'], {
        cwd: ROOT,
        env: { ...process.env, DATABASE_URL: backend.db.url, MEMCACHED_SERVERS: '', LOG_LEVEL: 'warn' },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stderr = '';
      let signalled = false;
      child.stderr.on('data', (chunk: Buffer) => {
        stderr += chunk.toString('utf8');
        if (!signalled && /rebuild: loading/.test(stderr)) {
          signalled = true;
          child.kill('SIGINT');
        }
      });
      const status = await new Promise<number | null>((resolve) => child.once('close', resolve));
      expect(signalled).to.equal(true);
      expect(status, stderr).to.equal(130);
      expect(stderr).to.match(/run (it|the rebuild) again/);
      expect(stderr).not.to.match(STACK_LINE);
      expect(await snapshot(backend.db.url), 'the live read models after the interruption').to.deep.equal(before);

      const rerun = await runCli(['projections', 'rebuild', '--all'], { DATABASE_URL: backend.db.url }, 120_000);
      expect(rerun.status, rerun.stderr).to.equal(0);
      expect(await leftoverSchemas(backend.db.url)).to.deep.equal([]);
      expect(await snapshot(backend.db.url)).to.deep.equal(before);
    });

    it('refuses an unknown projection name, a missing one, or both a name and --all, listing the projections, with status 2 and no stack trace', async () => {
      const env = { DATABASE_URL: backend.db.url };
      const unknown = await runCli(['projections', 'rebuild', 'nonsense'], env);
      expect(unknown.status).to.equal(2);
      expect(unknown.stderr).to.include('unknown projection "nonsense"');
      for (const p of allProjections) expect(unknown.stderr).to.include(p.name);
      expect(unknown.stderr).not.to.match(STACK_LINE);
      const missing = await runCli(['projections', 'rebuild'], env);
      expect(missing.status).to.equal(2);
      expect(missing.stderr).to.include('--all');
      const both = await runCli(['projections', 'rebuild', 'users', '--all'], env);
      expect(both.status).to.equal(2);
      expect(both.stderr).not.to.match(STACK_LINE);
      expect(await leftoverSchemas(backend.db.url)).to.deep.equal([]);
    });
  });

  describe('a new projection version', () => {
    let backend: TestBackend;

    before(async () => {
      backend = await startTestBackend();
    });

    after(async () => {
      await backend.close();
    });

    it('is rebuilt in shadow tables while the old read model keeps answering, then swapped in', async () => {
      const api = client(backend.url);
      const users = await Promise.all(Array.from({ length: 30 }, (_, i) => registerUser(api, `versioned${i}`)));
      const last = await users.at(-1)!.api.patch('/api/user/currentuser/', { description: 'last' });
      expect(await backend.progress.reached(BigInt(last.body.position), 10_000)).to.equal(true);
      await backend.projections!.stop();
      const before = await snapshot(backend.db.url);

      const knex = createKnex(backend.db.url);
      const next = { ...usersProjection, version: usersProjection.version + 1 };
      const runner = new ProjectionRunner(knex, backend.db.url, backend.eventStore, allProjections.map((p) => (p.name === 'users' ? next : p)), createLogger('silent'));
      let watching = true;
      const counts: number[] = [];
      const watcher = (async () => {
        while (watching) counts.push(Number((await adminQuery(backend.db.url, 'SELECT count(*) AS n FROM rm_users')).rows[0].n));
      })();
      try {
        runner.start();
        const deadline = Date.now() + 30_000;
        while (Date.now() < deadline) {
          const { rows } = await adminQuery(backend.db.url, `SELECT version FROM projection_checkpoints WHERE name = 'users'`);
          if (rows[0].version === next.version) break;
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
        expect(await runner.reached(await backend.logHead(), 10_000)).to.equal(true);
      } finally {
        watching = false;
        await watcher;
        await runner.stop();
        await knex.destroy();
      }
      const { rows } = await adminQuery(backend.db.url, `SELECT version FROM projection_checkpoints WHERE name = 'users'`);
      expect(rows[0].version).to.equal(next.version);
      expect(counts.length).to.be.greaterThan(0);
      expect(counts.every((n) => n === 30), `rm_users row counts seen: ${[...new Set(counts)].join(', ')}`).to.equal(true);
      expect(await snapshot(backend.db.url)).to.deep.equal(before);
      expect(await leftoverSchemas(backend.db.url)).to.deep.equal([]);
    });
  });

  describe('a live runner meeting a swap', () => {
    let backend: TestBackend;

    before(async () => {
      backend = await startTestBackend();
    });

    after(async () => {
      await backend.close();
    });

    it('carries on from the swapped checkpoint quietly: no error logged, every message once', async () => {
      const api = client(backend.url);
      const [ann, bob] = [await registerUser(api, 'swapann'), await registerUser(api, 'swapbob')];
      const chat = await befriend(ann, bob);
      await backend.projections!.stop();

      const knex = createKnex(backend.db.url);
      let errors = 0;
      let rejoined = 0;
      const silent = createLogger('silent');
      const log = Object.assign(silent, {
        error: () => void errors++,
        info: (_: unknown, message?: string) => void (message?.includes('rebuilt elsewhere') && rejoined++),
      });
      const runner = new ProjectionRunner(knex, backend.db.url, backend.eventStore, allProjections, log);
      try {
        runner.start();
        let sent = 0;
        let posting = true;
        const poster = (async () => {
          while (posting) {
            const reply = await ann.api.post(`/api/chat/${chat}/messages/`, { message: `while swapping ${sent}` });
            expect(reply.status).to.equal(201);
            sent++;
          }
        })();
        try {
          await rebuildProjections({ knex, store: backend.eventStore, databaseUrl: backend.db.url, projections: allProjections, log: silent });
        } finally {
          posting = false;
          await poster;
        }
        const last = await bob.api.post(`/api/chat/${chat}/messages/`, { message: 'after the swap' });
        expect(await runner.reached(BigInt(last.body.position), 10_000)).to.equal(true);
        const { rows } = await adminQuery(backend.db.url, `SELECT content FROM rm_messages WHERE chat_id = '${chat}' ORDER BY id`);
        expect(rows.map((r) => r.content)).to.deep.equal([...Array.from({ length: sent }, (_, i) => `while swapping ${i}`), 'after the swap']);
        expect(errors, 'errors logged').to.equal(0);
        expect(rejoined, 'projections that found their checkpoint moved by the swap').to.be.greaterThan(0);
      } finally {
        await runner.stop();
        await knex.destroy();
      }
    });
  });
  describe('every projection at a new version', () => {
    let backend: TestBackend;

    before(async () => {
      backend = await startTestBackend();
    });

    after(async () => {
      await backend.close();
    });

    it('pushes, once the rebuilt read models are swapped in, every message posted while they were rebuilt', async () => {
      const api = client(backend.url);
      const [ann, bob] = [await registerUser(api, 'newann'), await registerUser(api, 'newbob')];
      const chat = await befriend(ann, bob);
      await appendMessages(backend, chat, ann.id, 5_000);
      expect(await backend.progress.reached(await backend.logHead(), 30_000)).to.equal(true);
      await backend.pushesSettled();
      await backend.projections!.stop();

      // a process started with every projection at a new version: each is rebuilt, none runs meanwhile
      const knex = createKnex(backend.db.url);
      const silent = createLogger('silent');
      const projections = allProjections.map((p) => ({ ...p, version: p.version + 1 }));
      const runner = new ProjectionRunner(knex, backend.db.url, backend.eventStore, projections, silent);
      const pushed: string[] = [];
      const release = new PushRelease(await backend.eventStore.headPosition(), runner, new Pusher(pushSources(createQueries(knex))), (pushes) => {
        for (const push of pushes) if (push.event === 'new_message') pushed.push(push.position);
      }, silent);
      const posted: string[] = [];
      try {
        runner.start();
        let rebuilt = false;
        while (!rebuilt) {
          const reply = await bob.api.post(`/api/chat/${chat}/messages/`, { message: `while rebuilding ${posted.length}` });
          expect(reply.status).to.equal(201);
          posted.push(String(reply.body.position));
          const { rows } = await adminQuery(backend.db.url, 'SELECT name, version FROM projection_checkpoints');
          rebuilt = projections.every((p) => rows.some((r) => r.name === p.name && r.version === p.version));
        }
        const last = await bob.api.post(`/api/chat/${chat}/messages/`, { message: 'after the rebuilds' });
        posted.push(String(last.body.position));
        expect(await runner.reached(BigInt(last.body.position), 20_000)).to.equal(true);
        await release.settled();
      } finally {
        await runner.stop();
        await knex.destroy();
      }
      expect(posted.length, 'messages posted while rebuilding').to.be.greaterThan(2);
      expect(pushed, 'pushed in order, once each').to.deep.equal(posted);
    });
  });
});
