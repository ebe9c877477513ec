import { event, type DomainEvent } from '../../events/catalog.ts';
import { isoMicros, parseIsoMicros, type Micros } from '../../events/time.ts';
import { refuse } from '../DomainError.ts';
import { MessageLedger } from './MessageLedger.ts';

export type ChatEvent = DomainEvent<
  | 'ChatCreated'
  | 'ChatRenamed'
  | 'ParticipantAdded'
  | 'ParticipantLeft'
  | 'ParticipantRemoved'
  | 'MessagePosted'
  | 'MessageEdited'
  | 'MessageDeleted'
  | 'MessagesRead'
>;

export interface OpenChat {
  status: 'open';
  id: string;
  name: string;
  isGroupChat: boolean;
  /** group chats only */
  admin: string | null;
  created: string;
  participants: readonly string[];
  /** everyone who was ever a participant; the ledger names authors by their index here */
  members: readonly string[];
  messages: MessageLedger;
  /** the newest message's time stamp: the next one must be later */
  lastTimeStamp: Micros;
  /** content of the newest message not deleted, for chat lists; null when there is none */
  lastMessage: string | null;
  /** how far each participant has read, by message id */
  readUpTo: Readonly<Record<string, number>>;
}

export type Chat = { status: 'absent' } | OpenChat;

export type ChatCommand =
  | { type: 'CreateGroupChat'; chatId: string; name: string; creator: string; now: string }
  | { type: 'CreatePrivateChat'; chatId: string; users: [string, string]; invitationId: string; now: string }
  | { type: 'RenameChat'; by: string; name: string }
  | { type: 'AddParticipant'; by: string; user: string; byIsFriendOfUser: boolean }
  | { type: 'RemoveParticipant'; by: string; user: string }
  | { type: 'PostMessage'; by: string; content: string; now: string }
  | { type: 'EditMessage'; by: string; messageId: number; content: string; now: string }
  | { type: 'DeleteMessage'; by: string; messageId: number; now: string }
  | { type: 'MarkRead'; by: string; messageId: number };

export const initialState = (): Chat => ({ status: 'absent' });

export function evolve(state: Chat, e: ChatEvent): Chat {
  if (e.type === 'ChatCreated') {
    return {
      status: 'open',
      id: e.data.chat_id,
      name: e.data.name,
      isGroupChat: e.data.is_group_chat,
      admin: e.data.admin,
      created: e.data.created,
      participants: e.data.participants,
      members: e.data.participants,
      messages: MessageLedger.empty(),
      lastTimeStamp: 0,
      lastMessage: null,
      readUpTo: {},
    };
  }
  if (state.status === 'absent') return state;
  switch (e.type) {
    case 'ChatRenamed':
      return { ...state, name: e.data.name };
    case 'ParticipantAdded':
      return {
        ...state,
        participants: [...state.participants, e.data.user_id],
        members: state.members.includes(e.data.user_id) ? state.members : [...state.members, e.data.user_id],
        // a newcomer has not missed what was said before they joined
        readUpTo: { ...state.readUpTo, [e.data.user_id]: state.messages.size },
      };
    case 'ParticipantLeft':
      return { ...without(state, e.data.user_id), admin: state.admin === e.data.user_id ? e.data.new_admin : state.admin };
    case 'ParticipantRemoved':
      return without(state, e.data.user_id);
    case 'MessagePosted': {
      const timeStamp = parseIsoMicros(e.data.time_stamp) ?? state.lastTimeStamp;
      return {
        ...state,
        messages: state.messages.add(state.members.indexOf(e.data.author_id), timeStamp),
        lastTimeStamp: timeStamp,
        lastMessage: e.data.content,
        // what you write yourself you have read
        readUpTo: { ...state.readUpTo, [e.data.author_id]: e.data.message_id },
      };
    }
    case 'MessageEdited':
      return e.data.message_id === state.messages.size ? { ...state, lastMessage: e.data.content } : state;
    case 'MessageDeleted': {
      const messages = state.messages.markDeleted(e.data.message_id);
      // a deleted message keeps its place with empty content, so the newest one may read ""
      return { ...state, messages, lastMessage: e.data.message_id === messages.size ? '' : state.lastMessage };
    }
    case 'MessagesRead':
      return { ...state, readUpTo: { ...state.readUpTo, [e.data.user_id]: e.data.message_id } };
  }
}

