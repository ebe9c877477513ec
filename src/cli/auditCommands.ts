import { createWriteStream } from 'node:fs';
import { auditChat } from '../audit/auditChat.ts';
import { exportEvents, storeEventLines } from '../audit/exportEvents.ts';
import { postgresEventLines } from '../audit/postgresEventLines.ts';
import type { ChatAudit } from '../audit/replayChat.ts';
import { verifyLog, verifyOneStream, type VerifyReport } from '../audit/verifyLog.ts';
import { isoMicros, nowMicros, parseIsoMicros, type Micros } from '../events/time.ts';
import { CliUsageError, type CliCommand, type CliContext } from './CliCommand.ts';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** `now`, or an ISO 8601 time with up to six decimals; anything else is the typist's mistake. */
export function parseTime(option: string, text: string | boolean | undefined): Micros {
  if (typeof text !== 'string') throw new CliUsageError(`--${option} needs a time`);
  if (text === 'now') return nowMicros();
  const micros = parseIsoMicros(text);
  if (micros === null) throw new CliUsageError(`--${option} "${text}" is not a time: give ISO 8601 such as 2026-11-24T09:15:02.123456Z (or now)`);
  return micros;
}

function chatId(text: string | undefined): string {
  if (!text) throw new CliUsageError('give the chat\'s uuid');
  if (!UUID.test(text)) throw new CliUsageError(`"${text}" is not a chat uuid`);
  return text.toLowerCase();
}

function noMorePositionals(positionals: string[], expected: number): void {
  if (positionals.length > expected) throw new CliUsageError(`unexpected argument "${positionals[expected]}"`);
}

const write = (context: CliContext, text: string) => context.out.write(text.endsWith('\n') ? text : `${text}\n`);

