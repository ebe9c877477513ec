import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createCommands } from './commands/createCommands.ts';
import { createGoogleOAuth } from './commands/identity/googleOAuth.ts';
import { createIdentityStore } from './commands/identity/IdentityStore.ts';
import { googleConfig, type Config } from './config.ts';
import { createKnex, migrate } from './db/database.ts';
import { startEmbeddedPostgres, type EmbeddedDatabase } from './db/embeddedPostgres.ts';
import { createEventStore } from './eventstore/createEventStore.ts';
import type { EventStore } from './eventstore/EventStore.ts';
import { apiRoutes } from './http/apiRoutes.ts';
import { createHttpApp } from './http/app.ts';
import { authenticate } from './http/authentication.ts';
import type { Logger } from './log.ts';
import { allProjections } from './projections/allProjections.ts';
import { checkpointProgress, type ProjectionProgress } from './projections/checkpointProgress.ts';
import { ProjectionRunner } from './projections/ProjectionRunner.ts';

export interface RunningBackend {
  url: string;
  eventStore: EventStore;
  /** null when this process does not run the projections (ROLE=api) */
  projections: ProjectionRunner | null;
  progress: ProjectionProgress;
  stop(): Promise<void>;
}

/** Starts what the role asks for, on the configured services or the embedded default. */
export async function startBackend(config: Config, log: Logger): Promise<RunningBackend> {
  let embedded: EmbeddedDatabase | undefined;
  let databaseUrl = config.DATABASE_URL;
  if (!databaseUrl) {
    log.info({ dir: config.EMBEDDED_PG_DIR, port: config.EMBEDDED_PG_PORT }, 'no DATABASE_URL: starting embedded Postgres');
    embedded = await startEmbeddedPostgres(config.EMBEDDED_PG_DIR, config.EMBEDDED_PG_PORT, (line) => log.debug({ postgres: line.trim() }));
    databaseUrl = embedded.url;
  }
  const knex = createKnex(databaseUrl, { log: { warn: (message) => log.warn({ knex: message }) } });
  const applied = await migrate(knex);
  if (applied.length > 0) log.info({ applied }, 'migrations applied');
  const eventStore = createEventStore({ eventstoreUrl: config.EVENTSTORE_URL, databaseUrl });
  log.info({ eventStore: config.EVENTSTORE_URL ? 'eventstoredb' : 'postgres' }, 'event store ready');

  const projections = config.ROLE === 'api' ? null : new ProjectionRunner(knex, databaseUrl, eventStore, allProjections, log);
  projections?.start();
  const progress = projections ?? checkpointProgress(knex, allProjections.map((p) => p.name));

  const identity = createIdentityStore(knex);
  const commands = createCommands(eventStore, identity);
  const google = googleConfig(config);
  const app = createHttpApp({
    log,
    authenticate: authenticate(identity),
    routes: config.ROLE === 'projector' ? [] : apiRoutes(commands, identity, google && { oauth: createGoogleOAuth(google.oauth), stateSecret: google.stateSecret }),
    readiness: [
      { name: 'postgres', check: () => knex.raw('SELECT 1') },
      { name: 'eventstore', check: () => eventStore.headPosition() },
    ],
  });
  const server: Server = createServer(app.callback());
  await new Promise<void>((resolve) => server.listen(config.PORT, config.HOST, resolve));
  const { port } = server.address() as AddressInfo;
  const url = `http://127.0.0.1:${port}`;
  log.info({ url, role: config.ROLE }, 'listening');

  return {
    url,
    eventStore,
    projections,
    progress,
    async stop() {
      // stop taking requests, let those in flight finish, then close what they use
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      });
      await projections?.stop();
      await eventStore.close();
      await knex.destroy();
      await embedded?.stop();
      log.info('stopped');
    },
  };
}
