import { z } from 'zod';
import { DomainError } from '../../commands/DomainError.ts';
import type { IdentityStore } from '../../commands/identity/IdentityStore.ts';
import { GoogleLoginError, type GoogleOAuth } from '../../commands/identity/googleOAuth.ts';
import { checkOAuthState, newOAuthState, OAUTH_STATE_COOKIE } from '../../commands/identity/oauthState.ts';
import { hashPassword, passwordProblems, verifyPassword } from '../../commands/identity/passwords.ts';
import type { UserCommands } from '../../commands/user/userCommands.ts';
import { HttpError } from '../errors.ts';
import { route } from '../route.ts';
import { ErrorAnswer, Login, OwnUser, PasswordChange, positionOf, Registration } from '../schemas.ts';

const tags = ['authentication'];
const KeyAndUser = z.object({ key: z.string(), user: OwnUser, position: z.string().optional() });

export interface AuthRouteDeps {
  identity: IdentityStore;
  users: UserCommands;
  google: { oauth: GoogleOAuth; stateSecret: string } | null;
}

export function authRoutes({ identity, users, google }: AuthRouteDeps) {
  return [
    route({
      method: 'post',
      path: '/api/rest-auth/registration/',
      summary: 'Register with email and password; answers a token and the new user',
      tags,
      authenticated: false,
      body: Registration,
      responses: { 201: { description: 'registered', schema: KeyAndUser }, 400: { description: 'invalid', schema: ErrorAnswer }, 409: { description: 'email taken', schema: ErrorAnswer } },
      async handle({ body, command }) {
        const problems = passwordProblems(body.password1, body.email);
        if (problems.length > 0) throw new HttpError(400, 'invalid', 'Invalid input.', { fields: { password1: problems } });
        const account = await users.createAccount({ email: body.email, passwordHash: await hashPassword(body.password1), username: body.username }, command);
        const token = await identity.issueToken(account.userId);
        return { status: 201, body: { key: token.key, user: account.user, position: positionOf(account.position) } };
      },
    }),

    route({
      method: 'post',
      path: '/api/rest-auth/login/',
      summary: 'Log in; the same answer for an unknown email and a wrong password',
      tags,
      authenticated: false,
      body: Login,
      responses: { 200: { description: 'a token', schema: z.object({ key: z.string() }) }, 400: { description: 'invalid credentials', schema: ErrorAnswer } },
      async handle({ body }) {
        const userId = await identity.login(body.email, body.password);
        const user = userId ? await users.userOf(userId).catch(() => null) : null;
        if (!userId || user?.status !== 'active') throw new HttpError(400, 'invalid_credentials', 'Unable to log in with provided credentials.');
        return { body: { key: (await identity.issueToken(userId)).key } };
      },
    }),

    route({
      method: 'post',
      path: '/api/rest-auth/logout/',
      summary: 'Log out: the token stops working at once',
      tags,
      responses: { 200: { description: 'logged out' } },
      async handle({ auth }) {
        await identity.revokeToken(auth!.tokenId);
        return { body: { detail: 'Successfully logged out.' } };
      },
    }),

    route({
      method: 'post',
      path: '/api/rest-auth/password/change/',
      summary: "Change the password; the user's other tokens stop working",
      tags,
      body: PasswordChange,
      responses: { 200: { description: 'changed' }, 400: { description: 'invalid', schema: ErrorAnswer } },
      async handle({ body, auth }) {
        const current = await identity.passwordHashOf(auth!.userId);
        if (!current || !(await verifyPassword(body.old_password, current))) {
          throw new HttpError(400, 'invalid', 'Invalid input.', { fields: { old_password: ['Your old password was entered incorrectly.'] } });
        }
        const user = await users.userOf(auth!.userId);
        const problems = passwordProblems(body.new_password1, user.email);
        if (problems.length > 0) throw new HttpError(400, 'invalid', 'Invalid input.', { fields: { new_password1: problems } });
        await identity.changePassword(auth!.userId, await hashPassword(body.new_password1), auth!.tokenId);
        return { body: { detail: 'New password has been saved.' } };
      },
    }),

    route({
      method: 'get',
      path: '/api/rest-auth/google/login/',
      summary: 'Start a Google login: a redirect to Google, with a state bound to this browser',
      tags,
      authenticated: false,
      responses: { 302: { description: 'to Google' }, 503: { description: 'Google login is not configured', schema: ErrorAnswer } },
      async handle({ ctx }) {
        const { oauth, stateSecret } = configured(google);
        const { state, cookie } = newOAuthState(stateSecret);
        ctx.cookies.set(OAUTH_STATE_COOKIE.name, cookie, { ...OAUTH_STATE_COOKIE.options });
        ctx.redirect(oauth.authorizationUrl(state));
        return { status: 302, body: '' };
      },
    }),

    route({
      method: 'get',
      path: '/api/rest-auth/google/login/callback/',
      summary: "Finish a Google login: answers the app's own token, creating the user on first login",
      tags,
      authenticated: false,
      query: z.object({ code: z.string().min(1).max(2048), state: z.string().min(1).max(512) }),
      responses: { 200: { description: 'a token and the user', schema: KeyAndUser }, 400: { description: 'refused', schema: ErrorAnswer } },
      async handle({ query, ctx, command }) {
        const { oauth, stateSecret } = configured(google);
        if (!checkOAuthState(stateSecret, query.state, ctx.cookies.get(OAUTH_STATE_COOKIE.name))) {
          throw new HttpError(400, 'invalid_state', 'The login state does not match this browser; start the login again.');
        }
        ctx.cookies.set(OAUTH_STATE_COOKIE.name, null);
        const profile = await oauth.fetchProfile(query.code).catch((error: unknown) => {
          throw error instanceof GoogleLoginError ? new HttpError(400, 'google_login_failed', error.message) : error;
        });
        if (!profile.emailVerified) throw new HttpError(400, 'email_not_verified', 'Google has not verified this email address.');
        let userId = (await identity.userIdForGoogle(profile.sub)) ?? (await identity.userIdForEmail(profile.email));
        let position: bigint | null = null;
        if (!userId) {
          // a display name is no username until control characters and broken surrogates are gone
          const username = profile.name?.replace(/\p{Cc}/gu, '').toWellFormed();
          const account = await users.createAccount({ email: profile.email, passwordHash: null, username }, { ...command, clientId: undefined }).catch(async (error: unknown) => {
            // another tab of the same first login got there first: use the account it is creating
            if (!(error instanceof DomainError && error.code === 'email_taken')) throw error;
            return { userId: await accountCreatedElsewhere(identity, users, profile.email), position: null };
          });
          userId = account.userId;
          position = account.position;
        }
        userId = await identity.linkGoogle(profile.sub, userId);
        const user = await users.userOf(userId);
        if (user.status !== 'active') throw new HttpError(400, 'invalid_credentials', 'This account is deactivated.');
        const token = await identity.issueToken(userId);
        return { body: { key: token.key, user: await users.ownUser(userId), ...(position === null ? {} : { position: positionOf(position) }) } };
      },
    }),
  ];
}

/** The account another request is registering for this email, once it is complete (2 s at most). */
async function accountCreatedElsewhere(identity: IdentityStore, users: UserCommands, email: string): Promise<string> {
  for (let tries = 0; tries < 40; tries++) {
    const userId = await identity.userIdForEmail(email);
    if (userId && (await users.userOf(userId).then(() => true, () => false))) return userId;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new HttpError(409, 'email_taken', 'A user with this email exists already.');
}

function configured(google: AuthRouteDeps['google']) {
  if (!google) throw new HttpError(503, 'google_not_configured', 'Google login is not configured on this server.');
  return google;
}

