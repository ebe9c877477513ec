import type { Clock } from './events/time.ts';
import { createAdapter } from '@socket.io/redis-adapter';
import { Emitter } from '@socket.io/redis-emitter';
import { Redis } from 'ioredis';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Server as SocketServer } from 'socket.io';
import { createCommands } from './commands/createCommands.ts';
import { createGoogleOAuth } from './commands/identity/googleOAuth.ts';
import { createIdentityStore } from './commands/identity/IdentityStore.ts';
import { localRevocations, redisRevocations } from './commands/identity/revocations.ts';
import { googleConfig, type Config } from './config.ts';
import { createKnex, migrate } from './db/database.ts';
import { startEmbeddedPostgres, type EmbeddedDatabase } from './db/embeddedPostgres.ts';
import { createEventStore } from './eventstore/createEventStore.ts';
import type { EventStore } from './eventstore/EventStore.ts';
import { createGateway } from './gateway/createGateway.ts';
import { LocalDelivery } from './gateway/LocalDelivery.ts';
import type { Push } from './gateway/Push.ts';
import { PushRelease } from './gateway/PushRelease.ts';
import { Pusher } from './gateway/Pusher.ts';
import { pushSources } from './gateway/pushSources.ts';
import { memoryRateLimiter, redisRateLimiter } from './gateway/RateLimiter.ts';
import { replayFor } from './gateway/replayFor.ts';
import { apiRoutes } from './http/apiRoutes.ts';
import { createHttpApp } from './http/app.ts';
import { authenticate } from './http/authentication.ts';
import { createMetrics } from './http/metrics.ts';
import type { Logger } from './log.ts';
import { allProjections } from './projections/allProjections.ts';
import { checkpointProgress, type ProjectionProgress } from './projections/checkpointProgress.ts';
import { ProjectionRunner } from './projections/ProjectionRunner.ts';
import { createQueries } from './queries/createQueries.ts';
import { createQueryCache } from './queries/createQueryCache.ts';

export interface RunningBackend {
  url: string;
  eventStore: EventStore;
  /** null when this process does not run the projections (ROLE=api) */
  projections: ProjectionRunner | null;
  progress: ProjectionProgress;
  /** null when this process serves no sockets (ROLE=projector) */
  io: SocketServer | null;
  /** resolves once every projected event so far has been pushed */
  pushesSettled(): Promise<void>;
  stop(): Promise<void>;
}

