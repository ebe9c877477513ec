import type { Server as HttpServer } from 'node:http';
import type { Duplex } from 'node:stream';
import { Server, type Socket } from 'socket.io';
import type { ZodError } from 'zod';
import type { ChatCommands } from '../commands/chat/chatCommands.ts';
import { DomainError } from '../commands/DomainError.ts';
import type { IdentityStore } from '../commands/identity/IdentityStore.ts';
import { isoMicros, nowMicros, type Clock } from '../events/time.ts';
import type { Logger } from '../log.ts';
import { parseMessageCursor } from '../queries/parseMessageCursor.ts';
import type { ChatQueries } from '../queries/chatQueries.ts';
import type { LocalDelivery } from './LocalDelivery.ts';
import type { Push } from './Push.ts';
import type { RateLimiter } from './RateLimiter.ts';
import { socketCommands, type SocketCommand } from './socketSchemas.ts';

export interface GatewayDeps {
  server: HttpServer;
  identity: Pick<IdentityStore, 'authenticate'>;
  chats: ChatCommands;
  queries: Pick<ChatQueries, 'fetchMessages' | 'memberIds'>;
  delivery: LocalDelivery;
  /** the pushes a user missed after `since`, and the position they reach */
  replay(user: string, since: bigint, heard: bigint): Promise<{ pushes: Push[]; position: bigint }>;
  rateLimiter: RateLimiter;
  /** Socket.IO's adapter: the Redis one shares rooms across nodes */
  adapter?: Parameters<Server['adapter']>[0];
  log: Logger;
  /** the time commands are given (the wall clock unless a test brings its own) */
  clock?: Clock;
}

type Ack = (answer: unknown) => void;

const LIMITS: Partial<Record<SocketCommand, number>> = { new_message: 20, typing: 5 };

/**
 * Socket.IO on the HTTP server: handshake auth with the app's token, one room per user, the
 * client commands with acknowledgements. Malformed payloads are answered (or dropped when there
 * is no callback); nothing a client sends can crash the gateway or touch another client.
 */
export function createGateway(deps: GatewayDeps): Server {
  const io = new Server(deps.server, {
    path: '/socket.io/',
    serveClient: false,
    // a command is small; a larger packet closes only the connection that sent it
    maxHttpBufferSize: 64 * 1024,
    ...(deps.adapter ? { adapter: deps.adapter } : {}),
  });

  // Engine.IO flushes what a connection has buffered as one WebSocket frame a packet, and ws writes
  // each frame at once: corked around the flush, they leave in one write (one syscall) together
  io.engine.on('flush', (conn: unknown) => tcpOf(conn)?.cork());
  io.engine.on('drain', (conn: unknown) => tcpOf(conn)?.uncork());

  io.use(async (socket, next) => {
    const token = (socket.handshake.auth as { token?: unknown } | undefined)?.token;
    const found = typeof token === 'string' ? await deps.identity.authenticate(token).catch(() => null) : null;
    if (!found) return next(new Error('unauthorized'));
    socket.data.userId = found.userId;
    next();
  });

  io.on('connection', (socket) => {
    const user = socket.data.userId as string;
    void socket.join(`user:${user}`);
    deps.delivery.add(socket, user);
    socket.on('disconnect', () => deps.delivery.remove(socket));

    const handlers: Record<SocketCommand, (payload: any) => Promise<unknown>> = {
      async fetch_messages({ chat, last_message_time_stamp }) {
        const before = parseMessageCursor(last_message_time_stamp);
        if (before === undefined) throw new DomainError('invalid', 'invalid', 'last_message_time_stamp must be "0", 0 or an ISO 8601 time stamp.');
        return { command: 'fetch_messages', ...(await deps.queries.fetchMessages(user, chat, before)) };
      },
      async new_message({ chat, message, client_id }) {
        const posted = await deps.chats.postMessage(chat, message, { actor: user, now: isoMicros((deps.clock ?? nowMicros)()), clientId: client_id });
        return { ok: true, message: posted.message, position: String(posted.position) };
      },
      async resume({ since }) {
        let reached = BigInt(since);
        await deps.delivery.resume(socket, async () => {
          const { pushes, position } = await deps.replay(user, BigInt(since), deps.delivery.heard);
          reached = position;
          return pushes;
        });
        return { ok: true, position: String(reached) };
      },
      async typing({ chat }) {
        const members = await deps.queries.memberIds(chat);
        if (!members.includes(user)) throw new DomainError('forbidden', 'not_a_participant', 'You are not a participant of this chat.');
        socket.to(members.filter((m) => m !== user).map((m) => `user:${m}`)).emit('typing', { chat, user });
        return { ok: true };
      },
    };

    for (const command of Object.keys(handlers) as SocketCommand[]) {
      socket.on(command, async (payload: unknown, ack?: unknown) => {
        const reply: Ack = typeof ack === 'function' ? (ack as Ack) : () => {};
        try {
          const parsed = socketCommands[command].safeParse(payload);
          if (!parsed.success) return reply(refusal('invalid', describe(parsed.error)));
          const limit = LIMITS[command];
          if (limit && !(await deps.rateLimiter.allow(`${command}:${user}`, limit))) {
            return reply(refusal('rate_limited', `At most ${limit} ${command} a second; slow down.`));
          }
          reply(await handlers[command](parsed.data));
        } catch (error) {
          if (error instanceof DomainError) return reply(refusal(error.code, error.message));
          if ((error as { status?: number }).status && (error as { status: number }).status < 500) {
            const known = error as { code?: string; message: string };
            return reply(refusal(known.code ?? 'invalid', known.message));
          }
          deps.log.error({ err: error, command }, 'socket command failed');
          reply(refusal('internal_error', 'The command failed; retry it.'));
        }
      });
    }
  });

  return io;
}

/** The TCP socket under an Engine.IO connection's WebSocket transport (ws keeps it as `_socket`); none when polling. */
function tcpOf(conn: unknown): Duplex | undefined {
  const transport = (conn as { transport?: { name?: string; socket?: { _socket?: Duplex } } }).transport;
  return transport?.name === 'websocket' ? transport.socket?._socket : undefined;
}

const refusal = (code: string, detail: string) => ({ ok: false, error: { code, detail } });

function describe(error: ZodError): string {
  return error.issues.map((issue) => `${issue.path.join('.') || 'payload'}: ${issue.message}`).join('; ');
}

export type { Socket };
