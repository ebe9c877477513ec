import { z } from 'zod';
import { auditChat, auditPage } from '../../audit/auditChat.ts';
import { eventJson } from '../../audit/exportEvents.ts';
import type { UserCommands } from '../../commands/user/userCommands.ts';
import { nowMicros, parseIsoMicros } from '../../events/time.ts';
import type { EventStore } from '../../eventstore/EventStore.ts';
import { HttpError } from '../errors.ts';
import { linkWith } from '../pagination.ts';
import { requireRole, roleRefusal } from '../requireRole.ts';
import { route } from '../route.ts';
import { ErrorAnswer, Message } from '../schemas.ts';

const tags = ['audit'];
const uuid = z.uuid();
const time = z.string().openapi({ example: '2026-11-24T09:15:02.123456Z' });
const digits = z.string().regex(/^\d+$/);
const MAX_EVENTS = 1000;
const MAX_AUDIT_LINES = 1000;

/** Stream names as src/events/streams.ts makes them; anything else names no stream (404). */
const STREAM = /^(?:(?:user|chat|invitation)-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|friendship-[0-9a-f-]{36}-[0-9a-f-]{36}|email-[0-9a-f]{64})$/;

const RecordedEventJson = z
  .object({
    position: digits,
    stream: z.string(),
    revision: digits,
    id: uuid,
    type: z.string(),
    recorded_at: time,
    data: z.record(z.string(), z.unknown()),
    metadata: z.record(z.string(), z.unknown()).openapi({ description: 'actor, correlation_id, causation_id, occurred_at, schema, prev_hash, hash' }),
  })
  .openapi('RecordedEvent');

const StreamPage = z
  .object({
    stream: z.string(),
    events: z.array(RecordedEventJson),
    next: z.string().nullable().openapi({ description: 'the next page, or null at the stream\'s end' }),
  })
  .openapi('AuditStreamPage');

const ChatAuditJson = z
  .object({
    uuid,
    as_of: time,
    revision: digits,
    position: digits,
    name: z.string(),
    is_group_chat: z.boolean(),
    admin: uuid.nullable(),
    created: time,
    created_by: z.string(),
    participants: z.array(z.object({ user_id: uuid, added_by: z.string(), added_at: time, read_up_to: z.number().int() })),
    memberships: z.array(
      z.object({
        user_id: uuid,
        added_by: z.string(),
        added_at: time,
        ended: z.object({ how: z.enum(['left', 'removed']), by: z.string(), at: time }).nullable(),
      }),
    ),
    messages: z.array(
      // a message as the read models show it, with who deleted it and its whole history
      Message.extend({
        deleted_by: uuid.nullable(),
        deleted_at: time.nullable(),
        history: z.array(
          z.object({ change: z.enum(['posted', 'edited', 'deleted']), by: z.string(), at: time, content: z.string().nullable(), revision: digits, position: digits }),
        ),
      }),
    ),
    activity: z.array(
      z.object({ revision: digits, position: digits, recorded_at: time, occurred_at: time, actor: z.string(), type: z.string(), summary: z.string() }),
    ),
    next: z.string().nullable().openapi({ description: 'the next page of messages and activity (the same moment), or null on the last' }),
  })
  .openapi('ChatAudit');

/** `?limit=`: a whole number from 1 to `max`, `fallback` when absent */
const pageLimit = (max: number, fallback: number) =>
  z
    .string()
    .regex(/^\d*$/, 'Enter a whole number.')
    .optional()
    .transform((text) => (text ? Number(text) : fallback))
    .pipe(z.number().min(1, 'Ensure this value is greater than or equal to 1.').max(max, `Ensure this value is less than or equal to ${max}.`));

const isoTime = z.string().refine((text) => parseIsoMicros(text) !== null, 'Enter an ISO 8601 time, e.g. 2026-11-24T09:15:02.123456Z.');

