import type { BareEvent, Subscription } from '../eventstore/EventStore.ts';

/**
 * Reads an event iterable ahead into a bounded buffer and hands it out in batches, so the next
 * page is being read while the last batch is written.
 */
export class EventFeed {
  private buffer: BareEvent[] = [];
  private finished = false;
  private failure: unknown = null;
  private closed = false;
  private wakeTaker: (() => void) | null = null;
  private wakePump: (() => void) | null = null;
  /** how many buffered events wake the taker */
  private wantedBy = 1;
  private readonly pumping: Promise<void>;

  constructor(
    private readonly events: AsyncIterable<BareEvent> & Pick<Subscription<BareEvent>, 'caughtUp'>,
    private readonly readAhead: number,
  ) {
    this.pumping = this.pump();
  }

  /**
   * Whether a batch shorter than asked for ends at the log's head: the source has read that far,
   * or cannot tell. A reader slower than its consumer for a moment leaves a short batch too.
   */
  get caughtUp(): boolean {
    return this.events.caughtUp !== false;
  }

  /** The source says it has not read to the log's head: more is right behind, whatever the batch's length. */
  get behind(): boolean {
    return this.events.caughtUp === false;
  }

  /**
   * Up to `max` events: waits up to `waitMs` for a first one (answering [] if none came), then,
   * when fewer than `max` are ready, `gatherMs` more for others to arrive. Null once the events end.
   */
  async take(max: number, gatherMs: number, waitMs: number): Promise<BareEvent[] | null> {
    if (this.buffer.length === 0) await this.waitForEvents(waitMs);
    if (this.failure) throw this.failure;
    if (this.buffer.length === 0) return this.finished || this.closed ? null : [];
    if (this.buffer.length < max && !this.finished && gatherMs > 0) await this.waitForEvents(gatherMs, max);
    const batch = this.buffer.length <= max ? this.buffer : this.buffer.slice(0, max);
    this.buffer = this.buffer.length <= max ? [] : this.buffer.slice(max);
    this.wakePump?.();
    return batch;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.wakeTaker?.();
    this.wakePump?.();
    await this.pumping;
  }

  private async pump(): Promise<void> {
    try {
      for await (const event of this.events) {
        if (this.closed) return;
        this.buffer.push(event);
        if (this.buffer.length >= this.wantedBy) this.wakeTaker?.();
        while (this.buffer.length >= this.readAhead && !this.closed) await new Promise<void>((resolve) => (this.wakePump = resolve));
        if (this.closed) return;
      }
    } catch (error) {
      this.failure = error;
    } finally {
      this.finished = true;
      this.wakeTaker?.();
    }
  }

  private waitForEvents(ms: number, count = 1): Promise<void> {
    if (this.buffer.length >= count || this.finished || this.closed) return Promise.resolve();
    this.wantedBy = count;
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      const self = this;
      function done() {
        clearTimeout(timer);
        self.wakeTaker = null;
        self.wantedBy = 1;
        resolve();
      }
      this.wakeTaker = done;
    });
  }
}
