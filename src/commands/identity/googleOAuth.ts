import { z } from 'zod';

export interface GoogleOAuthConfig {
  clientId: string;
  clientSecret: string;
  /** Our callback, exactly as registered with Google. */
  redirectUrl: string;
  authorizationUrl: string;
  tokenUrl: string;
  userinfoUrl: string;
  /** Per request to the provider; 10 s unless told. */
  timeoutMs?: number;
}

export interface GoogleProfile {
  sub: string;
  email: string;
  emailVerified: boolean;
  name?: string;
  picture?: string;
}

export interface GoogleOAuth {
  authorizationUrl(state: string): string;
  /** Exchanges the callback's code for the user's profile. @throws GoogleLoginError */
  fetchProfile(code: string): Promise<GoogleProfile>;
}

/** Google refused, failed or answered something we cannot use; the message is safe to show. */
export class GoogleLoginError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'GoogleLoginError';
  }
}

const SCOPE = 'openid email profile';

const tokenAnswer = z.object({ access_token: z.string().min(1) });
const providerError = z.object({ error: z.string(), error_description: z.string().optional() });
const userinfo = z.object({
  sub: z.string().min(1),
  email: z.string().min(1),
  // Google sends a boolean; some of its endpoints send "true"/"false"
  email_verified: z.union([z.boolean(), z.enum(['true', 'false']).transform((v) => v === 'true')]).default(false),
  name: z.string().optional(),
  picture: z.string().optional(),
});

/** The authorization-code flow against Google, or against any server at the configured endpoints. */
export function createGoogleOAuth(config: GoogleOAuthConfig): GoogleOAuth {
  const timeoutMs = config.timeoutMs ?? 10_000;
  // a provider that echoes the request must not put our secret into a message that reaches a log or a client
  const redact = (text: string) => (config.clientSecret ? text.split(config.clientSecret).join('[redacted]') : text).slice(0, 300);

  async function call(step: string, url: string, init: RequestInit): Promise<unknown> {
    let response: Response;
    try {
      response = await fetch(url, { ...init, signal: AbortSignal.timeout(timeoutMs) });
    } catch {
      throw new GoogleLoginError(`Google login failed: the ${step} could not reach Google.`);
    }
    const body: unknown = await response.json().catch(() => undefined);
    if (response.ok) return body;
    const reason = providerError.safeParse(body);
    const detail = reason.success ? `${reason.data.error}${reason.data.error_description ? `: ${reason.data.error_description}` : ''}` : `HTTP ${response.status}`;
    throw new GoogleLoginError(`Google login failed: the ${step} was refused (${redact(detail)}).`);
  }

  return {
    authorizationUrl(state) {
      const url = new URL(config.authorizationUrl);
      url.searchParams.set('response_type', 'code');
      url.searchParams.set('client_id', config.clientId);
      url.searchParams.set('redirect_uri', config.redirectUrl);
      url.searchParams.set('scope', SCOPE);
      url.searchParams.set('state', state);
      return url.toString();
    },

    async fetchProfile(code) {
      const tokens = tokenAnswer.safeParse(
        await call('code exchange', config.tokenUrl, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
          body: new URLSearchParams({
            grant_type: 'authorization_code',
            code,
            redirect_uri: config.redirectUrl,
            client_id: config.clientId,
            client_secret: config.clientSecret,
          }),
        }),
      );
      if (!tokens.success) throw new GoogleLoginError('Google login failed: the code exchange gave no access token.');

      const profile = userinfo.safeParse(
        await call('profile request', config.userinfoUrl, {
          headers: { authorization: `Bearer ${tokens.data.access_token}`, accept: 'application/json' },
        }),
      );
      if (!profile.success) throw new GoogleLoginError('Google login failed: Google did not share an account id and email address.');
      const { sub, email, email_verified, name, picture } = profile.data;
      return { sub, email, emailVerified: email_verified, ...(name !== undefined && { name }), ...(picture !== undefined && { picture }) };
    },
  };
}
