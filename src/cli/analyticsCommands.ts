import { analyticsQueries, dayRange, parseDay, utcToday, type ChatDay } from '../queries/analyticsQueries.ts';
import { CliUsageError, type CliArgs, type CliCommand, type CliContext } from './CliCommand.ts';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** rows read per query: the output streams, so a year of many chats needs no memory */
const PAGE = 1000;

function dayOption(name: string, value: string | boolean | undefined): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || parseDay(value) === null) throw new CliUsageError(`--${name} "${value}" is not a date: give YYYY-MM-DD, e.g. 2026-11-24`);
  return value;
}

function chatOption(value: string | boolean | undefined): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || !UUID.test(value)) throw new CliUsageError(`--chat "${value}" is not a chat uuid`);
  return value.toLowerCase();
}

const ROW = (chat: string, day: string, messages: string, active: string) => `${chat.padEnd(36)}  ${day.padEnd(10)}  ${messages.padStart(10)}  ${active.padStart(12)}\n`;

async function daily({ positionals, options }: CliArgs, context: CliContext): Promise<number> {
  if (positionals.length > 0) throw new CliUsageError(`unexpected argument "${positionals[0]}"`);
  const chat = chatOption(options.chat);
  const range = dayRange({ from: dayOption('from', options.from), to: dayOption('to', options.to) }, utcToday());
  if ('problem' in range) throw new CliUsageError(range.problem);
  const filter = { ...range, chat };

  const { knex } = await context.connect();
  // one snapshot: totals and every page agree even while messages arrive
  const tx = await knex.transaction({ isolationLevel: 'repeatable read', readOnly: true });
  try {
    const queries = analyticsQueries(tx);
    const { count, ...totals } = await queries.chatDayTotals(filter);
    const json = options.json === true;
    const write = (text: string) => context.out.write(text);
    if (json) write(`{"from":"${range.from}","to":"${range.to}","chat":${JSON.stringify(chat ?? null)},"totals":${JSON.stringify(totals)},"rows":[`);
    else write(ROW('chat', 'day', 'messages', 'active users'));
    let written = 0;
    for (let offset = 0; offset < count; offset += PAGE) {
      const rows: ChatDay[] = await queries.chatDays(filter, { limit: PAGE, offset });
      for (const row of rows) {
        if (json) write(`${written > 0 ? ',' : ''}${JSON.stringify(row)}`);
        else write(ROW(row.chat, row.day, String(row.messages), String(row.active_users)));
        written++;
      }
    }
    if (json) write(']}\n');
    else write(`${count === 0 ? '(no messages)\n' : ''}\n${range.from} to ${range.to}${chat ? ` in chat ${chat}` : ''}: ${totals.messages} messages, ${totals.active_users} active users, ${count} chat days\n`);
  } finally {
    await tx.rollback().catch(() => {});
  }
  return 0;
}

export const analyticsCommands: CliCommand[] = [
  {
    words: ['analytics', 'daily'],
    usage: 'analytics daily [--chat <uuid>] [--from <YYYY-MM-DD>] [--to <YYYY-MM-DD>] [--json]',
    summary: 'messages and active users per chat per UTC day (default: the last 30 days), with totals',
    options: { chat: 'string', from: 'string', to: 'string', json: 'boolean' },
    run: daily,
  },
];
