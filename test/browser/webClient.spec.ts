import { expect } from 'chai';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { buildWebClient } from '../../web/build.ts';
import { adminQuery } from '../support/services.ts';
import { client, type Client, type TestBackend, startTestBackend } from '../support/testBackend.ts';
import { requireChromium } from './requireChromium.ts';

const SCREENSHOTS = 'test-results/browser';
const PASSWORD = 'correct horse battery';
const WAIT = { timeout: 15_000 };

interface Person {
  name: string;
  email: string;
  context: BrowserContext;
  page: Page;
}

/**
 * The web client in headless Chromium: two browser contexts are two users who befriend each
 * other and chat. Every "sees" below waits for text to appear in a page that is never reloaded
 * (a marker set on load must survive), so the suite fails if live delivery stops.
 */
describe('web client in Chromium', function () {
  this.timeout(120_000);
  let backend: TestBackend;
  let api: Client;
  let browser: Browser;
  let alice: Person;
  let bob: Person;
  const run = Date.now().toString(36);

  before(async function () {
    const executablePath = requireChromium(this);
    await buildWebClient();
    await mkdir(SCREENSHOTS, { recursive: true });
    backend = await startTestBackend();
    api = client(backend.url);
    browser = await chromium.launch({ executablePath, args: ['--no-sandbox', '--disable-dev-shm-usage'] });
    alice = await person(`alice${run}`);
    bob = await person(`bob${run}`);
  });
  // a failure leaves both pages' pictures and any error they show, to tell a slow push from a broken one
  afterEach(async function () {
    if (this.currentTest?.state !== 'failed' || !alice?.page || !bob?.page) return;
    for (const who of [alice, bob]) {
      const slug = (this.currentTest.title.split(/\W+/).slice(0, 5).join('-') || 'test').toLowerCase();
      await screenshot(who, `failed-${slug}-${who === alice ? 'alice' : 'bob'}`).catch(() => {});
      const errors = await who.page.locator('.error').allTextContents().catch(() => []);
      if (errors.some(Boolean)) console.error(`[${who.name}] shows: ${errors.filter(Boolean).join(' | ')}`);
    }
  });
  after(async () => {
    await browser?.close();
    await backend?.close();
  });

  async function person(name: string): Promise<Person> {
    const context = await browser.newContext({ viewport: { width: 1100, height: 700 } });
    const page = await context.newPage();
    page.on('pageerror', (error) => console.error(`[${name}] page error: ${error.message}`));
    return { name, email: `${name}@example.com`, context, page };
  }

  // page functions as strings: this project's tsconfig has no DOM types
  const keyOf = (who: Person) => who.page.evaluate<string | null>("localStorage.getItem('chat.token')");
  const messageTexts = (who: Person) => who.page.locator('.messages .message .content').allTextContents();
  const sees = (who: Person, selector: string, text: string | RegExp) => who.page.locator(selector, { hasText: text }).first().waitFor(WAIT);
  const chatLink = (who: Person, name: string) => who.page.locator('.chat-link', { hasText: name });

  const screenshot = (who: Person, name: string) => who.page.screenshot({ path: path.join(SCREENSHOTS, `${name}.png`) });

  async function send(who: Person, text: string) {
    await who.page.locator('.composer textarea').fill(text);
    await who.page.locator('.composer button[type=submit]').click();
  }

  it('registers two users, who stay logged in across a reload (token in localStorage)', async () => {
    for (const who of [alice, bob]) {
      await who.page.goto(backend.url);
      const form = who.page.locator('form.register');
      await form.locator('[name=email]').fill(who.email);
      await form.locator('[name=username]').fill(who.name);
      await form.locator('[name=password1]').fill(PASSWORD);
      await form.locator('[name=password2]').fill(PASSWORD);
      await form.locator('button[type=submit]').click();
      await who.page.locator('.status.online').waitFor(WAIT);
      expect(await who.page.locator('.me strong').textContent()).to.equal(who.name);
    }
    await bob.page.reload();
    await bob.page.locator('.status.online').waitFor(WAIT);
    expect(await keyOf(bob)).to.match(/^[0-9a-f]{40}$/);
    // from here on neither page reloads: a reload would drop this marker
    for (const who of [alice, bob]) await who.page.evaluate('window.notReloaded = true');
  });

  it('finds the other user, invites them; the invitation appears live and accepting opens the private chat on both sides', async () => {
    await alice.page.locator('form.search [name=phrase]').fill(bob.name);
    const invite = alice.page.locator('.result', { hasText: bob.name }).locator('button.invite');
    // Bob has just registered: like a person, search again until the read model knows him
    for (let tries = 0; !(await invite.isVisible()); tries++) {
      expect(tries, 'Bob never showed up in the search').to.be.below(30);
      await alice.page.locator('form.search button').click();
      await alice.page.locator('.results li').first().waitFor(WAIT);
      if (!(await invite.isVisible())) await alice.page.waitForTimeout(500);
    }
    await invite.click();
    await sees(alice, '.result .tag', 'invited');

    await sees(bob, '.invitations .invitation', alice.name);
    await bob.page.locator('.invitation', { hasText: alice.name }).locator('button.accept').click();
    await sees(bob, '.chat h2', alice.name);

    // the new chat reaches Alice's list by a push
    await chatLink(alice, bob.name).waitFor(WAIT);
    await chatLink(alice, bob.name).click();
    await sees(alice, '.chat h2', bob.name);
  });

  it('shows each user the other one’s messages live, and the typing indicator', async () => {
    await send(alice, `Hello ${bob.name}`);
    await sees(alice, '.message.mine .content', `Hello ${bob.name}`);
    await sees(bob, '.message .content', `Hello ${bob.name}`);

    await bob.page.locator('.composer textarea').pressSequentially('typing', { delay: 20 });
    await sees(alice, '.typing', `${bob.name} is typing`);
    await screenshot(alice, 'typing');
    await bob.page.locator('.composer textarea').fill('');
    await send(bob, `Hi ${alice.name}, nice to meet you`);
    await sees(alice, '.message .content', `Hi ${alice.name}, nice to meet you`);
    expect(await messageTexts(alice)).to.deep.equal(await messageTexts(bob));
  });

  it('shows an edit and a deletion of one’s own message to the other user live', async () => {
    const mine = alice.page.locator('.message.mine', { hasText: `Hello ${bob.name}` });
    await mine.locator('button.edit').click();
    await alice.page.locator('.edit-form input').fill(`Hello ${bob.name}, edited`);
    await alice.page.locator('.edit-form button[type=submit]').click();
    await sees(bob, '.message .content', `Hello ${bob.name}, edited`);
    await sees(bob, '.message .edited', 'edited');

    await alice.page.locator('.message.mine', { hasText: 'edited' }).locator('button.delete').click();
    await sees(bob, '.message.deleted .content', 'This message was deleted.');
    // others' messages carry no edit or delete buttons
    expect(await bob.page.locator('.message:not(.mine) button').count()).to.equal(0);
  });

  it('creates a group chat, adds a friend, and counts unread messages in the chat list', async () => {
    await bob.page.locator('form.new-group [name=name]').fill(`Team ${run}`);
    await bob.page.locator('form.new-group button').click();
    await sees(bob, '.chat h2', `Team ${run}`);
    await bob.page.locator('.group-controls select option', { hasText: alice.name }).waitFor({ state: 'attached', ...WAIT });
    await bob.page.locator('.group-controls select').selectOption({ label: alice.name });
    await bob.page.locator('.group-controls button[type=submit]').click();
    await sees(bob, '.participants', alice.name);
    // Bob goes back to the private chat; the group's news must reach him as an unread count
    await chatLink(bob, alice.name).click();
    await sees(bob, '.chat h2', alice.name);

    await chatLink(alice, `Team ${run}`).waitFor(WAIT);
    await chatLink(alice, `Team ${run}`).click();
    await sees(alice, '.chat h2', `Team ${run}`);
    await send(alice, 'Anyone here?');
    await sees(alice, '.message.mine .content', 'Anyone here?');

    await sees(bob, '.chat-link .unread', '1');
    await screenshot(bob, 'unread');
    expect(await chatLink(bob, `Team ${run}`).locator('.unread').textContent()).to.equal('1');
    await chatLink(bob, `Team ${run}`).click();
    await sees(bob, '.message .content', 'Anyone here?');
    await chatLink(bob, `Team ${run}`).locator('.unread').waitFor({ state: 'detached', ...WAIT });
  });

  it('pages back through the history 15 messages at a time, in order, none repeated or skipped', async () => {
    // Bob is in the group chat while Alice's client posts 32 more into the private one
    const chat = (await alice.page.locator('.chat-link', { hasText: bob.name }).getAttribute('data-chat'))!;
    const aliceApi = api.as((await keyOf(alice))!);
    const seeded = Array.from({ length: 32 }, (_, i) => `history ${String(i + 1).padStart(2, '0')}`);
    let position = '';
    for (const message of seeded) {
      const posted = await aliceApi.post(`/api/chat/${chat}/messages/`, { message });
      expect(posted.status).to.equal(201);
      position = posted.body.position;
    }
    // the pages are read from the read models: let them, and the pushes, include the last one
    expect((await aliceApi.get(`/api/chat/${chat}/messages/`, { 'x-min-position': position })).status).to.equal(200);
    await backend.pushesSettled();

    await chatLink(bob, alice.name).click();
    await sees(bob, '.message .content', 'history 32');
    expect(await messageTexts(bob)).to.deep.equal(seeded.slice(-15));
    await bob.page.locator('button.older').click();
    await sees(bob, '.message .content', 'history 03');
    expect(await messageTexts(bob)).to.deep.equal(seeded.slice(-30));
    await bob.page.locator('button.older').click();
    // a RegExp: a string matches without regard to case, and "history" holds "hi"
    await sees(bob, '.message .content', /^Hi /);
    const all = ['This message was deleted.', `Hi ${alice.name}, nice to meet you`, ...seeded];
    expect(await messageTexts(bob)).to.deep.equal(all);
    // the last page was short: nothing older to ask for
    await bob.page.locator('button.older').waitFor({ state: 'hidden', ...WAIT });
    const ids = await Promise.all((await bob.page.locator('.messages .message').all()).map(async (row) => Number(await row.getAttribute('data-id'))));
    expect(ids).to.deep.equal(Array.from({ length: all.length }, (_, i) => i + 1));
  });

  it('shows the server’s own error for an empty or a 5,000-character message, and appends nothing', async () => {
    const chat = (await alice.page.locator('.chat-link', { hasText: bob.name }).getAttribute('data-chat'))!;
    await chatLink(alice, bob.name).click();
    await sees(alice, '.message .content', 'history 32');
    const aliceApi = api.as((await keyOf(alice))!);
    const shown = () => alice.page.locator('.chat .error').textContent();
    const rowsBefore = await alice.page.locator('.messages .message').count();
    const posted = async () =>
      Number((await adminQuery(backend.db.url, `SELECT count(*) AS n FROM es_events WHERE stream = 'chat-${chat}' AND type = 'MessagePosted'`)).rows[0].n);
    const postedBefore = await posted();

    // what the server says about each, asked directly
    const blank = await aliceApi.post(`/api/chat/${chat}/messages/`, { message: '   ' });
    expect(blank.status).to.equal(400);
    await send(alice, '   ');
    await sees(alice, '.chat .error', blank.body.fields.message[0]);

    const long = 'x'.repeat(5000);
    const tooLong = await aliceApi.post(`/api/chat/${chat}/messages/`, { message: long });
    expect(tooLong.status).to.equal(413);
    await send(alice, long);
    await sees(alice, '.chat .error', tooLong.body.detail);
    expect(await shown()).to.not.match(/blank/);

    // refused input stays in the composer, and no message was appended anywhere
    expect(await alice.page.locator('.composer textarea').inputValue()).to.have.length(5000);
    expect(await alice.page.locator('.messages .message').count()).to.equal(rowsBefore);
    expect(await posted()).to.equal(postedBefore);

    // a good message clears the error
    await send(alice, 'All good again');
    await sees(bob, '.message .content', 'All good again');
    expect(await shown()).to.equal('');
  });

  it('reconnects after the server drops its sockets, and shows what was posted meanwhile, once', async () => {
    const chat = (await bob.page.locator('.chat-link', { hasText: alice.name }).getAttribute('data-chat'))!;
    await sees(bob, '.chat h2', alice.name);
    backend.io!.disconnectSockets(true);
    await bob.page.locator('.status.offline').waitFor(WAIT);
    const meanwhile = `Posted while you were away ${run}`;
    expect((await api.as((await keyOf(alice))!).post(`/api/chat/${chat}/messages/`, { message: meanwhile })).status).to.equal(201);
    await bob.page.locator('.status.online').waitFor(WAIT);
    await sees(bob, '.message .content', meanwhile);
    // and live delivery works again after the reconnect
    await send(alice, `Back live ${run}`);
    await sees(bob, '.message .content', `Back live ${run}`);
    expect((await messageTexts(bob)).filter((text) => text === meanwhile)).to.have.length(1);
  });

  it('shows the server’s error for a wrong password, and logs in with the right one', async () => {
    const said = await api.post('/api/rest-auth/login/', { email: alice.email, password: 'wrong password' });
    expect(said.status).to.equal(400);
    const visitor = await person('visitor');
    try {
      await visitor.page.goto(backend.url);
      const form = visitor.page.locator('form.login');
      await form.locator('[name=email]').fill(alice.email);
      await form.locator('[name=password]').fill('wrong password');
      await form.locator('button[type=submit]').click();
      await sees(visitor, '.auth .error', said.body.detail);
      expect(await keyOf(visitor)).to.equal(null);

      await form.locator('[name=password]').fill(PASSWORD);
      await form.locator('button[type=submit]').click();
      await visitor.page.locator('.status.online').waitFor(WAIT);
      expect(await visitor.page.locator('.me strong').textContent()).to.equal(alice.name);
    } finally {
      await visitor.context.close();
    }
  });

  it('never reloaded either page, and saves screenshots of both', async () => {
    for (const who of [alice, bob]) {
      expect(await who.page.evaluate('window.notReloaded')).to.equal(true);
    }
    await screenshot(alice, 'alice');
    await screenshot(bob, 'bob');
  });
});
