import type { ExpectedRevision } from './EventStore.ts';

/** Base of every error the event store raises on purpose; `code` is machine-readable. */
export class EventStoreError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = new.target.name;
  }
}

/** Optimistic concurrency: the stream was not where the writer expected it. */
export class WrongExpectedRevisionError extends EventStoreError {
  constructor(
    readonly stream: string,
    readonly expected: ExpectedRevision,
    /** the stream's last revision, or null when it does not exist */
    readonly actual: bigint | null,
  ) {
    super(
      'wrong_expected_revision',
      `stream ${stream}: expected ${String(expected)}, but it is at ${actual === null ? 'no stream' : String(actual)}`,
    );
  }
}

/** The append itself is malformed; nothing was written. */
export class InvalidAppendError extends EventStoreError {
  constructor(message: string) {
    super('invalid_append', message);
  }
}

/** An event id reused for different content or in another place: a retry must repeat exactly. */
export class DuplicateEventIdError extends EventStoreError {
  constructor(readonly eventId: string) {
    super('duplicate_event_id', `event id ${eventId} is already used elsewhere in the log`);
  }
}
