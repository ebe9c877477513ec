import { expect } from 'chai';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { OAuth2Server, type MutableResponse, type TokenRequestIncomingMessage } from 'oauth2-mock-server';
import { createGoogleOAuth, GoogleLoginError, type GoogleOAuth, type GoogleOAuthConfig } from '../../src/commands/identity/googleOAuth.ts';
import { checkOAuthState, newOAuthState } from '../../src/commands/identity/oauthState.ts';

const CLIENT_SECRET = 'very-secret-client-secret-0123456789';
const REDIRECT_URL = 'http://127.0.0.1:9/api/rest-auth/google/login/callback/';
const STATE_SECRET = 'state-signing-secret';

describe('Google OAuth client against a local OAuth2 server', () => {
  let server: OAuth2Server;
  let config: GoogleOAuthConfig;
  let google: GoogleOAuth;

  before(async () => {
    server = new OAuth2Server();
    await server.issuer.keys.generate('RS256');
    await server.start(0, '127.0.0.1');
    const issuer = server.issuer.url!;
    config = {
      clientId: 'our-client-id',
      clientSecret: CLIENT_SECRET,
      redirectUrl: REDIRECT_URL,
      authorizationUrl: `${issuer}/authorize`,
      tokenUrl: `${issuer}/token`,
      userinfoUrl: `${issuer}/userinfo`,
    };
    google = createGoogleOAuth(config);
  });
  after(async () => {
    await server.stop();
  });
  afterEach(() => {
    // a hook a failed test did not use must not answer for the next one
    server.service.removeAllListeners();
  });

  /** Follows the authorization URL as a browser would, up to the redirect back to us. */
  async function authorize(state: string): Promise<URL> {
    const response = await fetch(google.authorizationUrl(state), { redirect: 'manual' });
    expect(response.status).to.equal(302);
    return new URL(response.headers.get('location')!);
  }

  function errorOf(promise: Promise<unknown>): Promise<unknown> {
    return promise.then(
      () => expect.fail('expected a GoogleLoginError'),
      (error: unknown) => error,
    );
  }

  it('builds an authorization URL with the client id, redirect URL, state, scope and the code response type', () => {
    const url = new URL(google.authorizationUrl('the-state'));
    expect(`${url.origin}${url.pathname}`).to.equal(config.authorizationUrl);
    expect(Object.fromEntries(url.searchParams)).to.deep.equal({
      response_type: 'code',
      client_id: 'our-client-id',
      redirect_uri: REDIRECT_URL,
      scope: 'openid email profile',
      state: 'the-state',
    });
    expect(url.toString()).not.to.include(CLIENT_SECRET);
  });

  it('goes from the authorization redirect to the profile: code exchanged with our credentials, userinfo read with the access token', async () => {
    const { state, cookie } = newOAuthState(STATE_SECRET);
    const callback = await authorize(state);
    expect(`${callback.origin}${callback.pathname}`).to.equal(REDIRECT_URL);
    expect(checkOAuthState(STATE_SECRET, callback.searchParams.get('state') ?? undefined, cookie)).to.equal(true);
    const code = callback.searchParams.get('code')!;
    expect(code).to.be.a('string').and.not.be.empty;

    let tokenRequest: Record<string, unknown> | undefined;
    let accessToken: unknown;
    let userinfoAuthorization: string | undefined;
    server.service.once('beforeResponse', (response: MutableResponse, req: TokenRequestIncomingMessage) => {
      tokenRequest = { ...req.body };
      accessToken = (response.body as Record<string, unknown>).access_token;
    });
    server.service.once('beforeUserinfo', (response: MutableResponse, req: IncomingMessage) => {
      userinfoAuthorization = req.headers.authorization;
      response.body = { sub: '109876543210', email: 'Alice@Example.com', email_verified: true, name: 'Alice Liddell', picture: 'https://example.com/alice.png' };
    });

    const profile = await google.fetchProfile(code);

    expect(profile).to.deep.equal({ sub: '109876543210', email: 'Alice@Example.com', emailVerified: true, name: 'Alice Liddell', picture: 'https://example.com/alice.png' });
    expect(tokenRequest).to.deep.equal({
      grant_type: 'authorization_code',
      code,
      redirect_uri: REDIRECT_URL,
      client_id: 'our-client-id',
      client_secret: CLIENT_SECRET,
    });
    expect(accessToken).to.be.a('string');
    expect(userinfoAuthorization).to.equal(`Bearer ${accessToken as string}`);
  });

  it('reads email_verified sent as a string, and takes a missing one as unverified with no name or picture', async () => {
    server.service.once('beforeUserinfo', (response: MutableResponse) => {
      response.body = { sub: 's-1', email: 'a@example.com', email_verified: 'true' };
    });
    expect(await google.fetchProfile('any-code')).to.deep.equal({ sub: 's-1', email: 'a@example.com', emailVerified: true });

    server.service.once('beforeUserinfo', (response: MutableResponse) => {
      response.body = { sub: 's-2', email: 'b@example.com' };
    });
    expect(await google.fetchProfile('any-code')).to.deep.equal({ sub: 's-2', email: 'b@example.com', emailVerified: false });
  });

  it('turns a refused code into a GoogleLoginError naming the reason', async () => {
    server.service.once('beforeResponse', (response: MutableResponse) => {
      response.statusCode = 400;
      response.body = { error: 'invalid_grant', error_description: 'Malformed auth code.' };
    });
    const error = await errorOf(google.fetchProfile('stale-code'));
    expect(error).to.be.instanceOf(GoogleLoginError);
    expect((error as Error).message).to.include('invalid_grant').and.include('Malformed auth code.');
  });

  it('never puts the client secret into an error, even when the provider echoes it', async () => {
    server.service.once('beforeResponse', (response: MutableResponse, req: TokenRequestIncomingMessage) => {
      response.statusCode = 401;
      response.body = { error: 'invalid_client', error_description: `unknown secret ${String((req.body as unknown as Record<string, unknown>).client_secret)}` };
    });
    const error = await errorOf(google.fetchProfile('code'));
    expect(error).to.be.instanceOf(GoogleLoginError);
    expect((error as Error).message).to.include('invalid_client');
    expect((error as Error).message).not.to.include(CLIENT_SECRET);
    expect(JSON.stringify(error)).not.to.include(CLIENT_SECRET);
  });

  it('turns a token answer with no access token into a GoogleLoginError', async () => {
    server.service.once('beforeResponse', (response: MutableResponse) => {
      response.body = { token_type: 'Bearer' };
    });
    expect(await errorOf(google.fetchProfile('code'))).to.be.instanceOf(GoogleLoginError);
  });

  it('turns a refused userinfo request into a GoogleLoginError', async () => {
    server.service.once('beforeUserinfo', (response: MutableResponse) => {
      response.statusCode = 401;
      response.body = { error: 'invalid_token', error_description: 'token is expired' };
    });
    const error = await errorOf(google.fetchProfile('code'));
    expect(error).to.be.instanceOf(GoogleLoginError);
    expect((error as Error).message).to.include('invalid_token');
  });

  it('turns a profile without an email into a GoogleLoginError', async () => {
    // the mock's own userinfo answer is {sub: "johndoe"}: no email
    const error = await errorOf(google.fetchProfile('code'));
    expect(error).to.be.instanceOf(GoogleLoginError);
    expect((error as Error).message).to.include('email');
  });

  it('turns an unreachable provider into a GoogleLoginError', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const { port } = closed.address() as AddressInfo;
    await new Promise((resolve) => closed.close(resolve));
    const unreachable = createGoogleOAuth({ ...config, tokenUrl: `http://127.0.0.1:${port}/token` });
    const error = await errorOf(unreachable.fetchProfile('code'));
    expect(error).to.be.instanceOf(GoogleLoginError);
    expect((error as Error).message).not.to.include(CLIENT_SECRET);
  });
});

