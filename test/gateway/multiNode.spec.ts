import { expect } from 'chai';
import { randomUUID } from 'node:crypto';
import { freePort, onPath, runCommand, startNode, waitReady, type NodeProcess } from '../support/processes.ts';
import { freshDatabase, requireService, skippedSuites, type TestDatabase } from '../support/services.ts';
import { connect, pause, type Listener } from '../support/sockets.ts';
import { befriend, client, registerUser } from '../support/testBackend.ts';

type User = Awaited<ReturnType<typeof registerUser>>;
interface Posted {
  content: string;
  message: Record<string, unknown>;
  position: string;
  via: 'socket' | 'rest';
}

const REDIS_HOST = '127.0.0.1';
const REDIS_PORT = '6379';

/**
 * Three real processes on one Redis and one database: gateway nodes A and B (ROLE=api) and a
 * projector (ROLE=projector) whose pushes reach the nodes through the Redis emitter.
 */
describe('Socket.IO gateway (several processes on one Redis)', function () {
  this.timeout(180_000);
  let redisUrl: string;
  let db: TestDatabase | undefined;
  let nodeA: NodeProcess;
  let nodeB: NodeProcess;
  const nodes: NodeProcess[] = [];
  const open: Listener[] = [];

  const listen = async (node: NodeProcess, token: string) => {
    const listener = await connect(node.url, token);
    open.push(listener);
    return listener;
  };
  /** a new user, registered through node B */
  const register = async () => registerUser(client(nodeB.url));
  /** REST on `node` as `user` */
  const on = (node: NodeProcess, user: User) => client(node.url, user.key);

  /** POST through REST on `node`; the answer must be 201 with the message and its position */
  const postRest = async (node: NodeProcess, user: User, chat: string, content: string): Promise<Posted> => {
    const reply = await on(node, user).post(`/api/chat/${chat}/messages/`, { message: content });
    expect(reply.status, `REST post of "${content}" on ${node.name}: ${JSON.stringify(reply.body)}`).to.equal(201);
    return { content, message: reply.body.message, position: reply.body.position, via: 'rest' };
  };
  /** new_message over a socket; waits out the shared rate limit (a refusal appends nothing) */
  const postSocket = async (socket: Listener, chat: string, content: string, ms = 10_000): Promise<Posted> => {
    const client_id = randomUUID();
    for (let attempt = 0; ; attempt++) {
      const ack = await socket.call('new_message', { chat, message: content, client_id }, ms);
      if (ack.ok) return { content, message: ack.message, position: ack.position, via: 'socket' };
      expect(ack.error?.code, `new_message "${content}": ${JSON.stringify(ack)}`).to.equal('rate_limited');
      expect(attempt, `new_message "${content}" still rate limited`).to.be.lessThan(50);
      await pause(200);
    }
  };
  const contentsOf = (pushes: any[]) => pushes.map((p) => p.message.content as string);
  const positionsOf = (pushes: any[]) => pushes.map((p) => p.position as string);
  const increasing = (positions: string[]) => positions.every((p, i) => i === 0 || BigInt(p) > BigInt(positions[i - 1]!));
  const noNodeExited = () => {
    for (const node of nodes) expect(node.exit, `${node.name} exited during the test\n${node.describe()}`).to.equal(null);
  };

  before(async function () {
    this.timeout(240_000);
    redisUrl = requireService(this, 'redis');
    db = await freshDatabase();
    const env = { DATABASE_URL: db.url, REDIS_URL: redisUrl, HOST: '127.0.0.1', LOG_LEVEL: 'warn' };
    const [portA, portB, portP] = [await freePort(), await freePort(), await freePort()];
    const started = await Promise.allSettled([
      startNode('node A (api)', { ...env, ROLE: 'api', PORT: String(portA) }),
      startNode('node B (api)', { ...env, ROLE: 'api', PORT: String(portB) }),
      startNode('projector', { ...env, ROLE: 'projector', PORT: String(portP) }, { readyPath: '/healthz' }),
    ]);
    for (const result of started) if (result.status === 'fulfilled') nodes.push(result.value);
    const failed = started.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
    [nodeA, nodeB] = nodes as [NodeProcess, NodeProcess, NodeProcess];
  });

  afterEach(function () {
    for (const listener of open.splice(0)) listener.close();
    if (this.currentTest?.state === 'failed') {
      console.error(`\ndiagnostics for "${this.currentTest.title}":\n${nodes.map((n) => n.describe()).join('\n')}\n`);
    }
  });

  after(async function () {
    this.timeout(60_000);
    ensureRedisRunning();
    await Promise.all(nodes.map((node) => node.stop(10_000)));
    await db?.drop();
  });

  it('delivers to a socket on node A, exactly once and in order, 200 messages posted through node B (half socket, half REST)', async () => {
    const [ann, bob] = [await register(), await register()];
    const chat = await befriend(ann, bob);
    const bobOnA = await listen(nodeA, bob.key);
    const annOnB = await listen(nodeB, ann.key);

    const started = Date.now();
    const posted: Posted[] = [];
    for (let i = 0; i < 200; i++) {
      const content = `message ${i}`;
      posted.push(i % 2 === 0 ? await postSocket(annOnB, chat, content) : await postRest(nodeB, ann, chat, content));
    }
    // a last message as a barrier: pushes reach a node in log order, so once it is heard nothing is still on its way
    const barrier = await postRest(nodeB, ann, chat, 'barrier');
    const heard = await bobOnA.waitFor('new_message', 201, 60_000).catch((error: Error) => {
      throw new Error(`${error.message}; first missing: ${posted.find((p) => !positionsOf(bobOnA.heard.get('new_message')!).includes(p.position))?.content}`);
    });
    await bobOnA.waitUntil('new_message', (p) => p.position === barrier.position, 30_000);
    await pause(300);
    console.log(`      (200 messages posted through B and heard on A in ${Date.now() - started} ms)`);

    expect(posted.filter((p) => p.via === 'socket')).to.have.length(100);
    expect(increasing(posted.map((p) => p.position)), 'positions answered in posting order').to.equal(true);
    expect(bobOnA.heard.get('new_message')!.length, 'new_message pushes heard on A (200 + barrier)').to.equal(201);
    expect(contentsOf(heard)).to.deep.equal([...posted.map((p) => p.content), 'barrier']);
    expect(positionsOf(heard)).to.deep.equal([...posted.map((p) => p.position), barrier.position]);
    heard.slice(0, 200).forEach((push, i) => {
      expect(push, `push ${i}`).to.deep.include({ command: 'new_message', chat, position: posted[i]!.position });
      expect(push.message, `push ${i} (${posted[i]!.via})`).to.deep.equal(posted[i]!.message);
    });
    noNodeExited();
  });

  it('makes already-connected sockets on both nodes hear a group once their user is added, and not once removed', async () => {
    const [ann, bob] = [await register(), await register()];
    const privateChat = await befriend(ann, bob);
    const created = await on(nodeB, ann).post('/api/chat/mychats/groups/', { name: 'two nodes' });
    expect(created.status).to.equal(201);
    const group = created.body.chat.uuid as string;
    const bobSockets = { A: await listen(nodeA, bob.key), B: await listen(nodeB, bob.key) };
    const annSockets = { A: await listen(nodeA, ann.key), B: await listen(nodeB, ann.key) };
    /** every socket heard `posted`: pushes reach a node in log order, so all before it were delivered */
    const heardEverywhere = async (posted: Posted, sockets: Listener[]) => {
      for (const socket of sockets) await socket.waitUntil('new_message', (p) => p.position === posted.position, 15_000);
    };
    const everyone = [...Object.values(bobSockets), ...Object.values(annSockets)];

    const before = await postRest(nodeB, ann, group, 'before bob');
    await heardEverywhere(before, Object.values(annSockets));

    const added = await on(nodeA, ann).post(`/api/chat/${group}/`, { user_uuid: bob.id });
    expect(added.status, JSON.stringify(added.body)).to.equal(200);
    for (const [node, socket] of Object.entries(bobSockets)) {
      const updated = await socket.waitUntil('chat_updated', (p) => p.chat.uuid === group, 15_000).catch((error: Error) => {
        throw new Error(`bob's socket on node ${node} heard no chat_updated for the group: ${error.message}`);
      });
      expect(updated.chat).to.include({ uuid: group, name: 'two nodes', is_group_chat: true });
    }
    const withBob = await postRest(nodeB, ann, group, 'with bob');
    await heardEverywhere(withBob, everyone);

    const removed = await on(nodeB, ann).delete(`/api/chat/${group}/participants/${bob.id}/`);
    expect(removed.status, JSON.stringify(removed.body)).to.equal(200);
    const after = await postRest(nodeA, ann, group, 'after bob');
    await heardEverywhere(after, Object.values(annSockets));
    // bob still hears the private chat: once this reaches his sockets, "after bob" would have too
    const barrier = await postRest(nodeB, ann, privateChat, 'barrier');
    await heardEverywhere(barrier, everyone);
    await pause(300);

    for (const [node, socket] of Object.entries(bobSockets)) {
      const inGroup = socket.heard.get('new_message')!.filter((p) => p.chat === group);
      expect(contentsOf(inGroup), `group messages heard by bob's socket on node ${node}`).to.deep.equal(['with bob']);
      expect(inGroup[0].position).to.equal(withBob.position);
    }
    for (const [node, socket] of Object.entries(annSockets)) {
      expect(contentsOf(socket.heard.get('new_message')!.filter((p) => p.chat === group)), `ann on node ${node}`).to.deep.equal(['before bob', 'with bob', 'after bob']);
    }
    noNodeExited();
  });

  it('replays on node A, with resume, the 100 messages posted through node B while the client was away: exactly once, in order, then live ones', async () => {
    const [ann, bob] = [await register(), await register()];
    const chat = await befriend(ann, bob);
    const first = await listen(nodeA, bob.key);
    const seen = await postRest(nodeB, ann, chat, 'seen live');
    await first.waitUntil('new_message', (p) => p.position === seen.position, 15_000);
    const lastSeen = first.heard.get('new_message')!.at(-1)!.position as string;
    expect(lastSeen).to.equal(seen.position);
    first.close();

    const annOnB = await listen(nodeB, ann.key);
    const annOnA = await listen(nodeA, ann.key);
    const missed: Posted[] = [];
    for (let i = 0; i < 100; i++) {
      const content = `missed ${i}`;
      missed.push(i % 2 === 0 ? await postRest(nodeB, ann, chat, content) : await postSocket(annOnB, chat, content));
    }
    // node A has sent out the last missed push (pushes reach a node in log order): none can still come live, only by resume
    await annOnA.waitUntil('new_message', (p) => p.position === missed.at(-1)!.position, 30_000);

    const again = await listen(nodeA, bob.key);
    const started = Date.now();
    const resumed = again.call('resume', { since: lastSeen }, 30_000);
    // messages keep coming while it resumes
    const live: Posted[] = [];
    for (let i = 0; i < 10; i++) live.push(await postRest(nodeB, ann, chat, `live ${i}`));
    const ack = await resumed;
    expect(ack, 'resume acknowledgement').to.deep.include({ ok: true });
    await again.waitFor('new_message', 110, 30_000).catch((error: Error) => {
      throw new Error(`${error.message} after resume on node A (ack ${JSON.stringify(ack)}; heard ${JSON.stringify(contentsOf(again.heard.get('new_message')!))})`);
    });
    const barrier = await postRest(nodeB, ann, chat, 'barrier');
    await again.waitUntil('new_message', (p) => p.position === barrier.position, 15_000);
    await pause(300);
    console.log(`      (resume of 100 missed + 10 live on A took ${Date.now() - started} ms)`);

    const expected = [...missed, ...live, barrier];
    const heard = again.heard.get('new_message')!;
    expect(contentsOf(heard)).to.deep.equal(expected.map((p) => p.content));
    expect(positionsOf(heard)).to.deep.equal(expected.map((p) => p.position));
    expect(increasing(positionsOf(heard))).to.equal(true);
    heard.forEach((push, i) => expect(push.message, `push ${i}`).to.deep.equal(expected[i]!.message));
    // the replay reaches where the read models had got; anything later came live
    expect(BigInt(ack.position) >= BigInt(lastSeen), `resume answered ${ack.position}, before since ${lastSeen}`).to.equal(true);
    noNodeExited();
  });

  describe('when Redis restarts mid-run', function () {
    /** for the typing test, prepared while every process is surely up (an earlier failure may take the projector down) */
    let typists: { ann: User; bob: User; chat: string };

    before(async function () {
      const url = new URL(redisUrl);
      const why = `Redis restart test skipped: it restarts the Redis server itself, so it needs REDIS_URL at ${REDIS_HOST}:${REDIS_PORT} (got ${url.host}) and redis-server and redis-cli on PATH`;
      if (url.hostname !== REDIS_HOST || (url.port || '6379') !== REDIS_PORT || !onPath('redis-server') || !onPath('redis-cli')) {
        skippedSuites.add(why);
        console.log(`      ${why}`);
        this.skip();
      }
      const [ann, bob] = [await register(), await register()];
      typists = { ann, bob, chat: await befriend(ann, bob) };
      // typing checks membership on the read models: wait until they include the new chat
      const probe = await connect(nodeA.url, ann.key);
      try {
        const ready = Date.now() + 15_000;
        for (let typing = await probe.call('typing', { chat: typists.chat }); !typing.ok; typing = await probe.call('typing', { chat: typists.chat })) {
          expect(Date.now() < ready, `typing refused: ${JSON.stringify(typing)}`).to.equal(true);
          await pause(250);
        }
      } finally {
        probe.close();
      }
    });

    it('keeps the nodes serving: they reconnect, pushes resume on both nodes, and what was posted meanwhile comes with resume', async function () {
      this.timeout(240_000);
      const [ann, bob] = [await register(), await register()];
      const chat = await befriend(ann, bob);
      const stay = { A: await listen(nodeA, bob.key), B: await listen(nodeB, bob.key) };
      const away = await listen(nodeA, bob.key);
      const annOnB = await listen(nodeB, ann.key);
      const baseline = await postRest(nodeB, ann, chat, 'before the restart');
      for (const socket of [stay.A, stay.B, away]) await socket.waitUntil('new_message', (p) => p.position === baseline.position, 15_000);
      away.close();

      const whileDown: Posted[] = [];
      let downFor = 0;
      try {
        const down = stopRedis();
        const stoppedAt = Date.now();
        // the nodes serve commands without Redis (the rate limiter lets them through)
        for (let i = 0; i < 10; i++) whileDown.push(await postRest(nodeB, ann, chat, `while down ${i}`));
        for (let i = 0; i < 3; i++) whileDown.push(await postSocket(annOnB, chat, `while down over a socket ${i}`, 30_000));
        for (let i = 0; i < 5; i++) whileDown.push(await postRest(nodeA, ann, chat, `while down on A ${i}`));
        await pause(2000); // the projector projects them and tries to push while Redis is away
        expect(down.ok, `redis shutdown: ${down.output}`).to.equal(true);
        downFor = Date.now() - stoppedAt;
      } finally {
        startRedis();
      }
      const back = Date.now();
      noNodeExited();
      await Promise.all(nodes.map((node) => waitReady(node, '/readyz', 60_000)));

      // pushes resume: keep posting until both kept sockets hear one live (the subscriber resubscribes on its own time)
      let probe: Posted | undefined;
      const deadline = Date.now() + 60_000;
      for (let i = 0; ; i++) {
        probe = await postRest(nodeB, ann, chat, `probe ${i}`);
        const heard = await Promise.all(
          Object.values(stay).map((s) => s.waitUntil('new_message', (p) => p.position === probe!.position, 2000).then(() => true, () => false)),
        );
        if (heard.every(Boolean)) break;
        expect(Date.now() < deadline, `no live push on both nodes within 60 s of Redis coming back (heard: A ${heard[0]}, B ${heard[1]})`).to.equal(true);
      }
      console.log(`      (Redis down ${downFor} ms; live pushes on both nodes again ${Date.now() - back} ms after it came back)`);

      // what the kept sockets missed comes with resume, once each
      for (const [node, socket] of Object.entries(stay)) {
        const ack = await socket.call('resume', { since: baseline.position }, 30_000);
        expect(ack, `resume on node ${node}`).to.deep.include({ ok: true });
        const barrier = await postRest(nodeB, ann, chat, `barrier ${node}`);
        await socket.waitUntil('new_message', (p) => p.position === barrier.position, 15_000);
        const heard = socket.heard.get('new_message')!;
        const positions = positionsOf(heard);
        expect(new Set(positions).size, `duplicates heard on node ${node}`).to.equal(positions.length);
        for (const posted of whileDown) {
          expect(positions, `"${posted.content}" (position ${posted.position}) reached bob's socket on node ${node} (heard: ${JSON.stringify(contentsOf(heard))})`).to.include(posted.position);
        }
      }

      // a client that was away during the outage reconnects and gets everything in order, exactly once, then live ones
      const returning = await listen(nodeA, bob.key);
      const ack = await returning.call('resume', { since: baseline.position }, 30_000);
      expect(ack).to.deep.include({ ok: true });
      const last = await postRest(nodeB, ann, chat, 'after the restart');
      await returning.waitUntil('new_message', (p) => p.position === last.position, 15_000).catch((error: Error) => {
        throw new Error(`${error.message}: the returning socket heard ${JSON.stringify(contentsOf(returning.heard.get('new_message')!))}`);
      });
      await pause(300);
      const heard = returning.heard.get('new_message')!;
      expect(increasing(positionsOf(heard)), 'in order').to.equal(true);
      expect(new Set(positionsOf(heard)).size, 'exactly once').to.equal(heard.length);
      const contents = contentsOf(heard);
      expect(contents.slice(0, whileDown.length), 'the messages posted while Redis was down, first').to.deep.equal(whileDown.map((p) => p.content));
      expect(contents.at(-1)).to.equal('after the restart');
      noNodeExited();
    });

    it('keeps a gateway node up when a client types while Redis is down, and relays typing across nodes once it is back', async function () {
      this.timeout(120_000);
      const { ann, bob, chat } = typists;
      // an earlier test may have just restarted Redis: start from nodes that relay typing to each other
      await Promise.all([nodeA, nodeB].map((node) => waitReady(node, '/readyz', 60_000)));
      const annOnA = await listen(nodeA, ann.key);
      const bobOnB = await listen(nodeB, bob.key);
      const relayed = Date.now() + 30_000;
      while (bobOnB.heard.get('typing')!.length === 0) {
        expect(Date.now() < relayed, 'typing on node A did not reach node B within 30 s, before any Redis restart of this test').to.equal(true);
        expect(await annOnA.call('typing', { chat })).to.deep.equal({ ok: true });
        await pause(500);
      }

      try {
        const down = stopRedis();
        expect(down.ok, `redis shutdown: ${down.output}`).to.equal(true);
        // the relay goes through the Redis adapter: it cannot reach node B now, but must not hurt node A
        const ack = await annOnA.call('typing', { chat }, 30_000).catch((error: Error) => ({ timeout: error.message }));
        expect(ack, 'typing acknowledgement while Redis is down').to.deep.equal({ ok: true });
        await pause(5000); // ioredis gives up on queued commands after a few reconnection attempts
        for (const node of [nodeA, nodeB]) expect(node.exit, `${node.name} exited after a typing relay while Redis was down\n${node.describe()}`).to.equal(null);
      } finally {
        startRedis();
      }
      await Promise.all([nodeA, nodeB].map((node) => waitReady(node, '/readyz', 60_000)));
      // the adapter's subscriber is back: typing on A reaches B again
      const deadline = Date.now() + 60_000;
      const before = bobOnB.heard.get('typing')!.length;
      while (bobOnB.heard.get('typing')!.length === before) {
        expect(Date.now() < deadline, 'typing on node A did not reach node B within 60 s of Redis coming back').to.equal(true);
        await annOnA.call('typing', { chat });
        await pause(500);
      }
      expect(bobOnB.heard.get('typing')!.at(-1)).to.deep.equal({ chat, user: ann.id });
      for (const node of [nodeA, nodeB]) expect(node.exit, `${node.name} exited`).to.equal(null);
    });
  });
});

