import { createHash } from 'node:crypto';

/** Stream names, one place: see DESIGN.md, "The event log". */
export const streams = {
  user: (userId: string) => `user-${userId}`,
  chat: (chatId: string) => `chat-${chatId}`,
  /** one stream per pair of users, whoever invited whom */
  friendship: (a: string, b: string) => `friendship-${[a, b].sort().join('-')}`,
  /** which pair an invitation belongs to, so it can be answered by its id alone */
  invitation: (invitationId: string) => `invitation-${invitationId}`,
  /** reserves an email for one account, appended with no_stream */
  email: (email: string) => `email-${createHash('sha256').update(email.trim().toLowerCase()).digest('hex')}`,
};
