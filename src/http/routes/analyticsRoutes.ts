import { z } from 'zod';
import type { UserCommands } from '../../commands/user/userCommands.ts';
import type { Queries } from '../../queries/createQueries.ts';
import { dayRange, MAX_ANALYTICS_DAYS, parseDay, utcToday } from '../../queries/analyticsQueries.ts';
import { HttpError } from '../errors.ts';
import { minPosition, type ProjectionProgress } from '../minPosition.ts';
import { paginated } from '../pagination.ts';
import { requireRole, roleRefusal } from '../requireRole.ts';
import { route } from '../route.ts';
import { ErrorAnswer, PageQuery } from '../schemas.ts';

export interface AnalyticsRouteDeps {
  queries: Queries;
  users: Pick<UserCommands, 'hasRole'>;
  progress: ProjectionProgress;
}

const day = (description: string) =>
  z
    .string()
    .refine((text) => parseDay(text) !== null, 'Enter a date as YYYY-MM-DD.')
    .optional()
    .openapi({ type: 'string', format: 'date', example: '2026-11-24', description });

const DailyQuery = PageQuery.extend({
  from: day('first UTC day (default: 29 days before `to`)'),
  to: day(`last UTC day, at most ${MAX_ANALYTICS_DAYS} days after \`from\` (default: today)`),
  chat: z.uuid().optional().openapi({ description: 'only this chat' }),
}).superRefine((query, ctx) => {
  // zod runs this even when a field failed: the range is judged only between real days
  if ([query.from, query.to].some((given) => given !== undefined && parseDay(given) === null)) return;
  const range = dayRange(query, utcToday());
  if ('problem' in range) ctx.addIssue({ code: 'custom', message: range.problem, path: [] });
});

const ChatDay = z
  .object({
    chat: z.uuid(),
    day: z.string().openapi({ format: 'date', example: '2026-11-24' }),
    messages: z.number().int().openapi({ description: 'messages posted that day, deleted ones included; edits add none' }),
    active_users: z.number().int().openapi({ description: 'distinct authors that day' }),
  })
  .openapi('AnalyticsChatDay');

const ChatDailyPage = z
  .object({
    count: z.number().int(),
    next: z.string().nullable(),
    previous: z.string().nullable(),
    results: z.array(ChatDay).openapi({ description: 'oldest day first; a day without messages in a chat has no row' }),
    totals: z
      .object({ messages: z.number().int(), active_users: z.number().int().openapi({ description: 'distinct authors over the whole range (not a sum of days)' }) })
      .openapi({ description: 'over every row of the range, not only this page' }),
  })
  .openapi('AnalyticsChatDaily');

/** GET /api/analytics/...: activity read from the analytics projection, for analysts and auditors. */
export function analyticsRoutes({ queries, users, progress }: AnalyticsRouteDeps) {
  const analystsOnly = requireRole(users, 'analyst', 'auditor');
  return [
    route({
      method: 'get',
      path: '/api/analytics/chats/daily/',
      summary: 'Messages and active users per chat per UTC day (analysts and auditors)',
      tags: ['analytics'],
      query: DailyQuery,
      responses: {
        200: { description: 'a page of chat days, with totals over the range', schema: ChatDailyPage },
        ...roleRefusal('analyst', 'auditor'),
        503: { description: 'projection_lag: the read models did not reach X-Min-Position within 2 s', schema: ErrorAnswer },
      },
      async handle({ query, auth, ctx }) {
        await analystsOnly(auth);
        await minPosition(ctx, progress);
        const range = dayRange(query, utcToday());
        // the schema checked the range already; only a request straddling midnight can land here
        if ('problem' in range) throw new HttpError(400, 'invalid', 'Invalid input.', { fields: { non_field_errors: [range.problem] } });
        const page = await queries.chatDaily({ ...range, chat: query.chat, limit: query.limit, offset: query.offset });
        // analysts ask rarely and the rows change with every message: answered from Postgres, never cached
        return { body: { ...paginated(ctx, page, query), totals: page.totals } };
      },
    }),
  ];
}