/** Shuts the local Redis down (the brief's exact command): answers whether it went. */
function stopRedis(): { ok: boolean; output: string } {
  const result = runCommand('redis-cli', ['-h', REDIS_HOST, '-p', REDIS_PORT, 'shutdown', 'nosave']);
  // redis-cli answers nothing (or a closed connection) when the server went away: check it is gone
  for (let i = 0; i < 50 && redisPings(); i++) runCommand('sleep', ['0.1']);
  return { ok: !redisPings(), output: result.output };
}

function redisPings(): boolean {
  const ping = runCommand('redis-cli', ['-h', REDIS_HOST, '-p', REDIS_PORT, 'ping'], 3000);
  return ping.ok && ping.output.includes('PONG');
}

/** Starts the local Redis again as CI runs it, and waits for PONG; throws if it does not answer within 20 s. */
function startRedis(): void {
  if (redisPings()) return;
  const started = runCommand('redis-server', [
    '--daemonize', 'yes', '--bind', '127.0.0.1', '-::1', '--port', REDIS_PORT, '--save', '', '--appendonly', 'no', '--dir', '/var/lib/redis', '--logfile', '/var/log/redis/ci.log',
  ]);
  for (let i = 0; i < 200; i++) {
    if (redisPings()) return;
    runCommand('sleep', ['0.1']);
  }
  throw new Error(`Redis did not answer PONG after restarting it: ${started.output}`);
}

/** after(): whatever a test did, leave Redis running (only where this suite may restart it). */
function ensureRedisRunning(): void {
  try {
    const url = new URL(process.env.REDIS_URL ?? '');
    if (url.hostname !== REDIS_HOST || (url.port || '6379') !== REDIS_PORT || !onPath('redis-server')) return;
  } catch {
    return;
  }
  if (!redisPings()) startRedis();
}
