import type { Knex } from 'knex';
import type { Page, PageRequest } from './Page.ts';

/** the longest range one question may span, in days, both ends included: a leap year */
export const MAX_ANALYTICS_DAYS = 366;
/** the range asked for when neither end is given: the last 30 days */
const DEFAULT_DAYS = 30;

const DAY = /^(\d{4})-(\d\d)-(\d\d)$/;
const MS_PER_DAY = 86_400_000;

/** A day as YYYY-MM-DD when it is one in the calendar (2026-02-30 is not), else null. */
export function parseDay(text: string): string | null {
  const match = DAY.exec(text);
  if (!match) return null;
  const [year, month, day] = match.slice(1).map(Number) as [number, number, number];
  const date = new Date(Date.UTC(year, month - 1, day));
  return date.getUTCFullYear() === year && date.getUTCMonth() === month - 1 && date.getUTCDate() === day ? text : null;
}

const dayNumber = (day: string) => Date.parse(`${day}T00:00:00Z`) / MS_PER_DAY;
const dayOf = (n: number) => new Date(n * MS_PER_DAY).toISOString().slice(0, 10);
export const utcToday = (now = Date.now()) => new Date(now).toISOString().slice(0, 10);

export interface DayRange {
  from: string;
  to: string;
}

/**
 * The range a question covers, from its optional ends (already parsed days): `to` defaults to
 * today (UTC), `from` to make it the 30 days ending at `to`. Answers the problem in words when the range is
 * backwards or longer than MAX_ANALYTICS_DAYS. Pure: the HTTP schema and the CLI both use it.
 */
export function dayRange(given: { from?: string | undefined; to?: string | undefined }, today: string): DayRange | { problem: string } {
  const to = given.to ?? today;
  const from = given.from ?? dayOf(dayNumber(to) - (DEFAULT_DAYS - 1));
  if (from > to) return { problem: `from (${from}) is after to (${to}).` };
  if (dayNumber(to) - dayNumber(from) + 1 > MAX_ANALYTICS_DAYS) return { problem: `A range spans at most ${MAX_ANALYTICS_DAYS} days; ${from} to ${to} spans ${dayNumber(to) - dayNumber(from) + 1}.` };
  return { from, to };
}

export interface ChatDay {
  chat: string;
  /** YYYY-MM-DD, UTC */
  day: string;
  messages: number;
  active_users: number;
}

export interface ChatDayFilter extends DayRange {
  chat?: string | undefined;
}

export interface ChatDailyRequest extends ChatDayFilter, PageRequest {}

export interface ChatDaily extends Page<ChatDay> {
  /** over the whole range, not only this page: messages, and distinct authors (not a sum of days) */
  totals: { messages: number; active_users: number };
}

export type Totals = ChatDaily['totals'];

const WHERE = (chat: string | undefined) => `WHERE day BETWEEN :from AND :to ${chat ? 'AND chat_id = :chat' : ''}`;

/** Read-only queries over the analytics read models (rm_analytics_chat_days, rm_analytics_chat_day_users). */
export function analyticsQueries(knex: Knex) {
  /** Per chat and UTC day with any message in the range, oldest day first; days without messages have no row. */
  async function chatDays({ from, to, chat }: ChatDayFilter, { limit, offset }: PageRequest): Promise<ChatDay[]> {
    const { rows } = await knex.raw(
      `SELECT chat_id AS chat, to_char(day, 'YYYY-MM-DD') AS day, messages, active_users
       FROM rm_analytics_chat_days ${WHERE(chat)} ORDER BY day, chat_id LIMIT :limit OFFSET :offset`,
      { from, to, chat: chat ?? null, limit, offset },
    );
    return rows as ChatDay[];
  }

  /** How many chat days the range has, their messages, and the distinct authors over it. */
  async function chatDayTotals({ from, to, chat }: ChatDayFilter): Promise<Totals & { count: number }> {
    const bindings = { from, to, chat: chat ?? null };
    const [days, authors] = await Promise.all([
      knex.raw(`SELECT count(*)::integer AS count, coalesce(sum(messages), 0)::bigint AS messages FROM rm_analytics_chat_days ${WHERE(chat)}`, bindings),
      knex.raw(`SELECT count(DISTINCT user_id)::integer AS active_users FROM rm_analytics_chat_day_users ${WHERE(chat)}`, bindings),
    ]);
    return { count: days.rows[0].count, messages: Number(days.rows[0].messages), active_users: authors.rows[0].active_users };
  }

  return {
    chatDays,
    chatDayTotals,
    /** a page of chatDays with the totals of the whole range */
    async chatDaily({ limit, offset, ...filter }: ChatDailyRequest): Promise<ChatDaily> {
      const [results, { count, ...totals }] = await Promise.all([chatDays(filter, { limit, offset }), chatDayTotals(filter)]);
      return { count, results, totals };
    },
  };
}
