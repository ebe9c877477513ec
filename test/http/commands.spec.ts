import { expect } from 'chai';
import { randomUUID } from 'node:crypto';
import { client, befriend, registerUser, startTestBackend, type Client, type TestBackend } from '../support/testBackend.ts';

describe("commands over HTTP: the contract's invariants", function () {
  this.timeout(60_000);
  let backend: TestBackend;
  let api: Client;
  before(async () => {
    backend = await startTestBackend();
    api = client(backend.url);
  });
  after(async () => {
    await backend.close();
  });

  async function group(owner: Awaited<ReturnType<typeof registerUser>>, name = 'group') {
    const created = await owner.api.post('/api/chat/mychats/groups/', { name });
    expect(created.status).to.equal(201);
    return created.body.chat.uuid as string;
  }

  it('adds only friends to a group, and only by its participants', async () => {
    const [ann, bob, cid] = [await registerUser(api), await registerUser(api), await registerUser(api)];
    const chat = await group(ann);
    const stranger = await ann.api.post(`/api/chat/${chat}/`, { user_uuid: bob.id });
    expect(stranger.status).to.equal(400);
    expect(stranger.body.code).to.equal('not_a_friend');
    await befriend(ann, bob);
    const added = await ann.api.post(`/api/chat/${chat}/`, { user_uuid: bob.id });
    expect(added.status).to.equal(200);
    expect(added.body.chat.participants.map((p: { uuid: string }) => p.uuid)).to.have.members([ann.id, bob.id]);
    expect((await ann.api.post(`/api/chat/${chat}/`, { user_uuid: bob.id })).status).to.equal(409);
    await befriend(cid, bob);
    const outsider = await cid.api.post(`/api/chat/${chat}/`, { user_uuid: bob.id });
    expect(outsider.status).to.equal(403);
  });

  it('keeps a private chat to its two participants', async () => {
    const [ann, bob, cid] = [await registerUser(api), await registerUser(api), await registerUser(api)];
    const chat = await befriend(ann, bob);
    await befriend(ann, cid);
    const third = await ann.api.post(`/api/chat/${chat}/`, { user_uuid: cid.id });
    expect(third.status).to.equal(406);
    expect(third.body.code).to.equal('not_a_group_chat');
  });

  it('lets only participants post, and only authors edit', async () => {
    const [ann, bob, cid] = [await registerUser(api), await registerUser(api), await registerUser(api)];
    const chat = await befriend(ann, bob);
    const posted = await ann.api.post(`/api/chat/${chat}/messages/`, { message: 'hello' });
    expect(posted.status).to.equal(201);
    expect(posted.body.message).to.include({ id: 1, chat, author_id: ann.id, content: 'hello', deleted: false });
    expect(posted.body.position).to.match(/^\d+$/);
    expect((await cid.api.post(`/api/chat/${chat}/messages/`, { message: 'intruder' })).status).to.equal(403);
    expect((await cid.api.patch(`/api/chat/${chat}/messages/1/`, { message: 'x' })).status).to.equal(403);
    const notAuthor = await bob.api.patch(`/api/chat/${chat}/messages/1/`, { message: 'x' });
    expect(notAuthor.status).to.equal(403);
    expect(notAuthor.body.code).to.equal('not_the_author');
    const edited = await ann.api.patch(`/api/chat/${chat}/messages/1/`, { message: 'hello, edited' });
    expect(edited.status).to.equal(200);
    expect(edited.body.message).to.include({ id: 1, content: 'hello, edited', time_stamp: posted.body.message.time_stamp });
    expect(edited.body.message.edited_at).to.be.a('string');
    const deleted = await ann.api.delete(`/api/chat/${chat}/messages/1/`);
    expect(deleted.status).to.equal(200);
    expect(deleted.body.message).to.include({ id: 1, content: '', deleted: true });
    expect((await ann.api.patch(`/api/chat/${chat}/messages/1/`, { message: 'again' })).status).to.equal(404);
  });

  it('stops removed participants from posting', async () => {
    const [ann, bob] = [await registerUser(api), await registerUser(api)];
    await befriend(ann, bob);
    const chat = await group(ann);
    await ann.api.post(`/api/chat/${chat}/`, { user_uuid: bob.id });
    expect((await bob.api.post(`/api/chat/${chat}/messages/`, { message: 'in' })).status).to.equal(201);
    expect((await bob.api.delete(`/api/chat/${chat}/participants/${ann.id}/`)).status).to.equal(403);
    expect((await ann.api.delete(`/api/chat/${chat}/participants/${bob.id}/`)).status).to.equal(200);
    const after = await bob.api.post(`/api/chat/${chat}/messages/`, { message: 'out' });
    expect(after.status).to.equal(403);
    expect(after.body.code).to.equal('not_a_participant');
  });

  it('accepts an invitation once, and only by the invited user', async () => {
    const [ann, bob, cid] = [await registerUser(api), await registerUser(api), await registerUser(api)];
    const invitation = await ann.api.post('/api/user/friends/', { user_uuid: bob.id });
    expect(invitation.status).to.equal(201);
    expect(invitation.body).to.deep.include({ from: invitation.body.from, to: invitation.body.to });
    expect(invitation.body.to.uuid).to.equal(bob.id);
    expect((await ann.api.post('/api/user/friends/', { user_uuid: bob.id })).status).to.equal(409);
    expect((await bob.api.post('/api/user/friends/', { user_uuid: ann.id })).status).to.equal(409);
    expect((await ann.api.post('/api/user/friends/', { user_uuid: ann.id })).status).to.equal(400);
    expect((await cid.api.post('/api/user/invitations/', { invitation_id: invitation.body.id, decision: true })).status).to.equal(404);
    expect((await ann.api.post('/api/user/invitations/', { invitation_id: invitation.body.id, decision: true })).status).to.equal(404);
    expect((await bob.api.post('/api/user/invitations/', { invitation_id: randomUUID(), decision: true })).status).to.equal(404);
    const accepted = await bob.api.post('/api/user/invitations/', { invitation_id: invitation.body.id, decision: true });
    expect(accepted.status).to.equal(201);
    expect(accepted.body.chat).to.include({ is_group_chat: false, lastmessage: null });
    expect(accepted.body.chat.participants.map((p: { uuid: string }) => p.uuid)).to.have.members([ann.id, bob.id]);
    const twice = await bob.api.post('/api/user/invitations/', { invitation_id: invitation.body.id, decision: true });
    expect(twice.status).to.equal(404);
    expect((await ann.api.post('/api/user/friends/', { user_uuid: bob.id })).body.code).to.equal('already_friends');
  });

  it('stores 50 concurrent posts to one chat exactly once, in one order, each with its own position', async () => {
    const [ann, bob] = [await registerUser(api), await registerUser(api)];
    const chat = await befriend(ann, bob);
    const posts = await Promise.all(
      Array.from({ length: 50 }, (_, i) => (i % 2 ? ann : bob).api.post(`/api/chat/${chat}/messages/`, { message: `message ${i}`, client_id: randomUUID() })),
    );
    expect(posts.map((p) => p.status)).to.deep.equal(Array(50).fill(201));
    const ids = posts.map((p) => p.body.message.id as number).sort((a, b) => a - b);
    expect(ids).to.deep.equal(Array.from({ length: 50 }, (_, i) => i + 1));
    expect(new Set(posts.map((p) => p.body.position)).size).to.equal(50);
    const events = (await backend.eventStore.readStream(`chat-${chat}`)).filter((e) => e.type === 'MessagePosted');
    expect(events).to.have.length(50);
    const stamps = events.map((e) => (e.data as { time_stamp: string }).time_stamp);
    expect([...stamps].sort()).to.deep.equal(stamps);
    expect(new Set(stamps).size).to.equal(50);
    // each answer's position is that of its own event
    for (const post of posts) {
      const stored = events.find((e) => (e.data as { message_id: number }).message_id === post.body.message.id)!;
      expect(String(stored.position)).to.equal(post.body.position);
    }
  });

  it('answers a repeated command (same client_id) as the first time and appends nothing', async () => {
    const [ann, bob] = [await registerUser(api), await registerUser(api)];
    const chat = await befriend(ann, bob);
    const clientId = randomUUID();
    const first = await ann.api.post(`/api/chat/${chat}/messages/`, { message: 'once', client_id: clientId });
    await bob.api.post(`/api/chat/${chat}/messages/`, { message: 'in between' });
    const head = await backend.logHead();
    const again = await ann.api.post(`/api/chat/${chat}/messages/`, { message: 'once', client_id: clientId });
    expect(again.status).to.equal(201);
    expect(again.body).to.deep.equal(first.body);
    expect(await backend.logHead()).to.equal(head);
    const concurrent = randomUUID();
    const racing = await Promise.all([1, 2, 3].map(() => ann.api.post(`/api/chat/${chat}/messages/`, { message: 'race', client_id: concurrent })));
    expect(new Set(racing.map((r) => JSON.stringify(r.body))).size).to.equal(1);
    const posted = (await backend.eventStore.readStream(`chat-${chat}`)).filter((e) => e.type === 'MessagePosted');
    expect(posted.map((e) => (e.data as { content: string }).content)).to.deep.equal(['once', 'in between', 'race']);
  });

  it('registers one account for one email, whatever its letter case, from 10 concurrent requests', async () => {
    const local = `same.${Date.now()}`;
    const replies = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        api.post('/api/rest-auth/registration/', {
          email: i % 2 ? `${local}@Example.com` : `${local.toUpperCase()}@example.COM`,
          password1: 'correct horse battery',
          password2: 'correct horse battery',
        }),
      ),
    );
    expect(replies.filter((r) => r.status === 201)).to.have.length(1);
    expect(replies.filter((r) => r.status === 409).map((r) => r.body.code)).to.deep.equal(Array(9).fill('email_taken'));
    const all = await backend.eventStore.readAll({ maxCount: 100_000 });
    const registered = all.filter((e) => e.type === 'UserRegistered' && (e.data as { email: string }).email.toLowerCase() === `${local}@example.com`);
    expect(registered).to.have.length(1);
  });

  it('logs in alike for an unknown email and a wrong password, and revokes tokens at once on logout and password change', async () => {
    const ann = await registerUser(api);
    const unknown = await api.post('/api/rest-auth/login/', { email: `nobody.${Date.now()}@example.com`, password: 'whatever pass' });
    const wrong = await api.post('/api/rest-auth/login/', { email: ann.email, password: 'not the password' });
    expect(unknown.status).to.equal(400);
    expect(wrong.status).to.equal(400);
    expect(unknown.body).to.deep.equal(wrong.body);
    const login = await api.post('/api/rest-auth/login/', { email: ann.email.toUpperCase(), password: 'correct horse battery' });
    expect(login.status).to.equal(200);
    const second = api.as(login.body.key);
    expect((await second.get('/api/user/currentuser/')).status).to.equal(200);

    const changed = await ann.api.post('/api/rest-auth/password/change/', { old_password: 'correct horse battery', new_password1: 'another fine phrase', new_password2: 'another fine phrase' });
    expect(changed.status).to.equal(200);
    expect((await second.get('/api/user/currentuser/')).status).to.equal(401);
    expect((await ann.api.get('/api/user/currentuser/')).status).to.equal(200);
    expect((await api.post('/api/rest-auth/login/', { email: ann.email, password: 'correct horse battery' })).status).to.equal(400);
    expect((await api.post('/api/rest-auth/login/', { email: ann.email, password: 'another fine phrase' })).status).to.equal(200);

    expect((await ann.api.post('/api/rest-auth/logout/')).status).to.equal(200);
    expect((await ann.api.get('/api/user/currentuser/')).status).to.equal(401);
  });

  it('refuses weak passwords and mismatched ones', async () => {
    const email = `weak.${Date.now()}@example.com`;
    for (const password of ['short', '1234567890', email.split('@')[0]!]) {
      const reply = await api.post('/api/rest-auth/registration/', { email, password1: password, password2: password });
      expect(reply.status, password).to.equal(400);
      expect(reply.body.fields).to.have.property('password1');
    }
    const mismatch = await api.post('/api/rest-auth/registration/', { email, password1: 'correct horse battery', password2: 'correct horse batterz' });
    expect(mismatch.status).to.equal(400);
    expect(mismatch.body.fields).to.have.property('password2');
  });

  it('updates the profile and answers the user with email', async () => {
    const ann = await registerUser(api);
    const updated = await ann.api.patch('/api/user/currentuser/', { username: 'Ann B', description: 'hi', photo: 'https://example.com/a.png' });
    expect(updated.status).to.equal(200);
    expect(updated.body).to.include({ uuid: ann.id, username: 'Ann B', description: 'hi', photo: 'https://example.com/a.png', email: ann.email });
    const same = await ann.api.patch('/api/user/currentuser/', { username: 'Ann B' });
    expect(same.body.position).to.equal(null);
  });

  it('never writes a password, a password hash or a token into the event log', async () => {
    const ann = await registerUser(api, 'secretive');
    const login = await api.post('/api/rest-auth/login/', { email: ann.email, password: 'correct horse battery' });
    await ann.api.post('/api/rest-auth/password/change/', { old_password: 'correct horse battery', new_password1: 'a brand new secret', new_password2: 'a brand new secret' });
    const log = JSON.stringify(
      (await backend.eventStore.readAll({ maxCount: 1_000_000 })).map((e) => ({ data: e.data, metadata: e.metadata })),
    );
    for (const secret of ['correct horse battery', 'a brand new secret', ann.key, login.body.key, 'scrypt$']) expect(log).not.to.include(secret);
  });
});