/** Starts what the role asks for, on the configured services or the embedded default. */
/** `clock`: the time commands are given; tests bring their own to post several messages in one millisecond. */
export async function startBackend(config: Config, log: Logger, { clock }: { clock?: Clock } = {}): Promise<RunningBackend> {
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

  const redis = config.REDIS_URL ? connectRedis(config.REDIS_URL, log) : null;
  const queries = createQueries(knex);
  const cache = createQueryCache(config.MEMCACHED_SERVERS, log);
  // tokens are cached per node; a revocation reaches every node through Redis (one node without it)
  const revocations = redis ? redisRevocations(redis.pub, log) : localRevocations();
  const identity = createIdentityStore(knex, { revocations });
  const commands = createCommands(eventStore, identity);

  // a projection's commit need not wait for the disk: should a crash lose it, its checkpoint goes
  // with it, and the runner applies those events again (live batches commit about 20% sooner)
  const projectionKnex = config.ROLE === 'api' ? null : createKnex(databaseUrl, { settings: { synchronous_commit: 'off' }, log: { warn: (message) => log.warn({ knex: message }) } });
  const projections = projectionKnex && new ProjectionRunner(projectionKnex, databaseUrl, eventStore, allProjections, log);
  const progress = projections ?? checkpointProgress(knex, allProjections);
  // a projected change shows in cached answers at once, not when their TTL runs out
  projections?.onStale((stale) => void cache.bump([...stale]));

  const delivery = new LocalDelivery();
  let io: SocketServer | null = null;
  const sendToOtherNodes = (pushes: Push[]) => {
    if (io && redis) io.serverSideEmit('pushes', pushes);
    else if (!io && redis) new Emitter(redis.pub).serverSideEmit('pushes', pushes);
  };
  const release = projections
    ? new PushRelease(await eventStore.headPosition(), projections, new Pusher(pushSources(queries)), (pushes) => {
        delivery.deliver(pushes);
        sendToOtherNodes(pushes);
      }, log)
    : null;
  projections?.start();

  const google = googleConfig(config);
  const app = createHttpApp({
    clock,
    log,
    metrics: createMetrics({ eventStore, projections, sockets: () => delivery.socketCount }),
    authenticate: authenticate(identity),
    routes:
      config.ROLE === 'projector'
        ? []
        : apiRoutes({ commands, identity, google: google && { oauth: createGoogleOAuth(google.oauth), stateSecret: google.stateSecret }, queries, cache, progress, eventStore }),
    readiness: [
      { name: 'postgres', check: () => knex.raw('SELECT 1') },
      { name: 'eventstore', check: () => eventStore.headPosition() },
      ...(redis ? [{ name: 'redis', check: () => redis.pub.ping() }] : []),
      ...(config.MEMCACHED_SERVERS ? [{ name: 'memcached', check: () => cache.ping() }] : []),
    ],
  });
  const server: Server = createServer(app.callback());
  if (config.ROLE !== 'projector') {
    io = createGateway({
      clock,
      server,
      identity,
      chats: commands.chats,
      queries,
      delivery,
      replay: replayFor(eventStore, queries, pushSources(queries), progress),
      rateLimiter: redis ? redisRateLimiter(redis.pub) : memoryRateLimiter(),
      ...(redis ? { adapter: createAdapter(redis.pub, redis.sub) } : {}),
      log,
    });
    // pushes released by a projector elsewhere
    io.on('pushes', (pushes: Push[]) => delivery.deliver(pushes));
  }
  await new Promise<void>((resolve) => server.listen(config.PORT, config.HOST, resolve));
  const { port } = server.address() as AddressInfo;
  const url = `http://127.0.0.1:${port}`;
  log.info({ url, role: config.ROLE, redis: Boolean(redis), memcached: Boolean(config.MEMCACHED_SERVERS) }, 'listening');

  return {
    url,
    eventStore,
    projections,
    progress,
    io,
    pushesSettled: () => release?.settled() ?? Promise.resolve(),
    async stop() {
      // stop taking requests and sockets, let what is in flight finish, then close what it uses
      io?.disconnectSockets(true);
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      });
      await projections?.stop();
      await release?.settled();
      await eventStore.close();
      await cache.close();
      await projectionKnex?.destroy();
      await knex.destroy();
      await revocations.close();
      redis?.pub.disconnect();
      redis?.sub.disconnect();
      await embedded?.stop();
      log.info('stopped');
    },
  };
}

function connectRedis(url: string, log: Logger) {
  const connect = (role: string) => {
    const client = new Redis(url, { lazyConnect: false, maxRetriesPerRequest: 2 });
    // ioredis reconnects by itself; say so once per outage rather than crash
    let down = false;
    client.on('error', (error) => {
      if (!down) log.warn({ err: error, role }, 'redis unavailable; reconnecting');
      down = true;
    });
    client.on('ready', () => {
      if (down) log.info({ role }, 'redis back');
      down = false;
    });
    // Socket.IO's adapter and emitter publish without waiting for the answer: during an outage a
    // lost publish must be a logged loss (clients resume from the log), not an unhandled rejection
    const publish = client.publish.bind(client) as (...args: unknown[]) => Promise<number>;
    Object.assign(client, {
      publish: (...args: unknown[]) => {
        const sent = publish(...args);
        sent.catch((error: Error) => log.warn({ err: error, role }, 'redis publish lost'));
        return sent;
      },
    });
    return client;
  };
  return { pub: connect('pub'), sub: connect('sub') };
}
