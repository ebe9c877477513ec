/** Metadata every event carries (see DESIGN.md, "The event log"). */
export interface EventMetadata {
  /** user uuid, or `system` */
  actor: string;
  correlation_id: string;
  causation_id: string;
  /** ISO 8601 UTC with microseconds */
  occurred_at: string;
  /** version of the event's data schema */
  schema: number;
}

/** What the event store adds when it seals an event into its stream's hash chain. */
export interface ChainLinks {
  prev_hash: string | null;
  hash: string;
}

export type SealedMetadata = EventMetadata & ChainLinks;
