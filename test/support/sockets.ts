import { io, type Socket } from 'socket.io-client';

/** A connected client socket, with what it hears recorded by event name. */
export interface Listener {
  socket: Socket;
  heard: Map<string, any[]>;
  /** resolves once `count` pushes of `event` were heard in all (or rejects after `ms`) */
  waitFor(event: string, count: number, ms?: number): Promise<any[]>;
  /** resolves with the first push of `event` that `match` accepts, heard before or after the call */
  waitUntil(event: string, match: (payload: any) => boolean, ms?: number): Promise<any>;
  call(command: string, payload: unknown, ms?: number): Promise<any>;
  close(): void;
}

const PUSHES = ['new_message', 'message_edited', 'message_deleted', 'chat_updated', 'invitation', 'typing'];

export async function connect(url: string, token: string): Promise<Listener> {
  const socket = io(url, { path: '/socket.io/', auth: { token }, transports: ['websocket'], reconnection: false, forceNew: true });
  const heard = new Map<string, any[]>(PUSHES.map((e) => [e, []]));
  const waiters = new Set<() => void>();
  for (const event of PUSHES) {
    socket.on(event, (payload: unknown) => {
      heard.get(event)!.push(payload);
      for (const wake of waiters) wake();
    });
  }
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', () => resolve());
    socket.once('connect_error', reject);
  });
  return {
    socket,
    heard,
    waitFor(event, count, ms = 10_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          if (heard.get(event)!.length >= count) {
            waiters.delete(check);
            clearTimeout(timer);
            resolve(heard.get(event)!);
          }
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`heard ${heard.get(event)!.length} of ${count} ${event}`));
        }, ms);
        waiters.add(check);
        check();
      });
    },
    waitUntil(event, match, ms = 10_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const found = heard.get(event)!.find(match);
          if (found === undefined) return;
          waiters.delete(check);
          clearTimeout(timer);
          resolve(found);
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`no matching ${event} among ${heard.get(event)!.length}`));
        }, ms);
        waiters.add(check);
        check();
      });
    },
    call(command, payload, ms = 10_000) {
      return socket.timeout(ms).emitWithAck(command, payload);
    },
    close() {
      socket.disconnect();
    },
  };
}

export const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
