import type { BareEvent } from '../eventstore/EventStore.ts';
import type { Logger } from '../log.ts';
import type { ProjectionRunner } from '../projections/ProjectionRunner.ts';
import type { Push } from './Push.ts';
import type { Pusher } from './Pusher.ts';

/**
 * Releases each event as pushes once every projection has committed it — so a client that
 * queries on a push sees the new state — in log order, one batch after another.
 */
export class PushRelease {
  private readonly waiting = new Map<bigint, BareEvent>();
  private chain: Promise<void> = Promise.resolve();

  constructor(
    /** what happened before this process started is not pushed; clients resume to get it */
    private released: bigint,
    private readonly runner: ProjectionRunner,
    private readonly pusher: Pusher,
    private readonly send: (pushes: Push[]) => void,
    private readonly log: Logger,
  ) {
    runner.onProjected(
      (_projection, events) => {
        // every projection sees every event; keep one copy of each until all have committed it
        for (const event of events) if (event.position > this.released) this.waiting.set(event.position, event);
        this.chain = this.chain.then(() => this.release()).catch((error) => this.log.error({ err: error }, 'pushes failed'));
      },
      { eventsAfter: released },
    );
  }

  /** Resolves once everything handed over so far has been pushed. */
  settled(): Promise<void> {
    return this.chain;
  }

  private async release(): Promise<void> {
    const low = this.runner.low();
    if (low <= this.released) return;
    // every projection hands events over in log order and the first to hand one over adds it, so
    // the map holds them in position order: the ready ones are at its front
    const ready: BareEvent[] = [];
    for (const [position, event] of this.waiting) {
      if (position > low) break;
      ready.push(event);
      this.waiting.delete(position);
    }
    this.released = low;
    if (ready.length > 0) this.send(await this.pusher.pushesFor(ready));
  }
}
