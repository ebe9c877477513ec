import type { EventStore } from '../eventstore/EventStore.ts';
import { AggregateRepository } from './AggregateRepository.ts';
import * as chat from './chat/chatDecider.ts';
import * as friendship from './friendship/friendshipDecider.ts';
import * as invitationIndex from './friendship/invitationIndex.ts';
import * as emailReservation from './user/emailReservation.ts';
import * as user from './user/userDecider.ts';

export function createRepositories(store: EventStore) {
  return {
    store,
    users: new AggregateRepository<user.User, user.UserEvent>(store, user),
    emails: new AggregateRepository<emailReservation.EmailReservation, emailReservation.EmailReservationEvent>(store, emailReservation, 1_000),
    friendships: new AggregateRepository<friendship.Friendship, friendship.FriendshipEvent>(store, friendship),
    invitations: new AggregateRepository<invitationIndex.InvitationIndex, invitationIndex.InvitationIndexEvent>(store, invitationIndex, 1_000),
    chats: new AggregateRepository<chat.Chat, chat.ChatEvent>(store, chat, 5_000),
  };
}

export type Repositories = ReturnType<typeof createRepositories>;
