import { z } from 'zod';

/**
 * Every event type the log may hold, with the version and schema of its data. Old versions stay
 * here when a schema changes, so history keeps its meaning; `schema` in an event's metadata says
 * which one it follows.
 */
const uuid = z.uuid();
const time = z.string(); // ISO 8601 UTC with microseconds
const content = z.string();

export const eventCatalog = {
  // user-<uuid>
  UserRegistered: { schema: 1, data: z.object({ user_id: uuid, email: z.string(), username: z.string(), date_joined: time }) },
  UserProfileUpdated: {
    schema: 1,
    data: z.object({ username: z.string().optional(), description: z.string().optional(), photo: z.string().nullable().optional() }),
  },
  UserDeactivated: { schema: 1, data: z.object({}) },
  // `analyst` joined the enum later: a wider enum still reads every event written under schema 1
  UserRoleGranted: { schema: 1, data: z.object({ role: z.enum(['auditor', 'analyst']), granted_by: z.string() }) },
  UserRoleRevoked: { schema: 1, data: z.object({ role: z.enum(['auditor', 'analyst']), revoked_by: z.string() }) },

  // email-<sha256>
  EmailReserved: { schema: 1, data: z.object({ user_id: uuid }) },
  /** a registration that failed after reserving gives the email back */
  EmailReleased: { schema: 1, data: z.object({ user_id: uuid }) },

  // friendship-<a>-<b>
  InvitationSent: { schema: 1, data: z.object({ invitation_id: uuid, from: uuid, to: uuid, created: time }) },
  InvitationAccepted: { schema: 1, data: z.object({ invitation_id: uuid, chat_id: uuid }) },
  InvitationRejected: { schema: 1, data: z.object({ invitation_id: uuid }) },
  FriendshipEnded: { schema: 1, data: z.object({ ended_by: uuid }) },

  // invitation-<uuid>
  InvitationFiled: { schema: 1, data: z.object({ from: uuid, to: uuid }) },

  // chat-<uuid>
  ChatCreated: {
    schema: 1,
    data: z.object({
      chat_id: uuid,
      name: z.string(),
      is_group_chat: z.boolean(),
      participants: z.array(uuid),
      admin: uuid.nullable(),
      created: time,
      invitation_id: uuid.optional(),
    }),
  },
  ChatRenamed: { schema: 1, data: z.object({ name: z.string(), renamed_by: uuid }) },
  ParticipantAdded: { schema: 1, data: z.object({ user_id: uuid, added_by: uuid }) },
  ParticipantLeft: { schema: 1, data: z.object({ user_id: uuid, new_admin: uuid.nullable() }) },
  ParticipantRemoved: { schema: 1, data: z.object({ user_id: uuid, removed_by: uuid }) },
  MessagePosted: { schema: 1, data: z.object({ message_id: z.number().int().positive(), author_id: uuid, content, time_stamp: time }) },
  MessageEdited: { schema: 1, data: z.object({ message_id: z.number().int().positive(), content, edited_at: time }) },
  MessageDeleted: { schema: 1, data: z.object({ message_id: z.number().int().positive(), deleted_by: uuid, deleted_at: time }) },
  MessagesRead: { schema: 1, data: z.object({ user_id: uuid, message_id: z.number().int().positive() }) },
} as const;

export type EventType = keyof typeof eventCatalog;
export type EventData<T extends EventType> = z.infer<(typeof eventCatalog)[T]['data']>;

/** An event as deciders produce and evolve consume it: a past-tense fact and its data. */
export type DomainEvent<T extends EventType = EventType> = { [K in T]: { type: K; data: EventData<K> } }[T];

export const event = <T extends EventType>(type: T, data: EventData<T>): DomainEvent<T> => ({ type, data }) as DomainEvent<T>;
