import type { Knex } from 'knex';
import type { MessageView, PublicUser } from '../commands/answers.ts';
import { DomainError } from '../commands/DomainError.ts';
import { prepare, runPrepared } from '../db/prepared.ts';
import { isoMicros } from '../events/time.ts';
import { fetchPage } from './fetchPage.ts';
import type { Page, PageRequest } from './Page.ts';
import { publicUserJson } from './publicUserJson.ts';

/** how many messages one fetch answers, as the original app's socket consumer did */
export const MESSAGES_PER_FETCH = 15;

export type ChatType = 'private' | 'groups';

export interface ChatListItem {
  uuid: string;
  name: string;
  is_group_chat: boolean;
  last_activity_date: string;
  lastmessage: string | null;
  unread_count: number;
}

export interface ChatView extends ChatListItem {
  participants: PublicUser[];
  created: string;
}

export interface MessageBatch {
  messages: MessageView[];
  /** the oldest message's time stamp: the `before` of the next fetch */
  last_message_time_stamp: string;
  error?: 'NO MESSAGES' | 'LAST PACKAGE';
}

interface ItemRow {
  uuid: string;
  name: string;
  is_group_chat: boolean;
  last_activity: string;
  last_message: string | null;
  unread_count: number;
}

interface MessageRow {
  id: number;
  chat_id: string;
  author_id: string;
  content: string;
  time_stamp: string;
  edited_at: string | null;
  deleted: boolean;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

// A chat as the viewer sees it, over rm_chats c and the viewer's rm_chat_members row m. A private
// chat has no name of its own: each participant sees it under the other one's username.
const ITEM_COLUMNS = `
  c.uuid, c.is_group_chat, c.last_activity, c.last_message,
  CASE WHEN c.is_group_chat THEN c.name ELSE coalesce((
    SELECT u.username FROM rm_chat_members o JOIN rm_users u ON u.uuid = o.user_id
    WHERE o.chat_id = c.uuid AND o.user_id <> :viewer ORDER BY u.uuid LIMIT 1), c.name) END AS name,
  greatest(c.message_count - m.read_up_to, 0) AS unread_count`;

const MESSAGE_COLUMNS = 'id, chat_id, author_id, content, time_stamp, edited_at, deleted';

const TAKES_PART = prepare(`SELECT EXISTS (SELECT 1 FROM rm_chats WHERE uuid = :chat) AS chat,
  EXISTS (SELECT 1 FROM rm_chat_members WHERE chat_id = :chat AND user_id = :viewer) AS member`);
const CHAT_DETAIL = prepare(`SELECT ${ITEM_COLUMNS}, c.created, m.user_id IS NOT NULL AS member,
    (SELECT coalesce(json_agg(${publicUserJson('u')} ORDER BY u.username, u.uuid), '[]')
       FROM rm_chat_members p JOIN rm_users u ON u.uuid = p.user_id WHERE p.chat_id = c.uuid) AS participants
  FROM rm_chats c LEFT JOIN rm_chat_members m ON m.chat_id = c.uuid AND m.user_id = :viewer
  WHERE c.uuid = :chat`);
/** one row without a message when there is none (or the viewer may not read them) */
const messagesPage = (before: string) =>
  prepare(`SELECT t.chat, t.member, p.* FROM (SELECT EXISTS (SELECT 1 FROM rm_chats WHERE uuid = :chat) AS chat,
      EXISTS (SELECT 1 FROM rm_chat_members WHERE chat_id = :chat AND user_id = :viewer) AS member) t
    LEFT JOIN LATERAL (SELECT ${MESSAGE_COLUMNS} FROM rm_messages WHERE chat_id = :chat ${before} ORDER BY time_stamp DESC LIMIT :limit) p ON t.member`);
const NEWEST_MESSAGES = messagesPage('');
const MESSAGES_BEFORE = messagesPage('AND time_stamp < :before');
const MEMBER_IDS = prepare('SELECT user_id FROM rm_chat_members WHERE chat_id = :chat ORDER BY user_id');
const CHAT_IDS = prepare('SELECT chat_id FROM rm_chat_members WHERE user_id = :user');
const ONE_MESSAGE = prepare(`SELECT ${MESSAGE_COLUMNS} FROM rm_messages WHERE chat_id = :chat AND id = :id`);

const noSuchChat = () => new DomainError('not_found', 'chat_not_found', 'No such chat.');
const notAParticipant = () => new DomainError('forbidden', 'not_a_participant', 'You are not a participant of this chat.');

const toItem = (row: ItemRow): ChatListItem => ({
  uuid: row.uuid,
  name: row.name,
  is_group_chat: row.is_group_chat,
  last_activity_date: isoMicros(Number(row.last_activity)),
  lastmessage: row.last_message,
  unread_count: Number(row.unread_count),
});

const toMessage = (row: MessageRow): MessageView => ({
  id: row.id,
  chat: row.chat_id,
  author_id: row.author_id,
  content: row.deleted ? '' : row.content,
  time_stamp: isoMicros(Number(row.time_stamp)),
  edited_at: row.edited_at,
  deleted: row.deleted,
});

/** Read-only queries over the chat read models (rm_chats, rm_chat_members, rm_messages), transport-free. */
export function chatQueries(knex: Knex) {
  /** 404 when there is no such chat, 403 when the viewer is not in it */
  async function mustTakePart(viewer: string, chat: string): Promise<void> {
    const [row] = await runPrepared<{ chat: boolean; member: boolean }>(knex, TAKES_PART, { chat, viewer });
    if (!row!.chat) throw noSuchChat();
    if (!row!.member) throw notAParticipant();
  }

  return {
    /** the viewer's chats, most recent activity first */
    async mychats(viewer: string, { type, ...page }: PageRequest & { type?: ChatType | undefined }): Promise<Page<ChatListItem>> {
      const found = await fetchPage<ItemRow>(
        knex,
        {
          select: ITEM_COLUMNS,
          from: `FROM rm_chat_members m JOIN rm_chats c ON c.uuid = m.chat_id WHERE m.user_id = :viewer ${type ? 'AND c.is_group_chat = :group' : ''}`,
          orderBy: 'c.last_activity DESC, c.uuid',
        },
        { viewer, group: type === 'groups' },
        page,
      );
      return { count: found.count, results: found.results.map(toItem) };
    },

    async chatDetail(viewer: string, chat: string): Promise<ChatView> {
      if (!UUID.test(chat)) throw noSuchChat();
      const rows = await runPrepared(knex, CHAT_DETAIL, { viewer, chat });
      const row = rows[0] as (ItemRow & { created: string; member: boolean; participants: PublicUser[] }) | undefined;
      if (!row) throw noSuchChat();
      if (!row.member) throw notAParticipant();
      return { ...toItem(row), participants: row.participants, created: row.created };
    },

    /**
     * Up to 15 messages older than `before` (µs; null for the newest), newest first. Time stamps
     * are unique within a chat, so paging by them never skips or repeats a message.
     */
    async fetchMessages(viewer: string, chat: string, before: bigint | null): Promise<MessageBatch> {
      if (!UUID.test(chat)) throw noSuchChat();
      // membership and the page in one round trip; the page is read only for a participant
      const rows = await runPrepared<{ chat: boolean; member: boolean } & Partial<MessageRow>>(knex, before === null ? NEWEST_MESSAGES : MESSAGES_BEFORE, {
        chat,
        viewer,
        before: String(before),
        limit: MESSAGES_PER_FETCH,
      });
      if (!rows[0]!.chat) throw noSuchChat();
      if (!rows[0]!.member) throw notAParticipant();
      const found = rows[0]!.id === null ? [] : (rows as MessageRow[]);
      const messages = found.map(toMessage);
      if (messages.length === 0) return { messages, last_message_time_stamp: before === null ? '0' : isoMicros(Number(before)), error: 'NO MESSAGES' };
      const batch: MessageBatch = { messages, last_message_time_stamp: messages[messages.length - 1]!.time_stamp };
      if (messages.length < MESSAGES_PER_FETCH) batch.error = 'LAST PACKAGE';
      return batch;
    },

    /** who is in the chat now (none for no such chat): for relaying ephemeral signals such as typing */
    async memberIds(chat: string): Promise<string[]> {
      if (!UUID.test(chat)) return [];
      const rows = await runPrepared<{ user_id: string }>(knex, MEMBER_IDS, { chat });
      return rows.map((row) => row.user_id);
    },

    /** the chats a user is in now */
    async chatIdsOf(user: string): Promise<string[]> {
      const rows = await runPrepared<{ chat_id: string }>(knex, CHAT_IDS, { user });
      return rows.map((row) => row.chat_id);
    },

    /** one message as it stands now, or null */
    async message(chat: string, id: number): Promise<MessageView | null> {
      const rows = await runPrepared<MessageRow>(knex, ONE_MESSAGE, { chat, id });
      return rows[0] ? toMessage(rows[0]) : null;
    },

    /** Full-text search in one chat; the phrase is plain words, never query syntax. Best match first. */
    async searchMessages(viewer: string, chat: string, phrase: string, page: PageRequest): Promise<Page<MessageView>> {
      if (!UUID.test(chat)) throw noSuchChat();
      const [, found] = await Promise.all([
        mustTakePart(viewer, chat),
        fetchPage<MessageRow>(
          knex,
          {
            select: MESSAGE_COLUMNS,
            from: `FROM rm_messages WHERE chat_id = :chat AND NOT deleted AND search @@ plainto_tsquery('simple', :phrase)`,
            orderBy: `ts_rank(search, plainto_tsquery('simple', :phrase)) DESC, time_stamp DESC`,
          },
          { chat, phrase },
          page,
        ),
      ]);
      return { count: found.count, results: found.results.map(toMessage) };
    },
  };
}

export type ChatQueries = ReturnType<typeof chatQueries>;
