import { expect } from 'chai';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { OAuth2Server, type MutableRedirectUri, type MutableResponse, type TokenRequestIncomingMessage } from 'oauth2-mock-server';
import { client, registerUser, startTestBackend, type Client, type Reply, type TestBackend } from '../support/testBackend.ts';

/**
 * The Google login end to end through HTTP, against a local OAuth2 server standing in for Google:
 * our redirect, the provider's redirect back with a code, and our callback answering the app's
 * own token — which the original app never did.
 */

const CLIENT_ID = 'chat-backend-client';
const CLIENT_SECRET = 'the-google-client-secret-0123456789';
const STATE_SECRET = 'oauth-state-secret-for-tests';
const STATE_COOKIE = 'google_oauth_state';
const CALLBACK_PATH = '/api/rest-auth/google/login/callback/';

interface Profile {
  sub?: string;
  email?: string;
  email_verified?: boolean | string;
  name?: string;
}

let profiles = 0;
/** a Google profile of a new person */
const newProfile = (overrides: Profile = {}): Profile => {
  const n = `${Date.now()}${++profiles}`;
  return { sub: `10${n}`, email: `google.${n}@example.com`, email_verified: true, name: `Googler ${profiles}`, ...overrides };
};

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** `name=value` of the state cookie among Set-Cookie headers, with its attributes */
function stateCookieOf(headers: Headers): { pair: string; value: string; attributes: string } | undefined {
  const line = headers.getSetCookie().find((c) => c.startsWith(`${STATE_COOKIE}=`));
  if (!line) return undefined;
  const [pair, ...attributes] = line.split(';');
  return { pair: pair!.trim(), value: pair!.slice(STATE_COOKIE.length + 1), attributes: attributes.join(';').toLowerCase() };
}

