import { isoMicros } from '../events/time.ts';
import type { OpenChat } from './chat/chatDecider.ts';
import type { Invitation } from './friendship/friendshipDecider.ts';
import type { User } from './user/userDecider.ts';

/** The contract's objects (API.md, "Objects") as the write side answers its commands with them. */
export interface PublicUser {
  uuid: string;
  username: string;
  description: string;
  photo: string | null;
  is_active: boolean;
  date_joined: string;
}

export function publicUser(user: User & { status: 'active' | 'deactivated' }): PublicUser {
  return {
    uuid: user.id,
    username: user.username,
    description: user.description,
    photo: user.photo,
    is_active: user.status === 'active',
    date_joined: user.dateJoined,
  };
}

export const ownUser = (user: User & { status: 'active' | 'deactivated' }) => ({ ...publicUser(user), email: user.email });

export interface MessageView {
  id: number;
  chat: string;
  author_id: string;
  content: string;
  time_stamp: string;
  edited_at: string | null;
  deleted: boolean;
}

/** A message as the chat's ledger knows it; content and edit time come from the event at hand. */
export function messageView(chat: OpenChat, messageId: number, content: string, editedAt: string | null): MessageView {
  const deleted = chat.messages.isDeleted(messageId);
  return {
    id: messageId,
    chat: chat.id,
    author_id: chat.members[chat.messages.authorIndex(messageId)]!,
    content: deleted ? '' : content,
    time_stamp: isoMicros(chat.messages.timeStamp(messageId)),
    edited_at: editedAt,
    deleted,
  };
}

export function chatDetail(chat: OpenChat, viewer: string, participants: PublicUser[]) {
  const size = chat.messages.size;
  return {
    uuid: chat.id,
    // a private chat is listed under the other participant's name, as the queries list it
    name: chat.isGroupChat ? chat.name : (participants.find((p) => p.uuid !== viewer)?.username ?? ''),
    is_group_chat: chat.isGroupChat,
    last_activity_date: size > 0 ? isoMicros(chat.lastTimeStamp) : chat.created,
    lastmessage: size > 0 ? chat.lastMessage : null,
    unread_count: Math.max(0, size - (chat.readUpTo[viewer] ?? 0)),
    participants,
    created: chat.created,
  };
}

export const invitationView = (invitation: Invitation, from: PublicUser, to: PublicUser) => ({ id: invitation.id, from, to, created: invitation.created });