/** Columns padded to their widest cell; the last one runs free. */
function table(header: string[], rows: string[][]): string {
  if (rows.length === 0) return '  (none)';
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => `  ${cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join('  ')}`.trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

const UUIDS = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g;

/** Every user id the replay mentions. */
function userIdsOf(audit: ChatAudit): string[] {
  const ids = new Set<string>([audit.created_by, ...(audit.admin ? [audit.admin] : [])]);
  for (const m of audit.memberships) [m.user_id, m.added_by, m.ended?.by].forEach((id) => id && ids.add(id));
  for (const m of audit.messages) [m.author_id, ...m.history.map((h) => h.by)].forEach((id) => ids.add(id));
  for (const a of audit.activity) ids.add(a.actor);
  return [...ids].filter((id) => /^[0-9a-f-]{36}$/.test(id));
}

/**
 * The replayed chat for people: who is in it, who was, each message with its history, and the
 * activity. Users appear by name where `names` knows them, with a legend of their ids.
 */
export function chatAuditText(audit: ChatAudit, names: ReadonlyMap<string, string> = new Map()): string {
  const who = (id: string | null) => (id === null ? '(none)' : (names.get(id) ?? id));
  const inText = (text: string) => text.replace(UUIDS, (id) => names.get(id) ?? id);
  const former = audit.memberships.filter((m) => m.ended);
  const sections = [
    `chat ${audit.uuid} as of ${audit.as_of} (revision ${audit.revision}, position ${audit.position})`,
    `  ${audit.is_group_chat ? `group chat "${audit.name}", admin ${who(audit.admin)}` : 'private chat'}; created ${audit.created} by ${who(audit.created_by)}`,
    '',
    'participants',
    table(
      ['user', 'added by', 'added at', 'read up to'],
      audit.participants.map((p) => [who(p.user_id), who(p.added_by), p.added_at, `#${p.read_up_to}`]),
    ),
    '',
    'former participants',
    table(
      ['user', 'added by', 'added at', 'ended', 'by', 'at'],
      former.map((m) => [who(m.user_id), who(m.added_by), m.added_at, m.ended!.how, who(m.ended!.by), m.ended!.at]),
    ),
    '',
    'messages',
    table(
      ['#', 'author', 'time_stamp', 'state', 'content / history'],
      audit.messages.flatMap((m) => [
        [`${m.id}`, who(m.author_id), m.time_stamp, m.deleted ? 'deleted' : m.edited_at ? 'edited' : '', JSON.stringify(m.content)],
        ...(m.history.length > 1
          ? m.history.map((h) => ['', '', '', '', `${h.change} by ${who(h.by)} at ${h.at}${h.content === null ? '' : `: ${JSON.stringify(h.content)}`}`])
          : []),
      ]),
    ),
    '',
    'activity',
    table(
      ['revision', 'position', 'recorded at', 'what'],
      audit.activity.map((a) => [a.revision, a.position, a.recorded_at, inText(a.summary)]),
    ),
  ];
  const named = userIdsOf(audit).filter((id) => names.has(id));
  if (named.length > 0) sections.push('', 'users', table(['name', 'id'], named.map((id) => [names.get(id)!, id])));
  return sections.join('\n');
}

function verifyText(report: VerifyReport): string {
  const checked = `${report.events} events in ${report.streams} streams checked`;
  if (report.breaks.length === 0) return `${checked}: every hash chain holds`;
  const lines = report.breaks.map((b) => `BROKEN stream ${b.stream} revision ${b.revision} position ${b.position ?? '?'}: ${b.reason}`);
  return `${lines.join('\n')}\n${checked}: ${report.breaks.length} broken chain${report.breaks.length === 1 ? '' : 's'}`;
}

export const auditCommands: CliCommand[] = [
  {
    words: ['audit', 'chat'],
    usage: 'audit chat <uuid> [--as-of <time>] [--json]',
    summary: "a chat replayed from its stream as of a moment (default now): participants, messages with their edit and delete history, who did what when",
    options: { 'as-of': 'string', json: 'boolean' },
    async run({ positionals, options }, context) {
      const chat = chatId(positionals[0]);
      noMorePositionals(positionals, 1);
      const asOf = options['as-of'] === undefined ? nowMicros() : parseTime('as-of', options['as-of']);
      const { eventStore, knex } = await context.connect();
      const audit = await auditChat(eventStore, chat, asOf);
      if (!audit) {
        context.err.write(`no chat ${chat} in the log as of ${isoMicros(asOf)}\n`);
        return 1;
      }
      if (options.json) {
        write(context, JSON.stringify(audit, null, 2));
        return 0;
      }
      // names for people from the users read model (today's names); the log's ids stay in the legend
      const rows = await knex('rm_users').whereIn('uuid', userIdsOf(audit)).select<{ uuid: string; username: string }[]>('uuid', 'username');
      write(context, chatAuditText(audit, new Map(rows.map((row) => [row.uuid, row.username]))));
      return 0;
    },
  },
  {
    words: ['audit', 'verify'],
    usage: 'audit verify [--stream <name> | --all] [--json]',
    summary: 'checks the hash chains (every stream by default) and names the first broken link of each; exit status 1 when one is broken',
    options: { stream: 'string', all: 'boolean', json: 'boolean' },
    async run({ positionals, options }, context) {
      noMorePositionals(positionals, 0);
      if (options.stream !== undefined && options.all) throw new CliUsageError('give --stream <name> or --all, not both');
      const { eventStore } = await context.connect();
      let report: VerifyReport;
      if (typeof options.stream === 'string') {
        report = await verifyOneStream(eventStore, options.stream);
        if (report.events === 0) {
          context.err.write(`no stream ${options.stream} in the log\n`);
          return 1;
        }
      } else {
        const tty = context.err.isTTY === true;
        let shown = 0;
        report = await verifyLog(eventStore, (events) => {
          if (tty && events - shown >= 100_000) {
            shown = events;
            context.err.write(`\r${events.toLocaleString('en-US')} events checked`);
          }
        });
        if (shown > 0) context.err.write('\n');
      }
      const json = { events: report.events, streams: report.streams, ok: report.breaks.length === 0, breaks: report.breaks.map((b) => ({ ...b, revision: String(b.revision), position: b.position === null ? null : String(b.position) })) };
      write(context, options.json ? JSON.stringify(json, null, 2) : verifyText(report));
      return report.breaks.length === 0 ? 0 : 1;
    },
  },
  {
    words: ['audit', 'export'],
    usage: 'audit export --from <time> --to <time> [--chat <uuid>] --out <file.ndjson>',
    summary: 'writes the events recorded in the window (of one chat, or all) in global order, one JSON line each with its metadata',
    options: { from: 'string', to: 'string', chat: 'string', out: 'string' },
    async run({ positionals, options }, context) {
      noMorePositionals(positionals, 0);
      for (const required of ['from', 'to', 'out'] as const) if (options[required] === undefined) throw new CliUsageError(`--${required} is required`);
      const from = parseTime('from', options.from);
      const to = parseTime('to', options.to);
      if (from > to) throw new CliUsageError('--from is after --to');
      const chat = options.chat === undefined ? undefined : chatId(typeof options.chat === 'string' ? options.chat : undefined);
      const path = options.out as string;
      const { eventStore, databaseUrl } = await context.connect();
      // the Postgres event store has a faster reader of the same lines; EventStoreDB goes through the port
      const reader = context.config.EVENTSTORE_URL ? { lines: storeEventLines(eventStore), close: async () => {} } : postgresEventLines(databaseUrl);
      const started = performance.now();
      let count: number;
      try {
        count = await exportEvents(reader.lines({ from, to, chat }), createWriteStream(path));
      } finally {
        await reader.close();
      }
      const seconds = (performance.now() - started) / 1000;
      write(context, `${count} events exported to ${path} in ${seconds.toFixed(2)} s (${Math.round(count / seconds)} events/s)`);
      return 0;
    },
  },
];
