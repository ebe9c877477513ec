import { z } from 'zod';
import type { Queries } from '../../queries/createQueries.ts';
import { cached, type QueryCache } from '../../queries/QueryCache.ts';
import { parseMessageCursor } from '../../queries/parseMessageCursor.ts';
import { HttpError } from '../errors.ts';
import { minPosition, type ProjectionProgress } from '../minPosition.ts';
import { paginated } from '../pagination.ts';
import { route, type Route, type RouteInput } from '../route.ts';
import { ChatDetail, ChatListItem, ChatParams, ErrorAnswer, Invitation, Message, MessageBatch, PageQuery, Paginated, PublicUser, SearchedUser, UserParams } from '../schemas.ts';

export interface QueryRouteDeps {
  queries: Queries;
  cache: QueryCache;
  progress: ProjectionProgress;
}

/** The cache as a query route reads through it, bypassing answers older than the request's X-Min-Position. */
interface Reader {
  cached<T>(key: unknown[], scopes: string[], ttlSeconds: number, compute: () => Promise<T>): Promise<T>;
}

type Schema = z.ZodType | undefined;
type QuerySpec<P extends Schema, Q extends Schema> = Omit<Route<P, Q, undefined>, 'method' | 'handle'> & {
  handle(input: RouteInput<P, Q, undefined>, read: Reader): Promise<unknown>;
};

const phrase = z.string().min(1);
const ChatTypeParam = z.object({ type: z.string().openapi({ enum: ['private', 'groups'], description: '`private` or `groups`; anything else is 400' }) });
const ChatType = z.enum(['private', 'groups']);
const MessagesQuery = z.object({
  before: z
    .string()
    .optional()
    .transform((text, ctx) => {
      const cursor = parseMessageCursor(text);
      if (cursor !== undefined) return cursor;
      ctx.addIssue({ code: 'custom', message: 'Enter 0 or an ISO 8601 time stamp.' });
      return z.NEVER;
    })
    .openapi({ type: 'string', description: '`0` or absent for the newest messages, else the `last_message_time_stamp` of the previous page' }),
});

const ChatPage = Paginated(ChatListItem, 'Chats');

const userTags = ['users'];
const chatTags = ['chats'];
const chatErrors = {
  403: { description: 'not a participant', schema: ErrorAnswer },
  404: { description: 'no such chat', schema: ErrorAnswer },
};

/**
 * The query endpoints of the REST contract. Order matters: @koa/router runs the first route
 * registered for a path, so fixed paths (search, friends, invitations, mychats) come before the
 * `{user}` and `{chat}` paths that would also match them — and this list must be mounted after
 * userRoutes, whose GET /api/user/currentuser/ `{user}` would otherwise capture.
 */