/** GET /api/audit/...: the log as it is, for users with the auditor role. */
export function auditRoutes(store: EventStore, users: Pick<UserCommands, 'hasRole'>) {
  const auditorOnly = requireRole(users, 'auditor');
  return [
    route({
      method: 'get',
      path: '/api/audit/streams/{stream}/events/',
      summary: "A stream's events in revision order, with their metadata and hash chain (auditors)",
      tags,
      params: z.object({ stream: z.string().regex(STREAM).openapi({ example: 'chat-6f1c2a4e-0000-4000-8000-000000000000' }) }),
      query: z.object({
        // at most 18 digits: a revision is a Postgres bigint
        from: z.string().regex(/^\d{1,18}$/, 'Enter a revision: a whole number of at most 18 digits.').optional().openapi({ description: 'first revision to answer (default 0)' }),
        limit: pageLimit(MAX_EVENTS, 100).openapi({ type: 'integer', minimum: 1, maximum: MAX_EVENTS, default: 100 }),
      }),
      responses: { 200: { description: 'a page of the stream', schema: StreamPage }, ...roleRefusal('auditor'), 404: { description: 'no such stream', schema: ErrorAnswer } },
      async handle({ params, query, auth, ctx }) {
        await auditorOnly(auth);
        const from = BigInt(query.from ?? '0');
        const events = await store.readStream(params.stream, { fromRevision: from, maxCount: query.limit });
        if (events.length === 0 && (await store.readStream(params.stream, { direction: 'backwards', maxCount: 1 })).length === 0) {
          throw new HttpError(404, 'stream_not_found', 'No such stream.');
        }
        const next = events.length === query.limit ? linkWith(ctx, { from: events[events.length - 1]!.revision + 1n, limit: query.limit }) : null;
        return { body: { stream: params.stream, events: events.map(eventJson), next } };
      },
    }),

    route({
      method: 'get',
      path: '/api/audit/chats/{chat}/',
      summary: "A chat replayed from its stream as of a moment: participants, messages with their edits and deletions, who did what when (auditors)",
      tags,
      params: z.object({ chat: uuid }),
      query: z.object({
        as_of: isoTime.optional().openapi({ description: 'replay the events recorded at or before this time (default now)', example: '2026-11-24T09:15:02.123456Z' }),
        messages_after: z.string().regex(/^\d{1,15}$/, 'Enter a message id: a whole number.').optional().openapi({ description: 'answer the messages after this id (default 0)' }),
        activity_after: z
          .string()
          .regex(/^-1$|^\d{1,18}$/, 'Enter a revision: a whole number of at most 18 digits, or -1.')
          .optional()
          .openapi({ description: 'answer the activity after this revision (default -1: from the first)' }),
        limit: pageLimit(MAX_AUDIT_LINES, 500).openapi({ type: 'integer', minimum: 1, maximum: MAX_AUDIT_LINES, default: 500, description: 'most messages, and most activity lines, in a page' }),
      }),
      responses: { 200: { description: 'the chat as of that moment', schema: ChatAuditJson }, ...roleRefusal('auditor'), 404: { description: 'no such chat at that moment', schema: ErrorAnswer } },
      async handle({ params, query, auth, ctx }) {
        await auditorOnly(auth);
        const asOf = query.as_of ? parseIsoMicros(query.as_of)! : nowMicros();
        const audit = await auditChat(store, params.chat, asOf);
        if (!audit) throw new HttpError(404, 'chat_not_found', 'No such chat at that moment.');
        const { page, next } = auditPage(audit, { messagesAfter: Number(query.messages_after ?? 0), activityAfter: BigInt(query.activity_after ?? -1), limit: query.limit });
        // the next page replays the same moment, so pages of one walk fit together
        const link = next && linkWith(ctx, { as_of: audit.as_of, messages_after: next.messagesAfter, activity_after: next.activityAfter, limit: next.limit });
        return { body: { ...page, next: link } };
      },
    }),
  ];
}
