import { z } from 'zod';

const url = (protocols: string[]) =>
  z
    .string()
    .trim()
    .refine((value) => protocols.some((p) => value.startsWith(`${p}://`)), `must start with ${protocols.map((p) => `${p}://`).join(' or ')}`);

const optional = <T extends z.ZodType>(schema: T) => z.preprocess((value) => (value === '' ? undefined : value), schema.optional());

const ConfigSchema = z.object({
  DATABASE_URL: optional(url(['postgres', 'postgresql'])),
  EVENTSTORE_URL: optional(url(['esdb', 'esdb+discover', 'kurrentdb', 'kurrentdb+discover'])),
  REDIS_URL: optional(url(['redis', 'rediss'])),
  MEMCACHED_SERVERS: optional(z.string().regex(/^[^\s,]+(,[^\s,]+)*$/, 'must be host:port[,host:port...]')),
  PORT: z.coerce.number().int().min(0).max(65535).default(3000),
  HOST: z.string().default('0.0.0.0'),
  ROLE: z.enum(['all', 'api', 'projector']).default('all'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  EMBEDDED_PG_DIR: z.string().default('.data/postgres'),
  GOOGLE_CLIENT_ID: optional(z.string().min(1)),
  GOOGLE_CLIENT_SECRET: optional(z.string().min(1)),
  GOOGLE_REDIRECT_URL: optional(url(['http', 'https'])),
  GOOGLE_AUTHORIZATION_URL: url(['http', 'https']).default('https://accounts.google.com/o/oauth2/v2/auth'),
  GOOGLE_TOKEN_URL: url(['http', 'https']).default('https://oauth2.googleapis.com/token'),
  GOOGLE_USERINFO_URL: url(['http', 'https']).default('https://openidconnect.googleapis.com/v1/userinfo'),
  /** signs the OAuth state; every node must share it */
  OAUTH_STATE_SECRET: optional(z.string().min(16, 'must have at least 16 characters')),
  EMBEDDED_PG_PORT: z.coerce.number().int().min(1).max(65535).default(54329),
});

export type Config = z.infer<typeof ConfigSchema>;

/** Google login is on when its client is configured; the state secret must then be set too. */
export function googleConfig(config: Config) {
  const { GOOGLE_CLIENT_ID: clientId, GOOGLE_CLIENT_SECRET: clientSecret, GOOGLE_REDIRECT_URL: redirectUrl, OAUTH_STATE_SECRET: stateSecret } = config;
  if (!clientId || !clientSecret || !redirectUrl || !stateSecret) return null;
  return {
    oauth: { clientId, clientSecret, redirectUrl, authorizationUrl: config.GOOGLE_AUTHORIZATION_URL, tokenUrl: config.GOOGLE_TOKEN_URL, userinfoUrl: config.GOOGLE_USERINFO_URL },
    stateSecret,
  };
}

export class ConfigError extends Error {}

/** Reads the environment once at start; a bad value stops the process with every problem named. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = ConfigSchema.safeParse(env);
  if (parsed.success) return parsed.data;
  const problems = parsed.error.issues.map((issue) => `  ${issue.path.join('.')}: ${issue.message}`);
  throw new ConfigError(`invalid configuration:\n${problems.join('\n')}`);
}