export function queryRoutes({ queries, cache, progress }: QueryRouteDeps) {
  // one place for what every query route does: honour X-Min-Position, and read through the cache
  const query = <P extends Schema = undefined, Q extends Schema = undefined>(spec: QuerySpec<P, Q>) =>
    route<P, Q, undefined>({
      ...spec,
      method: 'get',
      responses: {
        ...spec.responses,
        400: { description: 'invalid query parameters or X-Min-Position', schema: ErrorAnswer },
        503: { description: 'projection_lag: the read models did not reach X-Min-Position within 2 s', schema: ErrorAnswer },
      },
      async handle(input) {
        const min = await minPosition(input.ctx, progress);
        const reader: Reader = {
          cached: (key, scopes, ttl, compute) => cached(cache, { key, scopes, ttl, minPosition: min, position: () => progress.position() }, compute),
        };
        return { body: await spec.handle(input, reader) };
      },
    });

  return [
    query({
      path: '/api/user/search/{phrase}/',
      summary: 'Active users whose username contains the phrase (any letter case), best match first',
      tags: userTags,
      params: z.object({ phrase }),
      query: PageQuery,
      responses: { 200: { description: 'a page of users', schema: Paginated(SearchedUser, 'SearchedUsers') } },
      async handle({ params, query, auth, ctx }, read) {
        const viewer = auth!.userId;
        const page = await read.cached(['users.search', viewer, params.phrase, query.limit, query.offset], ['users', `user:${viewer}`], 90, () =>
          queries.searchUsers(viewer, params.phrase, query),
        );
        return paginated(ctx, page, query);
      },
    }),

    query({
      path: '/api/user/friends/',
      summary: 'Your friends',
      tags: userTags,
      query: PageQuery,
      responses: { 200: { description: 'a page of users', schema: Paginated(PublicUser, 'PublicUsers') } },
      async handle({ query, auth, ctx }) {
        return paginated(ctx, await queries.friends(auth!.userId, query), query);
      },
    }),

    query({
      path: '/api/user/invitations/',
      summary: 'Invitations to you that wait for your answer, oldest first',
      tags: userTags,
      query: PageQuery,
      responses: { 200: { description: 'a page of invitations', schema: Paginated(Invitation, 'Invitations') } },
      async handle({ query, auth, ctx }) {
        return paginated(ctx, await queries.invitations(auth!.userId, query), query);
      },
    }),

    query({
      path: '/api/user/{user}/',
      summary: 'A user (public: no email)',
      tags: userTags,
      params: UserParams,
      responses: { 200: { description: 'the user', schema: PublicUser }, 404: { description: 'no such user', schema: ErrorAnswer } },
      async handle({ params }, read) {
        return read.cached(['user', params.user], [`user:${params.user}`, 'users'], 60, () => queries.userDetail(params.user));
      },
    }),

    query({
      path: '/api/chat/mychats/',
      summary: 'Your chats, most recent activity first',
      tags: chatTags,
      query: PageQuery,
      responses: { 200: { description: 'a page of chats', schema: ChatPage } },
      async handle({ query, auth, ctx }, read) {
        const viewer = auth!.userId;
        const page = await read.cached(['mychats', viewer, null, query.limit, query.offset], [`user:${viewer}`], 90, () => queries.mychats(viewer, query));
        return paginated(ctx, page, query);
      },
    }),

    query({
      path: '/api/chat/mychats/{type}/',
      summary: 'Your private chats or your group chats, most recent activity first',
      tags: chatTags,
      params: ChatTypeParam,
      query: PageQuery,
      responses: { 200: { description: 'a page of chats', schema: ChatPage } },
      async handle({ params, query, auth, ctx }, read) {
        // validated here rather than as a path parameter: the contract makes a wrong type 400, not 404
        const type = ChatType.safeParse(params.type);
        if (!type.success) throw new HttpError(400, 'invalid', 'Invalid input.', { fields: { type: ['Choose private or groups.'] } });
        const viewer = auth!.userId;
        const page = await read.cached(['mychats', viewer, type.data, query.limit, query.offset], [`user:${viewer}`], 90, () =>
          queries.mychats(viewer, { ...query, type: type.data }),
        );
        return paginated(ctx, page, query);
      },
    }),

    query({
      path: '/api/chat/{chat}/',
      summary: 'A chat you take part in, with its participants',
      tags: chatTags,
      params: ChatParams,
      responses: { 200: { description: 'the chat', schema: ChatDetail }, ...chatErrors },
      async handle({ params, auth }) {
        return queries.chatDetail(auth!.userId, params.chat);
      },
    }),

    query({
      path: '/api/chat/{chat}/messages/',
      summary: 'Up to 15 messages older than `before`, newest first (the REST twin of the socket command fetch_messages)',
      tags: chatTags,
      params: ChatParams,
      query: MessagesQuery,
      responses: { 200: { description: 'the messages', schema: MessageBatch }, ...chatErrors },
      async handle({ params, query, auth }) {
        return queries.fetchMessages(auth!.userId, params.chat, query.before);
      },
    }),

    query({
      path: '/api/chat/{chat}/search/{phrase}/',
      summary: 'Messages of a chat matching the phrase (full text), best match first',
      tags: chatTags,
      params: z.object({ chat: z.uuid(), phrase }),
      query: PageQuery,
      responses: { 200: { description: 'a page of messages', schema: Paginated(Message, 'Messages') }, ...chatErrors },
      async handle({ params, query, auth, ctx }) {
        return paginated(ctx, await queries.searchMessages(auth!.userId, params.chat, params.phrase, query), query);
      },
    }),
  ];
}