describe('HTTP: Google login against a local OAuth2 server', function () {
  this.timeout(60_000);

  let oauth: OAuth2Server;
  let issuer: string;
  let backend: TestBackend;
  let api: Client;
  let redirectUrl: string;
  /** token requests that reached the provider */
  let tokenRequests: Array<Record<string, unknown>>;

  before(async () => {
    oauth = new OAuth2Server();
    await oauth.issuer.keys.generate('RS256');
    await oauth.start(0, '127.0.0.1');
    issuer = oauth.issuer.url!;
    // the backend's port is chosen first so that the redirect URL Google sends the browser to is the backend's own
    const port = await freePort();
    redirectUrl = `http://127.0.0.1:${port}${CALLBACK_PATH}`;
    backend = await startTestBackend({
      PORT: String(port),
      GOOGLE_CLIENT_ID: CLIENT_ID,
      GOOGLE_CLIENT_SECRET: CLIENT_SECRET,
      GOOGLE_REDIRECT_URL: redirectUrl,
      GOOGLE_AUTHORIZATION_URL: `${issuer}/authorize`,
      GOOGLE_TOKEN_URL: `${issuer}/token`,
      GOOGLE_USERINFO_URL: `${issuer}/userinfo`,
      OAUTH_STATE_SECRET: STATE_SECRET,
    });
    expect(backend.url).to.equal(`http://127.0.0.1:${port}`);
    api = client(backend.url);
  });

  beforeEach(() => {
    tokenRequests = [];
    oauth.service.on('beforeResponse', (_response: MutableResponse, req: TokenRequestIncomingMessage) => {
      tokenRequests.push({ ...(req.body as unknown as Record<string, unknown>) });
    });
  });

  afterEach(() => {
    // a hook a failed test did not use must not answer for the next one
    oauth.service.removeAllListeners();
  });

  after(async () => {
    await backend?.close();
    await oauth?.stop();
  });

  /** Step 1: our login endpoint, as a browser calls it. */
  async function startLogin() {
    const response = await fetch(`${backend.url}/api/rest-auth/google/login/`, { redirect: 'manual' });
    const location = response.headers.get('location');
    return { response, location: location ? new URL(location) : undefined, cookie: stateCookieOf(response.headers) };
  }

  /** Step 2: the provider's authorization page, which sends the browser back to our callback. */
  async function authorize(location: URL): Promise<URL> {
    const response = await fetch(location, { redirect: 'manual' });
    expect(response.status, 'the provider redirects back').to.equal(302);
    return new URL(response.headers.get('location')!);
  }

  /** Step 3: our callback, with whatever cookie the browser holds. */
  function callback(url: URL | string, cookie?: string): Promise<Reply> {
    const target = typeof url === 'string' ? url : `${url.pathname}${url.search}`;
    return api.raw('GET', target, undefined, cookie ? { cookie } : {});
  }

  /** The whole flow for a person with this Google profile; the provider answers userinfo with it. */
  async function loginAs(profile: Profile) {
    const started = await startLogin();
    expect(started.response.status).to.equal(302);
    expect(started.cookie, 'the state cookie').to.not.equal(undefined);
    const back = await authorize(started.location!);
    oauth.service.once('beforeUserinfo', (response: MutableResponse) => {
      response.body = { ...profile };
    });
    const reply = await callback(back, started.cookie!.pair);
    return { reply, back, started };
  }

  function expectError(reply: Reply, status: number, code?: string) {
    expect(reply.status, JSON.stringify(reply.body)).to.equal(status);
    expect(reply.body.detail).to.be.a('string').and.not.equal('');
    expect(reply.body.code).to.be.a('string');
    if (code) expect(reply.body.code).to.equal(code);
    expect(reply.body).not.to.have.property('key');
    expect(JSON.stringify(reply.body)).not.to.include(CLIENT_SECRET);
    expect(JSON.stringify(reply.body)).not.to.match(/\n\s*at |\.[cm]?[jt]s:\d+|node_modules/);
  }

  describe('GET /api/rest-auth/google/login/', () => {
    it('redirects (302) to the provider’s authorization URL with our client, callback, scope and a state', async () => {
      const { response, location } = await startLogin();
      expect(response.status).to.equal(302);
      expect(`${location!.origin}${location!.pathname}`).to.equal(`${issuer}/authorize`);
      const query = Object.fromEntries(location!.searchParams);
      expect(query).to.include({ response_type: 'code', client_id: CLIENT_ID, redirect_uri: redirectUrl });
      expect(query.scope!.split(' ')).to.include.members(['openid', 'email']);
      expect(query.state).to.be.a('string').with.length.greaterThan(20);
      expect(location!.toString()).not.to.include(CLIENT_SECRET);
    });

    it('sets an httpOnly, SameSite=Lax state cookie that matches the state but is not the state', async () => {
      const { location, cookie } = await startLogin();
      expect(cookie, 'Set-Cookie google_oauth_state').to.not.equal(undefined);
      expect(cookie!.value).to.have.length.greaterThan(20);
      expect(cookie!.attributes).to.include('httponly');
      expect(cookie!.attributes).to.include('samesite=lax');
      expect(cookie!.attributes).to.include('path=/');
      const state = location!.searchParams.get('state')!;
      expect(state).not.to.equal(cookie!.value);
    });

    it('makes a new state and cookie for each login', async () => {
      const first = await startLogin();
      const second = await startLogin();
      expect(first.location!.searchParams.get('state')).not.to.equal(second.location!.searchParams.get('state'));
      expect(first.cookie!.value).not.to.equal(second.cookie!.value);
    });

    it('is sent back by the provider to our callback with a code and the same state', async () => {
      const { location } = await startLogin();
      const back = await authorize(location!);
      expect(`${back.origin}${back.pathname}`).to.equal(redirectUrl);
      expect(back.searchParams.get('code')).to.be.a('string').and.not.equal('');
      expect(back.searchParams.get('state')).to.equal(location!.searchParams.get('state'));
    });
  });

  describe('GET /api/rest-auth/google/login/callback/', () => {
    it("answers 200 {key, user} with the app's own token, which works on GET /api/user/currentuser/", async () => {
      const profile = newProfile({ name: 'Alice Liddell' });
      const head = await backend.logHead();
      const { reply, back } = await loginAs(profile);

      expect(reply.status, JSON.stringify(reply.body)).to.equal(200);
      expect(reply.body.key).to.be.a('string').with.length.greaterThan(20);
      expect(reply.body.user).to.include({ email: profile.email, username: 'Alice Liddell', is_active: true });
      expect(reply.body.user.uuid).to.match(/^[0-9a-f-]{36}$/);

      const me = await api.as(reply.body.key).get('/api/user/currentuser/');
      expect(me.status).to.equal(200);
      expect(me.body).to.deep.equal(reply.body.user);
      const bearer = await api.raw('GET', '/api/user/currentuser/', undefined, { authorization: `Bearer ${reply.body.key}` });
      expect(bearer.status).to.equal(200);

      // the first login registered the user: an event, whose position the answer gives
      const after = await backend.logHead();
      expect(after > head).to.equal(true);
      expect(reply.body.position).to.equal(String(after));
      // the backend exchanged the provider's code with our credentials and our callback
      expect(tokenRequests).to.have.length(1);
      expect(tokenRequests[0]).to.include({ grant_type: 'authorization_code', code: back.searchParams.get('code'), client_id: CLIENT_ID, redirect_uri: redirectUrl });
    });

    it('clears the state cookie once used', async () => {
      const { reply } = await loginAs(newProfile());
      expect(reply.status).to.equal(200);
      const cleared = stateCookieOf(reply.headers);
      expect(cleared, 'Set-Cookie google_oauth_state').to.not.equal(undefined);
      expect(cleared!.value).to.equal('');
      expect(cleared!.attributes).to.match(/expires=thu, 01 jan 1970/);
    });

    it('answers the same user on a second login, with a new key, and registers nobody new', async () => {
      const profile = newProfile();
      const first = await loginAs(profile);
      expect(first.reply.status).to.equal(200);
      const head = await backend.logHead();

      const second = await loginAs(profile);
      expect(second.reply.status, JSON.stringify(second.reply.body)).to.equal(200);
      expect(second.reply.body.user.uuid).to.equal(first.reply.body.user.uuid);
      expect(second.reply.body.key).not.to.equal(first.reply.body.key);
      expect(await backend.logHead(), 'no second registration').to.equal(head);
      for (const key of [first.reply.body.key, second.reply.body.key]) {
        expect((await api.as(key).get('/api/user/currentuser/')).body.uuid).to.equal(first.reply.body.user.uuid);
      }
    });

    it('knows the Google account by its id: a changed email at Google still answers the same user', async () => {
      const profile = newProfile();
      const first = await loginAs(profile);
      expect(first.reply.status).to.equal(200);
      const second = await loginAs({ ...profile, email: `changed.${profile.email}` });
      expect(second.reply.status, JSON.stringify(second.reply.body)).to.equal(200);
      expect(second.reply.body.user.uuid).to.equal(first.reply.body.user.uuid);
    });

    it('links a verified Google email to the account registered with it (any case) and answers that user', async () => {
      const registered = await registerUser(api, 'googlelinked');
      const { reply } = await loginAs(newProfile({ email: registered.email.toUpperCase() }));
      expect(reply.status, JSON.stringify(reply.body)).to.equal(200);
      expect(reply.body.user.uuid).to.equal(registered.id);
      expect((await api.as(reply.body.key).get('/api/user/currentuser/')).body.uuid).to.equal(registered.id);
      // and the password still works beside it
      const login = await api.post('/api/rest-auth/login/', { email: registered.email, password: 'correct horse battery' });
      expect(login.status).to.equal(200);
    });

    describe('refuses a state that is not this browser’s: 400 invalid_state, before asking the provider', () => {
      const flip = (text: string) => text.slice(0, -1) + (text.endsWith('A') ? 'B' : 'A');
      const cases: Array<[string, (mine: { back: URL; cookie: string; cookieValue: string }, other: { back: URL; cookie: string }) => [URL, string | undefined]]> = [
        ['a tampered state', ({ back, cookie }) => [withQuery(back, { state: flip(back.searchParams.get('state')!) }), cookie]],
        ['a state with its signature cut off', ({ back, cookie }) => [withQuery(back, { state: back.searchParams.get('state')!.split('.')[0]! }), cookie]],
        ['the bare cookie value as the state', ({ back, cookie, cookieValue }) => [withQuery(back, { state: cookieValue }), cookie]],
        ['no cookie', ({ back }) => [back, undefined]],
        ['an empty cookie', ({ back }) => [back, `${STATE_COOKIE}=`]],
        ['a tampered cookie', ({ back, cookieValue }) => [back, `${STATE_COOKIE}=${flip(cookieValue)}`]],
        ["another login's cookie", ({ back }, other) => [back, other.cookie]],
        ["another login's state with this cookie", ({ cookie }, other) => [other.back, cookie]],
      ];

      for (const [what, spoil] of cases) {
        it(what, async () => {
          const mine = await startLogin();
          const other = await startLogin();
          const [url, cookie] = spoil(
            { back: await authorize(mine.location!), cookie: mine.cookie!.pair, cookieValue: mine.cookie!.value },
            { back: await authorize(other.location!), cookie: other.cookie!.pair },
          );
          oauth.service.once('beforeUserinfo', (response: MutableResponse) => {
            response.body = { ...newProfile() };
          });
          const head = await backend.logHead();
          const reply = await callback(url, cookie);
          expectError(reply, 400, 'invalid_state');
          expect(tokenRequests, 'the code went to the provider').to.deep.equal([]);
          expect(await backend.logHead(), 'nothing appended').to.equal(head);
        });
      }
    });

    it('refuses a callback without code or state: 400 with fields', async () => {
      const { location, cookie } = await startLogin();
      const back = await authorize(location!);
      for (const drop of ['code', 'state']) {
        const url = new URL(back);
        url.searchParams.delete(drop);
        const reply = await callback(url, cookie!.pair);
        expectError(reply, 400, 'invalid');
        expect(reply.body.fields).to.have.property(drop);
      }
      expect(tokenRequests).to.deep.equal([]);
    });

    it('refuses a login the user declined at the provider (error=access_denied, no code): 400', async () => {
      const { location, cookie } = await startLogin();
      oauth.service.once('beforeAuthorizeRedirect', (redirect: MutableRedirectUri) => {
        redirect.url.searchParams.delete('code');
        redirect.url.searchParams.set('error', 'access_denied');
      });
      const back = await authorize(location!);
      const head = await backend.logHead();
      expectError(await callback(back, cookie!.pair), 400);
      expect(await backend.logHead()).to.equal(head);
    });

    const unverified: Array<[string, Profile]> = [
      ['email_verified false', newProfile({ email_verified: false })],
      ['email_verified "false"', newProfile({ email_verified: 'false' })],
      ['no email_verified', (({ email_verified: _, ...rest }) => rest)(newProfile())],
    ];
    for (const [what, profile] of unverified) {
      it(`refuses an unverified email (${what}): 400, creating no user and giving no key`, async () => {
        const head = await backend.logHead();
        const { reply } = await loginAs(profile);
        expectError(reply, 400, 'email_not_verified');
        expect(await backend.logHead(), 'nothing appended').to.equal(head);
      });
    }

    it('does not let an unverified Google email take over the account registered with it', async () => {
      const registered = await registerUser(api, 'googlevictim');
      const attacker = newProfile({ email: registered.email, email_verified: false });
      const { reply } = await loginAs(attacker);
      expectError(reply, 400, 'email_not_verified');
      // the refused attempt linked nothing: the same Google account, verified with its own email, is someone else
      const later = await loginAs({ ...attacker, email: `own.${attacker.email}`, email_verified: true });
      expect(later.reply.status, JSON.stringify(later.reply.body)).to.equal(200);
      expect(later.reply.body.user.uuid).not.to.equal(registered.id);
    });

    it('survives a profile name Postgres cannot store: no 500, and the account still logs in', async () => {
      const profile = newProfile({ name: 'Nul\u0000Name' });
      const first = await loginAs(profile);
      expect(first.reply.status, JSON.stringify(first.reply.body)).to.be.oneOf([200, 400]);
      const again = await loginAs({ ...profile, name: 'Clean Name' });
      expect(again.reply.status, JSON.stringify(again.reply.body)).to.equal(200);
      expect((await api.as(again.reply.body.key).get('/api/user/currentuser/')).body.email).to.equal(profile.email);
    });

    it('takes a profile name over 50 characters as a username cut to 50', async () => {
      const { reply } = await loginAs(newProfile({ name: `A${'n'.repeat(79)}` }));
      expect(reply.status, JSON.stringify(reply.body)).to.equal(200);
      expect(reply.body.user.username).to.equal(`A${'n'.repeat(49)}`);
    });

    it('answers one user to first logins of a new Google account in several tabs at once', async () => {
      const profile = newProfile();
      const tabs = await Promise.all([1, 2, 3, 4].map(() => startLogin()));
      const backs = await Promise.all(tabs.map((tab) => authorize(tab.location!)));
      oauth.service.on('beforeUserinfo', (response: MutableResponse) => {
        response.body = { ...profile };
      });
      const replies = await Promise.all(backs.map((back, i) => callback(back, tabs[i]!.cookie!.pair)));
      for (const reply of replies) expect(reply.status, JSON.stringify(reply.body)).to.equal(200);
      expect(new Set(replies.map((reply) => reply.body.user.uuid)).size, 'one user').to.equal(1);
    });

    const refusals: Array<[string, string, (response: MutableResponse) => void]> = [
      ['the provider refusing the code (invalid_grant)', 'beforeResponse', (r) => Object.assign(r, { statusCode: 400, body: { error: 'invalid_grant', error_description: 'Bad code.' } })],
      ['the provider refusing our client, echoing our secret', 'beforeResponse', (r) => Object.assign(r, { statusCode: 401, body: { error: 'invalid_client', error_description: `unknown secret ${CLIENT_SECRET}` } })],
      ['a token answer with no access token', 'beforeResponse', (r) => Object.assign(r, { statusCode: 200, body: { token_type: 'Bearer' } })],
      ['the provider refusing the userinfo request', 'beforeUserinfo', (r) => Object.assign(r, { statusCode: 401, body: { error: 'invalid_token' } })],
      ['a profile with no email', 'beforeUserinfo', (r) => Object.assign(r, { statusCode: 200, body: { sub: 'no-email-sub', email_verified: true } })],
    ];
    for (const [what, event, answer] of refusals) {
      it(`answers 400 google_login_failed to ${what}, appending nothing`, async () => {
        const { location, cookie } = await startLogin();
        const back = await authorize(location!);
        oauth.service.once(event, answer);
        // were the refusal ignored, this profile would log someone in
        if (event !== 'beforeUserinfo') oauth.service.once('beforeUserinfo', (r: MutableResponse) => void (r.body = { ...newProfile() }));
        const head = await backend.logHead();
        const reply = await callback(back, cookie!.pair);
        expectError(reply, 400, 'google_login_failed');
        expect(await backend.logHead(), 'nothing appended').to.equal(head);
      });
    }

    it('answers a 4xx/5xx error (not a 500, not a hang) when the provider cannot be reached', async () => {
      // a provider that accepts the connection and closes it: the backend must not hang or crash
      const broken = createServer((req: IncomingMessage) => req.socket.destroy());
      await new Promise<void>((resolve) => broken.listen(0, '127.0.0.1', resolve));
      const { port } = broken.address() as AddressInfo;
      const other = await startTestBackend({
        GOOGLE_CLIENT_ID: CLIENT_ID,
        GOOGLE_CLIENT_SECRET: CLIENT_SECRET,
        GOOGLE_REDIRECT_URL: redirectUrl,
        GOOGLE_AUTHORIZATION_URL: `${issuer}/authorize`,
        GOOGLE_TOKEN_URL: `http://127.0.0.1:${port}/token`,
        GOOGLE_USERINFO_URL: `http://127.0.0.1:${port}/userinfo`,
        OAUTH_STATE_SECRET: STATE_SECRET,
      });
      try {
        const start = await fetch(`${other.url}/api/rest-auth/google/login/`, { redirect: 'manual' });
        const cookie = stateCookieOf(start.headers)!;
        const state = new URL(start.headers.get('location')!).searchParams.get('state')!;
        const reply = await client(other.url).raw('GET', `${CALLBACK_PATH}?code=some-code&state=${encodeURIComponent(state)}`, undefined, { cookie: cookie.pair });
        expect([400, 502, 503], JSON.stringify(reply.body)).to.include(reply.status);
        expectError(reply, reply.status);
      } finally {
        await other.close();
        await new Promise((resolve) => broken.close(resolve));
      }
    });
  });

  describe('with Google login not configured', () => {
    const configurations: Array<[string, Record<string, string>]> = [
      ['nothing configured', {}],
      ['no state secret', { GOOGLE_CLIENT_ID: CLIENT_ID, GOOGLE_CLIENT_SECRET: CLIENT_SECRET, GOOGLE_REDIRECT_URL: 'http://127.0.0.1:9/cb/' }],
      ['no client secret', { GOOGLE_CLIENT_ID: CLIENT_ID, GOOGLE_REDIRECT_URL: 'http://127.0.0.1:9/cb/', OAUTH_STATE_SECRET: STATE_SECRET }],
    ];
    for (const [what, env] of configurations) {
      it(`answers 503 google_not_configured on login and callback (${what})`, async () => {
        const other = await startTestBackend(env);
        try {
          const anonymous = client(other.url);
          const login = await anonymous.get('/api/rest-auth/google/login/');
          expectError(login, 503, 'google_not_configured');
          expect(login.headers.get('location')).to.equal(null);
          expectError(await anonymous.get(`${CALLBACK_PATH}?code=c&state=s`), 503, 'google_not_configured');
        } finally {
          await other.close();
        }
      });
    }
  });
});

function withQuery(url: URL, changes: Record<string, string>): URL {
  const copy = new URL(url);
  for (const [name, value] of Object.entries(changes)) copy.searchParams.set(name, value);
  return copy;
}