export function decide(command: ChatCommand, state: Chat): ChatEvent[] {
  switch (command.type) {
    case 'CreateGroupChat':
      if (state.status !== 'absent') refuse('conflict', 'chat_exists', 'This chat exists already.');
      return [
        event('ChatCreated', {
          chat_id: command.chatId,
          name: command.name,
          is_group_chat: true,
          participants: [command.creator],
          admin: command.creator,
          created: command.now,
        }),
      ];
    case 'CreatePrivateChat':
      if (state.status !== 'absent') refuse('conflict', 'chat_exists', 'This chat exists already.');
      return [
        event('ChatCreated', {
          chat_id: command.chatId,
          name: '',
          is_group_chat: false,
          participants: command.users,
          admin: null,
          created: command.now,
          invitation_id: command.invitationId,
        }),
      ];
  }

  const chat = open(state);
  const by = command.by;
  switch (command.type) {
    case 'RenameChat':
      groupOnly(chat);
      adminOnly(chat, by);
      return chat.name === command.name ? [] : [event('ChatRenamed', { name: command.name, renamed_by: by })];
    case 'AddParticipant':
      participantOnly(chat, by);
      groupOnly(chat);
      if (!command.byIsFriendOfUser) refuse('invalid', 'not_a_friend', 'You can add only your friends.');
      if (chat.participants.includes(command.user)) refuse('conflict', 'already_participant', 'This user is in the chat already.');
      return [event('ParticipantAdded', { user_id: command.user, added_by: by })];
    case 'RemoveParticipant': {
      participantOnly(chat, by);
      groupOnly(chat);
      if (command.user === by) {
        // the longest-standing participant left takes over a group its admin leaves
        const successor = chat.admin === by ? (chat.participants.find((p) => p !== by) ?? null) : chat.admin;
        return [event('ParticipantLeft', { user_id: by, new_admin: successor })];
      }
      adminOnly(chat, by);
      if (!chat.participants.includes(command.user)) refuse('not_found', 'not_a_participant', 'This user is not in the chat.');
      return [event('ParticipantRemoved', { user_id: command.user, removed_by: by })];
    }
    case 'PostMessage': {
      participantOnly(chat, by);
      // strictly increasing within the chat, even when the clock stands still or steps back
      const timeStamp = Math.max(parseIsoMicros(command.now) ?? 0, chat.lastTimeStamp + 1);
      return [event('MessagePosted', { message_id: chat.messages.size + 1, author_id: by, content: command.content, time_stamp: isoMicros(timeStamp) })];
    }
    case 'EditMessage':
      participantOnly(chat, by);
      existing(chat, command.messageId);
      if (chat.members[chat.messages.authorIndex(command.messageId)] !== by) refuse('forbidden', 'not_the_author', 'You can edit only your own messages.');
      return [event('MessageEdited', { message_id: command.messageId, content: command.content, edited_at: command.now })];
    case 'DeleteMessage': {
      participantOnly(chat, by);
      existing(chat, command.messageId);
      const author = chat.members[chat.messages.authorIndex(command.messageId)];
      if (author !== by && !(chat.isGroupChat && chat.admin === by)) {
        refuse('forbidden', 'not_the_author', 'You can delete only your own messages, or any as the group admin.');
      }
      return [event('MessageDeleted', { message_id: command.messageId, deleted_by: by, deleted_at: command.now })];
    }
    case 'MarkRead':
      participantOnly(chat, by);
      if (!chat.messages.has(command.messageId)) refuse('not_found', 'message_not_found', 'No such message in this chat.');
      return (chat.readUpTo[by] ?? 0) >= command.messageId ? [] : [event('MessagesRead', { user_id: by, message_id: command.messageId })];
  }
}

function open(state: Chat): OpenChat {
  return state.status === 'open' ? state : refuse('not_found', 'chat_not_found', 'No such chat.');
}

function participantOnly(chat: OpenChat, user: string): void {
  if (!chat.participants.includes(user)) refuse('forbidden', 'not_a_participant', 'You are not a participant of this chat.');
}

function groupOnly(chat: OpenChat): void {
  if (!chat.isGroupChat) refuse('not_acceptable', 'not_a_group_chat', 'This is a private chat.');
}

function adminOnly(chat: OpenChat, user: string): void {
  if (chat.admin !== user) refuse('forbidden', 'not_the_admin', 'Only the group admin may do this.');
}

function existing(chat: OpenChat, messageId: number): void {
  if (!chat.messages.has(messageId) || chat.messages.isDeleted(messageId)) refuse('not_found', 'message_not_found', 'No such message in this chat.');
}

function without(chat: OpenChat, user: string): OpenChat {
  const { [user]: _dropped, ...readUpTo } = chat.readUpTo;
  return { ...chat, participants: chat.participants.filter((p) => p !== user), readUpTo };
}
