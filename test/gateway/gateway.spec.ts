import { expect } from 'chai';
import { io } from 'socket.io-client';
import { befriend, client, registerUser, startTestBackend, type Client, type TestBackend } from '../support/testBackend.ts';
import { connect, pause, type Listener } from '../support/sockets.ts';

describe('Socket.IO gateway (one process)', function () {
  this.timeout(60_000);
  let backend: TestBackend;
  let api: Client;
  const open: Listener[] = [];
  const listen = async (token: string) => {
    const listener = await connect(backend.url, token);
    open.push(listener);
    return listener;
  };

  before(async () => {
    backend = await startTestBackend();
    api = client(backend.url);
  });
  afterEach(() => {
    for (const listener of open.splice(0)) listener.close();
  });
  after(async () => {
    await backend.close();
  });

  it('refuses a handshake without a valid token, with connect_error "unauthorized"', async () => {
    for (const auth of [{}, { token: 'not-a-token' }, { token: 42 }]) {
      const socket = io(backend.url, { path: '/socket.io/', auth, transports: ['websocket'], reconnection: false, forceNew: true });
      const error = await new Promise<Error>((resolve) => socket.once('connect_error', resolve));
      expect(error.message).to.equal('unauthorized');
      socket.disconnect();
    }
  });

  it('pushes a message posted over REST to the other participant, after the read models include it, with the position REST answered', async () => {
    const [ann, bob] = [await registerUser(api), await registerUser(api)];
    const chat = await befriend(ann, bob);
    const bobSocket = await listen(bob.key);
    const posted = await ann.api.post(`/api/chat/${chat}/messages/`, { message: 'hello bob' });
    const [push] = await bobSocket.waitFor('new_message', 1);
    expect(push).to.deep.include({ command: 'new_message', chat, position: posted.body.position });
    expect(push.message).to.deep.equal(posted.body.message);
    // a query made on the push sees the new state
    const page = await bob.api.get(`/api/chat/${chat}/messages/`);
    expect(page.body.messages[0].id).to.equal(posted.body.message.id);
  });

  it('answers new_message and fetch_messages over the socket, and refuses chats you are not in', async () => {
    const [ann, bob, cid] = [await registerUser(api), await registerUser(api), await registerUser(api)];
    const chat = await befriend(ann, bob);
    const [annSocket, bobSocket, cidSocket] = [await listen(ann.key), await listen(bob.key), await listen(cid.key)];
    const ack = await annSocket.call('new_message', { chat, message: ' over the socket ' });
    expect(ack).to.deep.include({ ok: true });
    expect(ack.message).to.include({ chat, author_id: ann.id, content: 'over the socket' });
    const [push] = await bobSocket.waitFor('new_message', 1);
    expect(push.position).to.equal(ack.position);
    await backend.pushesSettled();
    const fetched = await bobSocket.call('fetch_messages', { chat, last_message_time_stamp: '0' });
    expect(fetched).to.deep.include({ command: 'fetch_messages', error: 'LAST PACKAGE' });
    expect(fetched.messages.map((m: { content: string }) => m.content)).to.deep.equal(['over the socket']);
    for (const [command, payload] of [
      ['new_message', { chat, message: 'intruder' }],
      ['fetch_messages', { chat, last_message_time_stamp: 0 }],
    ] as const) {
      const refused = await cidSocket.call(command, payload);
      expect(refused).to.deep.equal({ ok: false, error: { code: 'not_a_participant', detail: refused.error.detail } });
    }
  });

  it('lets a socket hear a group from the moment its user is added, and not after they are removed', async () => {
    const [ann, bob] = [await registerUser(api), await registerUser(api)];
    await befriend(ann, bob);
    const group = (await ann.api.post('/api/chat/mychats/groups/', { name: 'g' })).body.chat.uuid;
    const bobSocket = await listen(bob.key);
    await ann.api.post(`/api/chat/${group}/messages/`, { message: 'before bob' });
    await ann.api.post(`/api/chat/${group}/`, { user_uuid: bob.id });
    const updated = await bobSocket.waitUntil('chat_updated', (push) => push.chat.uuid === group);
    expect(updated.chat).to.include({ uuid: group, name: 'g', is_group_chat: true });
    await ann.api.post(`/api/chat/${group}/messages/`, { message: 'with bob' });
    await bobSocket.waitFor('new_message', 1);
    await ann.api.delete(`/api/chat/${group}/participants/${bob.id}/`);
    await ann.api.post(`/api/chat/${group}/messages/`, { message: 'after bob' });
    await backend.pushesSettled();
    await pause(200);
    expect(bobSocket.heard.get('new_message')!.map((p) => p.message.content)).to.deep.equal(['with bob']);
  });

  it('sends each push once, in position order, to every socket of every member, also when many arrive at once', async () => {
    const [ann, bob, cid] = [await registerUser(api), await registerUser(api), await registerUser(api)];
    await befriend(ann, bob);
    await befriend(ann, cid);
    const group = (await ann.api.post('/api/chat/mychats/groups/', { name: 'burst' })).body.chat.uuid;
    for (const user of [bob, cid]) await ann.api.post(`/api/chat/${group}/`, { user_uuid: user.id });
    await backend.pushesSettled();
    // two sockets of one user, and the other members'
    const sockets = [await listen(ann.key), await listen(ann.key), await listen(bob.key), await listen(cid.key)];
    await pause(600); // past the resume grace, so these pushes go out live
    const posted = await Promise.all(Array.from({ length: 60 }, (_, i) => ann.api.post(`/api/chat/${group}/messages/`, { message: `burst ${i}` })));
    const positions = posted.map((r) => BigInt(r.body.position)).sort((a, b) => (a < b ? -1 : 1));
    for (const socket of sockets) await socket.waitFor('new_message', 60);
    await backend.pushesSettled();
    await pause(200);
    for (const socket of sockets) {
      const heard = socket.heard.get('new_message')!.filter((p) => p.chat === group);
      expect(heard.map((p) => BigInt(p.position))).to.deep.equal(positions);
      expect(new Set(heard.map((p) => p.message.content)).size).to.equal(60);
    }
  });

  it('replays what a client missed on resume, exactly once and in order, then goes on live', async () => {
    const [ann, bob] = [await registerUser(api), await registerUser(api)];
    const chat = await befriend(ann, bob);
    const first = await listen(bob.key);
    const seen = await ann.api.post(`/api/chat/${chat}/messages/`, { message: 'seen live' });
    await first.waitFor('new_message', 1);
    first.close();
    for (let i = 0; i < 100; i++) await ann.api.post(`/api/chat/${chat}/messages/`, { message: `missed ${i}` });
    await ann.api.patch(`/api/chat/${chat}/messages/2/`, { message: 'missed 0, edited' });
    const again = await listen(bob.key);
    // messages keep coming while it resumes
    const live = (async () => {
      for (let i = 0; i < 10; i++) await ann.api.post(`/api/chat/${chat}/messages/`, { message: `live ${i}` });
    })();
    const resumed = await again.call('resume', { since: seen.body.position });
    expect(resumed.ok).to.equal(true);
    await live;
    const messages = await again.waitFor('new_message', 110);
    await backend.pushesSettled();
    await pause(200);
    const contents = again.heard.get('new_message')!.map((p) => p.message.content);
    expect(contents).to.deep.equal([...Array.from({ length: 100 }, (_, i) => `missed ${i}`), ...Array.from({ length: 10 }, (_, i) => `live ${i}`)]);
    const positions = messages.map((p) => BigInt(p.position));
    expect(positions.every((p, i) => i === 0 || p > positions[i - 1]!)).to.equal(true);
    expect(again.heard.get('message_edited')!.map((p) => p.message.id)).to.deep.equal([2]);
  });

  it('relays typing to the other participants only', async () => {
    const [ann, bob, cid] = [await registerUser(api), await registerUser(api), await registerUser(api)];
    const chat = await befriend(ann, bob);
    const [annSocket, bobSocket, cidSocket] = [await listen(ann.key), await listen(bob.key), await listen(cid.key)];
    // typing goes to the chat's members as the read models know them: wait until they know this chat
    for (let tries = 0; (await ann.api.get(`/api/chat/${chat}/`)).status !== 200 && tries < 100; tries++) await pause(50);
    expect(await annSocket.call('typing', { chat })).to.deep.equal({ ok: true });
    const [typing] = await bobSocket.waitFor('typing', 1);
    expect(typing).to.deep.equal({ chat, user: ann.id });
    expect((await cidSocket.call('typing', { chat })).error.code).to.equal('not_a_participant');
    await pause(100);
    expect(annSocket.heard.get('typing')).to.deep.equal([]);
    expect(cidSocket.heard.get('typing')).to.deep.equal([]);
  });

  it('survives 1,000 malformed payloads from one socket, storing nothing and serving others', async () => {
    const [ann, bob] = [await registerUser(api), await registerUser(api)];
    const chat = await befriend(ann, bob);
    const attacker = await listen(ann.key);
    const head = await backend.logHead();
    const bad: unknown[] = [
      null,
      42,
      'text',
      [],
      { chat: 'not-a-uuid', message: 'x' },
      { chat, message: 12 },
      { chat, message: '' },
      { chat, message: 'x'.repeat(4001) },
      { chat },
      JSON.parse('{"__proto__": {"polluted": true}, "chat": 1}'),
      { constructor: { prototype: { polluted: true } } },
      { chat, last_message_time_stamp: 'yesterday' },
      { since: '-1' },
      { since: 'abc' },
    ];
    const commands = ['new_message', 'fetch_messages', 'resume', 'typing'];
    const answers = await Promise.all(
      Array.from({ length: 1000 }, (_, i) => attacker.call(commands[i % commands.length]!, bad[i % bad.length]).catch((error: Error) => ({ timeout: error.message }))),
    );
    expect(answers.filter((a) => a.ok === true && a.message)).to.have.length(0);
    expect(answers.filter((a) => a.ok === false).length).to.be.greaterThan(600);
    // no callback at all: dropped quietly
    attacker.socket.emit('new_message', { chat, message: '' });
    attacker.socket.emit('new_message', 'garbage');
    expect(({} as { polluted?: boolean }).polluted).to.equal(undefined);
    expect(await backend.logHead()).to.equal(head);
    const other = await listen(bob.key);
    const still = await other.call('new_message', { chat, message: 'still serving' });
    expect(still.ok).to.equal(true);
  });

  it('limits how fast one user posts, with a clear refusal', async () => {
    const [ann, bob] = [await registerUser(api), await registerUser(api)];
    const chat = await befriend(ann, bob);
    const annSocket = await listen(ann.key);
    const answers = await Promise.all(Array.from({ length: 40 }, (_, i) => annSocket.call('new_message', { chat, message: `burst ${i}` })));
    const limited = answers.filter((a) => a.ok === false);
    expect(limited.length).to.be.greaterThan(0);
    expect(limited[0].error.code).to.equal('rate_limited');
    const stored = (await backend.eventStore.readStream(`chat-${chat}`)).filter((e) => e.type === 'MessagePosted');
    expect(stored).to.have.length(answers.filter((a) => a.ok).length);
  });

  it('counts each user on their own when several burst at once (their checks share one trip to the store)', async () => {
    const [ann, bob] = [await registerUser(api), await registerUser(api)];
    const chat = await befriend(ann, bob);
    const [annSocket, bobSocket] = [await listen(ann.key), await listen(bob.key)];
    await pause(1000 - (Date.now() % 1000)); // a burst within one second's window
    const [annAnswers, bobAnswers] = await Promise.all(
      [annSocket, bobSocket].map((socket) => Promise.all(Array.from({ length: 30 }, (_, i) => socket.call('new_message', { chat, message: `race ${i}` })))),
    );
    for (const answers of [annAnswers!, bobAnswers!]) {
      expect(answers.filter((a) => a.ok === true)).to.have.length(20);
      expect(answers.filter((a) => a.ok === false).map((a) => a.error.code)).to.deep.equal(Array(10).fill('rate_limited'));
    }
  });
});
