import type { Socket } from 'socket.io';
import type { Push } from './Push.ts';

interface SocketState {
  userId: string;
  /** while a resume replays the log, live pushes wait here */
  held: Push[] | null;
  /** positions this socket has been sent, so a resume does not send them again */
  sent: Set<string>;
}

const REMEMBERED = 10_000;
/**
 * A client that reconnects resumes first: live pushes to a new socket wait this long for its
 * `resume`, so the replay and what follows it arrive in order. Without a resume they then flow.
 */
const RESUME_GRACE_MS = 500;

/**
 * This node's sockets, by user. Every node gets every push and sends it to its own sockets of
 * the users it names, so membership changes take effect at once everywhere; a socket hears each
 * position once, also across a resume.
 */
export class LocalDelivery {
  private readonly byUser = new Map<string, Set<Socket>>();
  private readonly states = new WeakMap<Socket, SocketState>();
  private heardUpTo = 0n;

  /**
   * The highest position pushed to this node. Pushes are released only once every read model
   * includes them, so a resume can replay up to here even when the stored checkpoints lag.
   */
  get heard(): bigint {
    return this.heardUpTo;
  }

  add(socket: Socket, userId: string): void {
    const state: SocketState = { userId, held: [], sent: new Set() };
    this.states.set(socket, state);
    const grace = setTimeout(() => this.release(socket, state), RESUME_GRACE_MS);
    socket.once('disconnect', () => clearTimeout(grace));
    let sockets = this.byUser.get(userId);
    if (!sockets) this.byUser.set(userId, (sockets = new Set()));
    sockets.add(socket);
  }

  remove(socket: Socket): void {
    const state = this.states.get(socket);
    if (!state) return;
    const sockets = this.byUser.get(state.userId);
    sockets?.delete(socket);
    if (sockets?.size === 0) this.byUser.delete(state.userId);
  }

  get socketCount(): number {
    let count = 0;
    for (const sockets of this.byUser.values()) count += sockets.size;
    return count;
  }

  /**
   * Each push is encoded once and written to all its ready recipients (a local broadcast to their
   * socket ids, as Socket.IO's own broadcasts do); sockets waiting for a resume keep theirs.
   */
  deliver(pushes: readonly Push[]): void {
    for (const push of pushes) {
      const position = BigInt(push.position);
      if (position > this.heardUpTo) this.heardUpTo = position;
      const ready: string[] = [];
      let nsp: Socket['nsp'] | null = null;
      for (const user of push.users) {
        for (const socket of this.byUser.get(user) ?? []) {
          if (!this.admit(socket, push)) continue;
          ready.push(socket.id);
          nsp = socket.nsp;
        }
      }
      if (nsp) nsp.local.to(ready).emit(push.event, { ...push.payload, position: push.position });
    }
  }

  /**
   * Replays what a socket missed: live pushes wait while `replay` answers the pushes after
   * `since` (in order, up to where live pushes have got), then follow, none sent twice.
   */
  async resume(socket: Socket, replay: () => Promise<Push[]>): Promise<void> {
    const state = this.states.get(socket);
    if (!state) return;
    state.held ??= [];
    try {
      for (const push of await replay()) this.send(socket, push, true);
    } finally {
      this.release(socket, state);
    }
  }

  private release(socket: Socket, state: SocketState): void {
    const held = state.held ?? [];
    state.held = null;
    for (const push of held) this.send(socket, push);
  }

  private send(socket: Socket, push: Push, replaying = false): void {
    if (this.admit(socket, push, replaying)) socket.emit(push.event, { ...push.payload, position: push.position });
  }

  /** true when `socket` is to be sent `push` now (and is taken to have been); a held socket keeps it for later */
  private admit(socket: Socket, push: Push, replaying = false): boolean {
    const state = this.states.get(socket);
    if (!state || state.sent.has(push.position)) return false;
    if (state.held && !replaying) {
      state.held.push(push);
      return false;
    }
    state.sent.add(push.position);
    // a Set iterates in insertion order: forget the oldest positions first
    if (state.sent.size > REMEMBERED) state.sent.delete(state.sent.values().next().value!);
    return true;
  }
}
