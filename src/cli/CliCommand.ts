import type { Knex } from 'knex';
import type { Config } from '../config.ts';
import type { EventStore } from '../eventstore/EventStore.ts';
import type { Logger } from '../log.ts';

/** The database and the log a command works on, opened by src/cli/connect.ts and closed when the command ends. */
export interface CliConnection {
  /** migrated to the latest schema */
  knex: Knex;
  /** the configured event store (EventStoreDB, or the Postgres one beside the read models) */
  eventStore: EventStore;
  /** the Postgres the knex instance talks to (the embedded one's when DATABASE_URL is unset) */
  databaseUrl: string;
}

/** What a command may print and open. Output goes to `out` (results) and `err` (progress, problems). */
export interface CliContext {
  config: Config;
  out: NodeJS.WritableStream;
  err: NodeJS.WritableStream & { isTTY?: boolean };
  /** pino, writing to stderr so `out` stays the command's result */
  log: Logger;
  /** opens the database and the event store on first call (the same ones after); main closes them */
  connect(): Promise<CliConnection>;
}

/** Parsed options: `--name value` as strings, `--flag` as true; positionals in order. */
export interface CliArgs {
  positionals: string[];
  options: Record<string, string | boolean | undefined>;
}

/** One command of `npm run cli -- <words...>`, e.g. words ['audit', 'verify']. */
export interface CliCommand {
  words: readonly string[];
  /** e.g. 'audit verify [--stream <name> | --all] [--json]' */
  usage: string;
  summary: string;
  /** each option the command takes and its kind; anything else is refused before `run` */
  options: Readonly<Record<string, 'string' | 'boolean'>>;
  /** answers the process's exit status (0 fine, 1 something checked failed) */
  run(args: CliArgs, context: CliContext): Promise<number>;
}

/** A mistake of the person typing: printed as one line with the usage, exit status 2, no stack trace. */
export class CliUsageError extends Error {}
