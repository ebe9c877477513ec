import { randomUUID } from 'node:crypto';
import { streams } from '../../events/streams.ts';
import { chatDetail, invitationView } from '../answers.ts';
import type { CommandContext } from '../AggregateRepository.ts';
import { decide as decideChat, type OpenChat } from '../chat/chatDecider.ts';
import { refuse } from '../DomainError.ts';
import { uuidFromName } from '../eventIds.ts';
import type { Repositories } from '../repositories.ts';
import type { UserCommands } from '../user/userCommands.ts';
import { decide, type Invitation } from './friendshipDecider.ts';
import { decide as file } from './invitationIndex.ts';

export function createFriendshipCommands({ friendships, invitations, chats }: Repositories, users: UserCommands) {
  /** The pair an invitation belongs to; someone else's invitation, or none, is "not found" alike. */
  async function pairOf(invitationId: string): Promise<{ from: string; to: string }> {
    const index = await invitations.load(streams.invitation(invitationId));
    return index ?? refuse('not_found', 'invitation_not_found', 'No such invitation waits for your answer.');
  }

  return {
    async areFriends(a: string, b: string): Promise<boolean> {
      return (await friendships.load(streams.friendship(a, b))).status === 'friends';
    },

    async invite(from: string, to: string, context: CommandContext) {
      if (from === to) refuse('invalid', 'cannot_invite_yourself', 'You cannot invite yourself.');
      const [sender, recipient] = await users.publicUsers([from, to]);
      if (!recipient!.is_active) refuse('not_found', 'user_not_found', 'No such user.');
      const invitationId = context.clientId ? uuidFromName(`invitation/${from}/${context.clientId}`) : randomUUID();
      const done = await friendships.execute(
        streams.friendship(from, to),
        (state) => decide({ type: 'Invite', invitationId, from, to, now: context.now }, state),
        context,
      );
      const invitation = done.events[0]!.data as { invitation_id: string; created: string };
      // after the pair's stream accepted it: an index entry for a refused invitation would lead nowhere
      const filed = await invitations.execute(streams.invitation(invitation.invitation_id), (state) => file({ type: 'FileInvitation', from, to }, state), context);
      const view: Invitation = { id: invitation.invitation_id, from, to, created: invitation.created };
      return { invitation: invitationView(view, sender!, recipient!), position: filed.position ?? done.position };
    },

    /** Accepting opens the private chat of the two; its id follows from the invitation's, so a retry finds the same chat. */
    async answer(invitationId: string, by: string, accept: boolean, context: CommandContext) {
      const { from, to } = await pairOf(invitationId);
      const pair = streams.friendship(from, to);
      if (!accept) {
        const done = await friendships.execute(pair, (state) => decide({ type: 'Reject', invitationId, by }, state), context);
        return { chat: null, position: done.position };
      }
      const chatId = uuidFromName(`private-chat/${invitationId}`);
      const accepted = await friendships.execute(pair, (state) => decide({ type: 'Accept', invitationId, by, chatId }, state), context);
      const created = await chats.execute(
        streams.chat(chatId),
        (state) => (state.status === 'open' ? [] : decideChat({ type: 'CreatePrivateChat', chatId, users: [from, to], invitationId, now: context.now }, state)),
        { ...context, clientId: context.clientId ?? invitationId },
      );
      const chat = created.state as OpenChat;
      // a repeated acceptance finds the chat made already: its answer is the acceptance's position
      return { chat: chatDetail(chat, by, await users.knownUsers(chat.participants)), position: created.position ?? accepted.position };
    },

    async end(by: string, other: string, context: CommandContext) {
      const done = await friendships.execute(streams.friendship(by, other), (state) => decide({ type: 'EndFriendship', by }, state), context);
      return { position: done.position };
    },
  };
}

export type FriendshipCommands = ReturnType<typeof createFriendshipCommands>;
