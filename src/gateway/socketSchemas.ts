import { z } from 'zod';
import { messageContent } from '../http/schemas.ts';

/** The client commands of API.md, "Socket.IO gateway": one schema each validates every payload. */
const chat = z.uuid();
export const socketCommands = {
  fetch_messages: z.object({ chat, last_message_time_stamp: z.union([z.literal(0), z.string().max(40)]) }),
  new_message: z.object({ chat, message: messageContent, client_id: z.uuid().optional() }),
  resume: z.object({ since: z.union([z.string().regex(/^\d{1,19}$/), z.number().int().min(0).max(Number.MAX_SAFE_INTEGER)]) }),
  typing: z.object({ chat }),
};

export type SocketCommand = keyof typeof socketCommands;