describe('OAuth state', () => {
  it('accepts the state together with the cookie it was made with', () => {
    const { state, cookie } = newOAuthState(STATE_SECRET);
    expect(checkOAuthState(STATE_SECRET, state, cookie)).to.equal(true);
  });

  it('makes a new random state each time, and keeps the state apart from the cookie', () => {
    const a = newOAuthState(STATE_SECRET);
    const b = newOAuthState(STATE_SECRET);
    expect(a.state).not.to.equal(b.state);
    expect(a.cookie).not.to.equal(b.cookie);
    expect(a.state).not.to.equal(a.cookie);
  });

  it('rejects a tampered state', () => {
    const { state, cookie } = newOAuthState(STATE_SECRET);
    for (const index of [0, state.indexOf('.') + 1, state.length - 1]) {
      const flipped = state[index] === 'A' ? 'B' : 'A';
      const tampered = state.slice(0, index) + flipped + state.slice(index + 1);
      expect(checkOAuthState(STATE_SECRET, tampered, cookie), tampered).to.equal(false);
    }
    expect(checkOAuthState(STATE_SECRET, `${state}x`, cookie)).to.equal(false);
    expect(checkOAuthState(STATE_SECRET, cookie, cookie), 'the bare nonce').to.equal(false);
  });

  it('rejects a missing cookie or state', () => {
    const { state, cookie } = newOAuthState(STATE_SECRET);
    expect(checkOAuthState(STATE_SECRET, state, undefined)).to.equal(false);
    expect(checkOAuthState(STATE_SECRET, state, '')).to.equal(false);
    expect(checkOAuthState(STATE_SECRET, undefined, cookie)).to.equal(false);
    expect(checkOAuthState(STATE_SECRET, '', cookie)).to.equal(false);
  });

  it('rejects a state made for another browser’s cookie, or signed with another secret', () => {
    const mine = newOAuthState(STATE_SECRET);
    const theirs = newOAuthState(STATE_SECRET);
    expect(checkOAuthState(STATE_SECRET, theirs.state, mine.cookie)).to.equal(false);
    expect(checkOAuthState('another secret', mine.state, mine.cookie)).to.equal(false);
  });
});
