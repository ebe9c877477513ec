import { randomUUID } from 'node:crypto';
import type { EventData } from '../../events/catalog.ts';
import { streams } from '../../events/streams.ts';
import { chatDetail, messageView } from '../answers.ts';
import type { CommandContext } from '../AggregateRepository.ts';
import type { FriendshipCommands } from '../friendship/friendshipCommands.ts';
import { uuidFromName } from '../eventIds.ts';
import type { Repositories } from '../repositories.ts';
import type { UserCommands } from '../user/userCommands.ts';
import { decide, type ChatCommand, type OpenChat } from './chatDecider.ts';

type ChatCommandBody<T extends ChatCommand['type']> = Omit<Extract<ChatCommand, { type: T }>, 'type' | 'by' | 'now'>;

export function createChatCommands({ chats }: Repositories, users: UserCommands, friendships: FriendshipCommands) {
  function run<T extends ChatCommand['type']>(chatId: string, type: T, body: ChatCommandBody<T>, context: CommandContext) {
    const command = { type, by: context.actor, now: context.now, ...body } as unknown as ChatCommand;
    return chats.execute(streams.chat(chatId), (state) => decide(command, state), context);
  }

  async function detail(chat: OpenChat, viewer: string) {
    // participants as last seen here: an answer, not a rule, and no read per participant
    return chatDetail(chat, viewer, await users.knownUsers(chat.participants));
  }

  return {
    async createGroup(name: string, context: CommandContext) {
      const chatId = context.clientId ? uuidFromName(`group-chat/${context.actor}/${context.clientId}`) : randomUUID();
      const done = await chats.execute(
        streams.chat(chatId),
        (state) => decide({ type: 'CreateGroupChat', chatId, name, creator: context.actor, now: context.now }, state),
        context,
      );
      return { chat: await detail(done.state as OpenChat, context.actor), position: done.position };
    },

    async rename(chatId: string, name: string, context: CommandContext) {
      const done = await run(chatId, 'RenameChat', { name }, context);
      return { chat: await detail(done.state as OpenChat, context.actor), position: done.position };
    },

    async addParticipant(chatId: string, user: string, context: CommandContext) {
      await users.userOf(user);
      const byIsFriendOfUser = await friendships.areFriends(context.actor, user);
      const done = await run(chatId, 'AddParticipant', { user, byIsFriendOfUser }, context);
      return { chat: await detail(done.state as OpenChat, context.actor), position: done.position };
    },

    /** Leave (yourself) or remove (the group admin). */
    async removeParticipant(chatId: string, user: string, context: CommandContext) {
      const done = await run(chatId, 'RemoveParticipant', { user }, context);
      return { position: done.position };
    },

    async postMessage(chatId: string, content: string, context: CommandContext) {
      const done = await run(chatId, 'PostMessage', { content }, context);
      const posted = done.events[0]!.data as EventData<'MessagePosted'>;
      // for a repeat, the message as first posted (its id and time stamp come from the log)
      const message = {
        id: posted.message_id,
        chat: chatId,
        author_id: posted.author_id,
        content: posted.content,
        time_stamp: posted.time_stamp,
        edited_at: null,
        deleted: false,
      };
      return { message, position: done.position };
    },

    async editMessage(chatId: string, messageId: number, content: string, context: CommandContext) {
      const done = await run(chatId, 'EditMessage', { messageId, content }, context);
      const edited = done.events[0]!.data as EventData<'MessageEdited'>;
      return { message: messageView(done.state as OpenChat, messageId, edited.content, edited.edited_at), position: done.position };
    },

    async deleteMessage(chatId: string, messageId: number, context: CommandContext) {
      const done = await run(chatId, 'DeleteMessage', { messageId }, context);
      return { message: messageView(done.state as OpenChat, messageId, '', null), position: done.position };
    },

    async markRead(chatId: string, messageId: number, context: CommandContext) {
      const done = await run(chatId, 'MarkRead', { messageId }, context);
      const chat = done.state as OpenChat;
      return { unread_count: Math.max(0, chat.messages.size - (chat.readUpTo[context.actor] ?? 0)), position: done.position };
    },
  };
}

export type ChatCommands = ReturnType<typeof createChatCommands>;
