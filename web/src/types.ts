/** The objects of ../shared/API.md, as the client reads them. */

export interface User {
  uuid: string;
  username: string;
  description: string;
  photo: string | null;
  is_active: boolean;
  date_joined: string;
  email?: string;
}

export interface FoundUser extends User {
  is_friend_of_current_user: boolean;
}

export interface Message {
  id: number;
  chat: string;
  author_id: string;
  content: string;
  time_stamp: string;
  edited_at: string | null;
  deleted: boolean;
}

export interface ChatItem {
  uuid: string;
  name: string;
  is_group_chat: boolean;
  last_activity_date: string;
  lastmessage: string | null;
  unread_count: number;
}

export interface ChatDetail extends ChatItem {
  participants: User[];
  created: string;
}

export interface Invitation {
  id: string;
  from: User;
  to: User;
  created: string;
}

export interface Page<T> {
  count: number;
  next: string | null;
  previous: string | null;
  results: T[];
}

/** the answer of fetch_messages */
export interface MessagePage {
  messages: Message[];
  last_message_time_stamp: string;
  error?: 'NO MESSAGES' | 'LAST PACKAGE';
}

/** Server → client pushes, each with the global position of its event */
export interface Pushes {
  new_message: { chat: string; message: Message; position: string };
  message_edited: { chat: string; message: Message; position: string };
  message_deleted: { chat: string; message: Message; position: string };
  chat_updated: { chat: ChatItem; position: string };
  invitation: { invitation: Invitation; position: string };
}
