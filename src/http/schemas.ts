import { extendZodWithOpenApi } from '@asteasolutions/zod-to-openapi';
import { z } from 'zod';
import { ErrorAnswer } from './errorAnswer.ts';
import { TOO_LARGE } from './route.ts';

extendZodWithOpenApi(z);

/** The request and answer shapes of API.md: these validate requests and generate the OpenAPI document. */
const uuid = z.uuid();
const time = z.string().openapi({ example: '2026-11-24T09:15:02.123456Z' });
export const position = z.string().regex(/^\d+$/).openapi({ description: 'global position of the last event the command appended', example: '5368709121' });
/** A command's position as the wire carries it: digits, or null when the command changed nothing. */
export const positionOf = (at: bigint | null): string | null => (at === null ? null : String(at));

const clientId = uuid.optional().openapi({ description: 'a client-generated id: repeating the command with it has the effect of one' });

export { ErrorAnswer };

export const PublicUser = z
  .object({ uuid, username: z.string(), description: z.string(), photo: z.string().nullable(), is_active: z.boolean(), date_joined: time })
  .openapi('PublicUser');
export const OwnUser = PublicUser.extend({ email: z.string() }).openapi('OwnUser');

export const Message = z
  .object({
    id: z.number().int(),
    chat: uuid,
    author_id: uuid,
    content: z.string(),
    time_stamp: time,
    edited_at: time.nullable(),
    deleted: z.boolean(),
  })
  .openapi('Message');

export const ChatDetail = z
  .object({
    uuid,
    name: z.string(),
    is_group_chat: z.boolean(),
    last_activity_date: time,
    lastmessage: z.string().nullable(),
    unread_count: z.number().int(),
    participants: z.array(PublicUser),
    created: time,
  })
  .openapi('ChatDetail');

export const Invitation = z.object({ id: uuid, from: PublicUser, to: PublicUser, created: time }).openapi('Invitation');

// requests

const email = z.string().trim().max(254).pipe(z.email('Enter a valid email address.')).openapi({ type: 'string', format: 'email', maxLength: 254 });
const password = z.string().min(1, 'This field may not be blank.').max(4096);
export const username = z.string().trim().min(1, 'Usernames have 1 to 50 characters.').max(50, 'Usernames have 1 to 50 characters.');

export const Registration = z
  .object({ email, password1: password, password2: password, username: username.optional(), client_id: clientId })
  .refine((r) => r.password1 === r.password2, { message: "The two password fields didn't match.", path: ['password2'] });

export const Login = z.object({ email: z.string().trim().min(1).max(254), password });

export const PasswordChange = z
  .object({ old_password: password, new_password1: password, new_password2: password })
  .refine((r) => r.new_password1 === r.new_password2, { message: "The two password fields didn't match.", path: ['new_password2'] });

export const ProfileUpdate = z
  .object({
    username: username.optional(),
    description: z.string().max(250, 'At most 250 characters.').optional(),
    photo: z
      .url({ protocol: /^https?$/, message: 'Enter an http(s) URL.' })
      .max(2000)
      .openapi({ format: 'uri', pattern: '^https?://' })
      .nullable()
      .optional(),
    client_id: clientId,
  })
  .strict();

/** 1 to 4,000 characters (code points, not UTF-16 units) once trimmed; longer is "too large" (413), empty is invalid (400). */
export const messageContent = z
  .string()
  .transform((text) => text.trim())
  .superRefine((text, ctx) => {
    if (text.length === 0) ctx.addIssue({ code: 'custom', message: 'A message may not be blank.' });
    // a string of 4,000 characters is at most 8,000 UTF-16 units: count them only when it may be longer
    if (text.length > 4000 && [...text].length > 4000) ctx.addIssue({ code: 'custom', message: 'A message has at most 4,000 characters.', params: TOO_LARGE });
  })
  .openapi({ type: 'string', minLength: 1, maxLength: 4000, description: '1 to 4,000 characters once trimmed; longer is 413' });

export const chatName = z.string().trim().min(1, 'A chat name may not be blank.').max(100, 'At most 100 characters.');

export const ChatParams = z.object({ chat: uuid });
/** message ids are 1, 2, 3... within a chat, written plainly */
export const MessageParams = z.object({ chat: uuid, message: z.string().regex(/^[1-9]\d{0,9}$/).transform(Number) });
export const UserParams = z.object({ user: uuid });

export const withPosition = <T extends z.ZodRawShape>(shape: T) => z.object({ ...shape, position });

// query answers

export const ChatListItem = ChatDetail.omit({ participants: true, created: true }).openapi('ChatListItem');
export const SearchedUser = PublicUser.extend({ is_friend_of_current_user: z.boolean() }).openapi('SearchedUser');
export const MessageBatch = z
  .object({
    messages: z.array(Message).openapi({ description: 'newest first' }),
    last_message_time_stamp: z.string().openapi({ description: 'the oldest message returned (pass it as `before` for the next page), or the given one when none' }),
    error: z.enum(['NO MESSAGES', 'LAST PACKAGE']).optional().openapi({ description: '"NO MESSAGES" when none are left, "LAST PACKAGE" when fewer than 15 came' }),
  })
  .openapi('MessageBatch');

// pagination, as Django REST Framework's LimitOffsetPagination

export const DEFAULT_LIMIT = 8;
export const MAX_LIMIT = 100;

/** An absent or empty parameter takes its default, as in Django REST Framework; anything else must be a whole number in range. */
const wholeNumber = (fallback: number, min: number, max: number, description: string) =>
  z
    .string()
    .regex(/^\d*$/, 'Enter a whole number.')
    .optional()
    .transform((text) => (text ? Number(text) : fallback))
    .pipe(z.number().min(min, `Ensure this value is greater than or equal to ${min}.`).max(max, `Ensure this value is less than or equal to ${max}.`))
    .openapi({ type: 'integer', minimum: min, maximum: max, default: fallback, description });

/** `?limit=&offset=` of LimitOffsetPagination: limit 1 to 100 (default 8), offset from 0. */
export const PageQuery = z.object({
  limit: wholeNumber(DEFAULT_LIMIT, 1, MAX_LIMIT, 'how many results, at most 100'),
  offset: wholeNumber(0, 0, Number.MAX_SAFE_INTEGER, 'how many results to skip'),
});

/** The answer of a paginated list. */
export const Paginated = <T extends z.ZodType>(item: T, name: string) =>
  z
    .object({ count: z.number().int(), next: z.string().nullable(), previous: z.string().nullable(), results: z.array(item) })
    .openapi(`Paginated${name}`);
