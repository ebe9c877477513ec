import { event, type DomainEvent } from '../../events/catalog.ts';
import { refuse } from '../DomainError.ts';

export type FriendshipEvent = DomainEvent<'InvitationSent' | 'InvitationAccepted' | 'InvitationRejected' | 'FriendshipEnded'>;

export interface Invitation {
  id: string;
  from: string;
  to: string;
  created: string;
}

/** The state between two users, whoever invited whom. */
export type Friendship =
  | { status: 'strangers' }
  | { status: 'invited'; invitation: Invitation }
  | { status: 'friends'; chatId: string };

export type FriendshipCommand =
  | { type: 'Invite'; invitationId: string; from: string; to: string; now: string }
  | { type: 'Accept'; invitationId: string; by: string; chatId: string }
  | { type: 'Reject'; invitationId: string; by: string }
  | { type: 'EndFriendship'; by: string };

export const initialState = (): Friendship => ({ status: 'strangers' });

export function evolve(_state: Friendship, e: FriendshipEvent): Friendship {
  switch (e.type) {
    case 'InvitationSent':
      return { status: 'invited', invitation: { id: e.data.invitation_id, from: e.data.from, to: e.data.to, created: e.data.created } };
    case 'InvitationAccepted':
      return { status: 'friends', chatId: e.data.chat_id };
    case 'InvitationRejected':
    case 'FriendshipEnded':
      return { status: 'strangers' };
  }
}

export function decide(command: FriendshipCommand, state: Friendship): FriendshipEvent[] {
  switch (command.type) {
    case 'Invite':
      if (command.from === command.to) refuse('invalid', 'cannot_invite_yourself', 'You cannot invite yourself.');
      if (state.status === 'friends') refuse('conflict', 'already_friends', 'You are friends already.');
      if (state.status === 'invited') refuse('conflict', 'already_invited', 'An invitation between you is waiting for an answer.');
      return [event('InvitationSent', { invitation_id: command.invitationId, from: command.from, to: command.to, created: command.now })];
    case 'Accept':
      pendingFor(state, command.invitationId, command.by);
      return [event('InvitationAccepted', { invitation_id: command.invitationId, chat_id: command.chatId })];
    case 'Reject':
      pendingFor(state, command.invitationId, command.by);
      return [event('InvitationRejected', { invitation_id: command.invitationId })];
    case 'EndFriendship':
      if (state.status !== 'friends') refuse('not_found', 'not_friends', 'You are not friends.');
      return [event('FriendshipEnded', { ended_by: command.by })];
  }
}

/** Only the invited user answers, and only while the invitation waits; anything else is "no such invitation". */
function pendingFor(state: Friendship, invitationId: string, by: string): Invitation {
  if (state.status !== 'invited' || state.invitation.id !== invitationId || state.invitation.to !== by) {
    return refuse('not_found', 'invitation_not_found', 'No such invitation waits for your answer.');
  }
  return state.invitation;
}
