import type { DomainEvent, EventType } from '../events/catalog.ts';
import { eventCatalog } from '../events/catalog.ts';
import type { EventStore, NewEvent } from '../eventstore/EventStore.ts';
import { DuplicateEventIdError, InvalidAppendError, WrongExpectedRevisionError } from '../eventstore/errors.ts';
import { eventIds } from './eventIds.ts';

export interface Aggregate<S, E extends DomainEvent> {
  initialState(): S;
  evolve(state: S, event: E): S;
}

/** Who runs a command and when; it goes into every event's metadata. */
export interface CommandContext {
  actor: string;
  /** ISO 8601 with microseconds */
  now: string;
  /** the client's id for this command: repeating it appends nothing new */
  clientId?: string | undefined;
  correlationId?: string | undefined;
  causationId?: string | undefined;
}

export interface Executed<S, E> {
  /** the aggregate after the command (for a repeat: as this process knows it) */
  state: S;
  /** what the command appended — for a repeat, what it appended the first time */
  events: E[];
  /** global position of the last event, or null when the command changed nothing */
  position: bigint | null;
  repeated: boolean;
}

interface Loaded<S> {
  state: S;
  /** revision of the last event folded in; -1n for a stream with none */
  revision: bigint;
}

type Decided<S, E> = { error: unknown } | { events: E[]; state: S; upTo: number };
type Outcome<S, E> = { ok: true; executed: Executed<S, E> } | { ok: false; error: unknown };

interface Job<S, E> {
  decide(state: S): E[];
  context: CommandContext;
  resolve(executed: Executed<S, E>): void;
  reject(error: unknown): void;
}

const PAGE = 1000;
const MAX_TRIES = 10;
/** most waiting commands on one stream decided together into one append */
const MAX_GROUP = 256;
const READ_TRIES = 3;

/**
 * Loads aggregates and runs commands on them. States stay in memory (most recently used first)
 * at the revision they were last seen, so a command costs one append whatever the stream's
 * history; a stale state shows up as a revision conflict, and is caught up and decided again.
 * Commands on one stream run in order, commands on different streams at once. The commands that
 * wait while one stream's append is in flight are then decided together, each on the state its
 * predecessors leave, and appended as one: all of them land or none, as if run one by one.
 */
export class AggregateRepository<S, E extends DomainEvent> {
  private readonly cache = new Map<string, Loaded<S>>();
  private readonly queues = new Map<string, Job<S, E>[]>();

  constructor(
    private readonly store: EventStore,
    private readonly aggregate: Aggregate<S, E>,
    private readonly cacheSize = 10_000,
  ) {}

  /** The aggregate as the log has it now. */
  async load(stream: string): Promise<S> {
    return (await this.catchUp(stream, this.cache.get(stream))).state;
  }

  /** The aggregate as this process last saw it (loaded when it has not): for answers, never for a rule's check. */
  async known(stream: string): Promise<S> {
    return (this.cache.get(stream) ?? (await this.catchUp(stream, undefined))).state;
  }

  execute(stream: string, decide: (state: S) => E[], context: CommandContext): Promise<Executed<S, E>> {
    return new Promise((resolve, reject) => {
      const job = { decide, context, resolve, reject };
      const queue = this.queues.get(stream);
      if (queue) return void queue.push(job);
      this.queues.set(stream, [job]);
      void this.drain(stream);
    });
  }

  private async drain(stream: string): Promise<void> {
    const queue = this.queues.get(stream)!;
    while (queue.length > 0) {
      const jobs = queue.splice(0, MAX_GROUP);
      if (jobs.length > 1) {
        const outcomes = await this.runTogether(stream, jobs).catch((error: unknown) => jobs.map(() => ({ ok: false as const, error })));
        if (outcomes) {
          outcomes.forEach((outcome, i) => (outcome.ok ? jobs[i]!.resolve(outcome.executed) : jobs[i]!.reject(outcome.error)));
          continue;
        }
      }
      // alone, or a group holding a repeated command: one by one, each repeat answering as it first did
      for (const job of jobs) await this.run(stream, job).then(job.resolve, job.reject);
    }
    this.queues.delete(stream);
  }

