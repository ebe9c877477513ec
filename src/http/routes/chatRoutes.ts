import { z } from 'zod';
import type { ChatCommands } from '../../commands/chat/chatCommands.ts';
import { route } from '../route.ts';
import { ChatDetail, ChatParams, chatName, ErrorAnswer, Message, MessageParams, messageContent, position, positionOf, withPosition } from '../schemas.ts';

const tags = ['chats'];
const uuid = z.uuid();
const clientId = uuid.optional();
const errors = {
  403: { description: 'not a participant, or not allowed', schema: ErrorAnswer },
  404: { description: 'no such chat or message', schema: ErrorAnswer },
};

export function chatRoutes(chats: ChatCommands) {
  return [
    route({
      method: 'post',
      path: '/api/chat/mychats/groups/',
      summary: 'Create a group chat, with you as its admin',
      tags,
      body: z.object({ name: chatName, client_id: clientId }),
      responses: { 201: { description: 'the new group chat', schema: withPosition({ chat: ChatDetail }) }, 400: { description: 'invalid', schema: ErrorAnswer } },
      async handle({ body, command }) {
        const created = await chats.createGroup(body.name, command);
        return { status: 201, body: { chat: created.chat, position: positionOf(created.position) } };
      },
    }),

    route({
      method: 'post',
      path: '/api/chat/{chat}/',
      summary: 'Add a friend of yours to a group chat you are in',
      tags,
      params: ChatParams,
      body: z.object({ user_uuid: uuid, client_id: clientId }),
      responses: {
        200: { description: 'added', schema: withPosition({ chat: ChatDetail }) },
        400: { description: 'not your friend', schema: ErrorAnswer },
        406: { description: 'not a group chat', schema: ErrorAnswer },
        409: { description: 'already in it', schema: ErrorAnswer },
        ...errors,
      },
      async handle({ params, body, command }) {
        const added = await chats.addParticipant(params.chat, body.user_uuid, command);
        return { body: { chat: added.chat, position: positionOf(added.position) } };
      },
    }),

    route({
      method: 'patch',
      path: '/api/chat/{chat}/',
      summary: 'Rename a group chat (its admin)',
      tags,
      params: ChatParams,
      body: z.object({ name: chatName, client_id: clientId }),
      responses: { 200: { description: 'renamed', schema: withPosition({ chat: ChatDetail }) }, 406: { description: 'not a group chat', schema: ErrorAnswer }, ...errors },
      async handle({ params, body, command }) {
        const renamed = await chats.rename(params.chat, body.name, command);
        return { body: { chat: renamed.chat, position: positionOf(renamed.position) } };
      },
    }),

    route({
      method: 'delete',
      path: '/api/chat/{chat}/participants/{user}/',
      summary: 'Leave a group chat (yourself) or remove a participant (its admin)',
      tags,
      params: z.object({ chat: uuid, user: uuid }),
      responses: { 200: { description: 'gone', schema: z.object({ position }) }, 406: { description: 'not a group chat', schema: ErrorAnswer }, ...errors },
      async handle({ params, command }) {
        const removed = await chats.removeParticipant(params.chat, params.user, command);
        return { body: { position: positionOf(removed.position) } };
      },
    }),

    route({
      method: 'post',
      path: '/api/chat/{chat}/messages/',
      summary: 'Post a message (the REST twin of the socket command new_message)',
      tags,
      params: ChatParams,
      body: z.object({ message: messageContent, client_id: clientId }),
      responses: {
        201: { description: 'posted', schema: withPosition({ message: Message }) },
        400: { description: 'blank', schema: ErrorAnswer },
        413: { description: 'over 4,000 characters', schema: ErrorAnswer },
        ...errors,
      },
      async handle({ params, body, command }) {
        const posted = await chats.postMessage(params.chat, body.message, command);
        return { status: 201, body: { message: posted.message, position: positionOf(posted.position) } };
      },
    }),

    route({
      method: 'patch',
      path: '/api/chat/{chat}/messages/{message}/',
      summary: 'Edit your own message',
      tags,
      params: MessageParams,
      body: z.object({ message: messageContent, client_id: clientId }),
      responses: { 200: { description: 'edited', schema: withPosition({ message: Message }) }, 413: { description: 'over 4,000 characters', schema: ErrorAnswer }, ...errors },
      async handle({ params, body, command }) {
        const edited = await chats.editMessage(params.chat, params.message, body.message, command);
        return { body: { message: edited.message, position: positionOf(edited.position) } };
      },
    }),

    route({
      method: 'delete',
      path: '/api/chat/{chat}/messages/{message}/',
      summary: 'Delete your own message (or any, as the group admin); it keeps its place, empty',
      tags,
      params: MessageParams,
      responses: { 200: { description: 'deleted', schema: withPosition({ message: Message }) }, ...errors },
      async handle({ params, command }) {
        const deleted = await chats.deleteMessage(params.chat, params.message, command);
        return { body: { message: deleted.message, position: positionOf(deleted.position) } };
      },
    }),

    route({
      method: 'post',
      path: '/api/chat/{chat}/read/',
      summary: 'Mark the messages up to this one as read',
      tags,
      params: ChatParams,
      body: z.object({ message_id: z.number().int().positive(), client_id: clientId }),
      responses: { 200: { description: 'read', schema: z.object({ unread_count: z.number().int(), position: position.nullable() }) }, ...errors },
      async handle({ params, body, command }) {
        const read = await chats.markRead(params.chat, body.message_id, command);
        return { body: { unread_count: read.unread_count, position: positionOf(read.position) } };
      },
    }),
  ];
}
