import { io, type Socket } from 'socket.io-client';
import type { Message, MessagePage, Pushes } from './types.ts';
import { uuid } from './uuid.ts';

export type PushHandlers = { [E in keyof Pushes]: (push: Pushes[E]) => void } & {
  typing(signal: { chat: string; user: string }): void;
  status(status: 'online' | 'offline' | 'unauthorized'): void;
};

const PUSHES: (keyof Pushes)[] = ['new_message', 'message_edited', 'message_deleted', 'chat_updated', 'invitation'];
const SEEN_LIMIT = 2000;

type Ack<T> = T | { ok: false; error: { code: string; detail: string } };

/**
 * The Socket.IO connection: each push handled once (by event and position), and after a
 * reconnect `resume` replays what was missed since the last position heard.
 */
export class Live {
  private readonly socket: Socket;
  private readonly seen = new Set<string>();
  private position: bigint | null = null;

  constructor(token: string, private readonly handlers: PushHandlers) {
    this.socket = io({ path: '/socket.io/', auth: { token } });
    this.socket.on('connect', () => {
      handlers.status('online');
      if (this.position !== null) void this.request('resume', { since: String(this.position) }).catch(() => {});
    });
    this.socket.on('disconnect', (reason) => {
      handlers.status('offline');
      // a server going down for a deploy drops its sockets; Socket.IO leaves reconnecting to us then
      if (reason === 'io server disconnect') setTimeout(() => this.socket.connect(), 1000 + Math.random() * 2000);
    });
    this.socket.on('connect_error', (error) => handlers.status(error.message === 'unauthorized' ? 'unauthorized' : 'offline'));
    for (const event of PUSHES) this.socket.on(event, (push: Pushes[typeof event]) => this.receive(event, push));
    this.socket.on('typing', (signal: { chat: string; user: string }) => handlers.typing(signal));
  }

  fetchMessages(chat: string, before: string): Promise<MessagePage> {
    return this.request('fetch_messages', { chat, last_message_time_stamp: before });
  }

  send(chat: string, message: string): Promise<{ message: Message; position: string }> {
    return this.request('new_message', { chat, message, client_id: uuid() });
  }

  typing(chat: string): void {
    this.socket.emit('typing', { chat });
  }

  close(): void {
    this.socket.close();
  }

  private receive<E extends keyof Pushes>(event: E, push: Pushes[E]): void {
    const key = `${event}:${push.position}`;
    if (this.seen.has(key)) return;
    this.seen.add(key);
    // forget the oldest: a replay never reaches back that far
    if (this.seen.size > SEEN_LIMIT) this.seen.delete(this.seen.values().next().value!);
    const position = BigInt(push.position);
    if (this.position === null || position > this.position) this.position = position;
    (this.handlers[event] as (push: Pushes[E]) => void)(push);
  }

  /** a client command; a refusal becomes an Error carrying the server's words */
  private async request<T>(command: string, payload: object): Promise<T> {
    const answer = (await this.socket.timeout(10_000).emitWithAck(command, payload)) as Ack<T>;
    if (answer && typeof answer === 'object' && 'ok' in answer && answer.ok === false) throw new Error(answer.error.detail);
    return answer as T;
  }
}