  /**
   * Decides the jobs in order, each on the state the ones before it leave, and appends all their
   * events at once: one round trip for the lot. A refusal stands only once the append it was
   * decided after has landed. Null when a job repeats an earlier command (its event ids are
   * stored or in the group twice) or the store refuses the append as invalid: nothing was
   * written, and the jobs must run one by one.
   */
  private async runTogether(stream: string, jobs: Job<S, E>[]): Promise<Outcome<S, E>[] | null> {
    let loaded = this.cache.get(stream) ?? (await this.catchUp(stream, undefined));
    for (let tries = 1; ; tries++) {
      let state = loaded.state;
      const all: NewEvent[] = [];
      const decided = jobs.map((job): Decided<S, E> => {
        let events: E[];
        try {
          events = job.decide(state);
        } catch (error) {
          return { error };
        }
        state = events.reduce((s, e) => this.aggregate.evolve(s, e), state);
        all.push(...this.toNewEvents(stream, events, job.context));
        return { events, state, upTo: all.length };
      });
      if (all.length === 0) return decided.map((d) => ('error' in d ? { ok: false, error: d.error } : { ok: true, executed: { state: d.state, events: d.events, position: null, repeated: false } }));
      // the same client id twice in the group: the second is a repeat of the first
      if (new Set(all.map((e) => e.id.toLowerCase())).size < all.length) return null;
      const expected = loaded.revision < 0n ? 'no_stream' : loaded.revision;
      let result;
      try {
        result = await this.store.append(stream, all, expected);
      } catch (error) {
        // refused before anything was written: a repeat among the jobs, or one job's events the store refuses
        if (error instanceof DuplicateEventIdError || error instanceof InvalidAppendError) return null;
        if (!(error instanceof WrongExpectedRevisionError) || tries === MAX_TRIES) throw error;
        loaded = await this.catchUp(stream, loaded);
        continue;
      }
      if (result.repeated) return null;
      this.remember(stream, { state, revision: result.nextRevision });
      const positions = await this.positionsOf(stream, result.nextRevision - BigInt(all.length) + 1n, all.length, decided);
      return decided.map((d) => {
        if ('error' in d) return { ok: false, error: d.error };
        // without the read, the group's last position: at or after the job's own, so X-Min-Position still holds
        const position = d.events.length === 0 ? null : d.upTo === all.length ? result.position : (positions?.[d.upTo - 1] ?? result.position);
        return { ok: true, executed: { state: d.state, events: d.events, position, repeated: false } };
      });
    }
  }

  /** Each event's position, read back when a job other than the last wrote: every store numbers an append's events its own way. */
  private async positionsOf(stream: string, fromRevision: bigint, count: number, decided: Decided<S, E>[]): Promise<bigint[] | null> {
    if (!decided.some((d) => 'upTo' in d && d.events.length > 0 && d.upTo < count)) return null;
    for (let tries = 1; ; tries++) {
      try {
        const read = await this.store.readStream(stream, { fromRevision, maxCount: count });
        if (read.length === count) return read.map((e) => e.position);
      } catch {
        // the events are written: the commands must not fail for want of a read
      }
      if (tries === READ_TRIES) return null;
    }
  }

  private async run(stream: string, job: Job<S, E>): Promise<Executed<S, E>> {
    let loaded = this.cache.get(stream) ?? (await this.catchUp(stream, undefined));
    for (let tries = 1; ; tries++) {
      const events = job.decide(loaded.state);
      if (events.length === 0) return { state: loaded.state, events, position: null, repeated: false };
      const expected = loaded.revision < 0n ? 'no_stream' : loaded.revision;
      try {
        const result = await this.store.append(stream, this.toNewEvents(stream, events, job.context), expected);
        if (result.repeated) {
          const first = await this.store.readStream(stream, { fromRevision: result.nextRevision - BigInt(events.length) + 1n, maxCount: events.length });
          return { state: loaded.state, events: first.map((e) => ({ type: e.type, data: e.data }) as E), position: result.position, repeated: true };
        }
        const state = events.reduce((s, e) => this.aggregate.evolve(s, e), loaded.state);
        this.remember(stream, { state, revision: result.nextRevision });
        return { state, events, position: result.position, repeated: false };
      } catch (error) {
        // another process wrote to the stream since this one last saw it: catch up, decide again
        if (!(error instanceof WrongExpectedRevisionError) || tries === MAX_TRIES) throw error;
        loaded = await this.catchUp(stream, loaded);
      }
    }
  }

  private async catchUp(stream: string, from: Loaded<S> | undefined): Promise<Loaded<S>> {
    let { state, revision } = from ?? { state: this.aggregate.initialState(), revision: -1n };
    for (;;) {
      const page = await this.store.readStream(stream, { fromRevision: revision + 1n, maxCount: PAGE });
      for (const recorded of page) {
        state = this.aggregate.evolve(state, { type: recorded.type, data: recorded.data } as E);
        revision = recorded.revision;
      }
      if (page.length < PAGE) break;
    }
    const loaded = { state, revision };
    if (revision >= 0n) this.remember(stream, loaded);
    return loaded;
  }

  private toNewEvents(stream: string, events: E[], context: CommandContext): NewEvent[] {
    const ids = eventIds(stream, events.length, context.clientId);
    return events.map((e, i) => ({
      id: ids[i]!,
      type: e.type,
      data: e.data,
      metadata: {
        actor: context.actor,
        correlation_id: context.correlationId ?? ids[0]!,
        causation_id: context.causationId ?? context.correlationId ?? ids[0]!,
        occurred_at: context.now,
        schema: eventCatalog[e.type as EventType].schema,
      },
    }));
  }

  private remember(stream: string, loaded: Loaded<S>): void {
    this.cache.delete(stream);
    this.cache.set(stream, loaded);
    if (this.cache.size > this.cacheSize) this.cache.delete(this.cache.keys().next().value!);
  }
}
