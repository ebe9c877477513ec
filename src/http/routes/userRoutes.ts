import { z } from 'zod';
import type { FriendshipCommands } from '../../commands/friendship/friendshipCommands.ts';
import type { UserCommands } from '../../commands/user/userCommands.ts';
import { route } from '../route.ts';
import { ChatDetail, ErrorAnswer, Invitation, OwnUser, position, positionOf, ProfileUpdate, UserParams, withPosition } from '../schemas.ts';

const tags = ['users'];
const uuid = z.uuid();

export function userRoutes(users: UserCommands, friendships: FriendshipCommands) {
  return [
    route({
      method: 'get',
      path: '/api/user/currentuser/',
      summary: 'The current user, with email',
      tags,
      responses: { 200: { description: 'the user', schema: OwnUser } },
      async handle({ auth }) {
        return { body: await users.ownUser(auth!.userId) };
      },
    }),

    route({
      method: 'patch',
      path: '/api/user/currentuser/',
      summary: 'Update your username, description or photo',
      tags,
      body: ProfileUpdate,
      responses: { 200: { description: 'the updated user', schema: OwnUser.extend({ position: position.nullable() }) }, 400: { description: 'invalid', schema: ErrorAnswer } },
      async handle({ body, command }) {
        const { client_id: _clientId, ...changes } = body;
        const updated = await users.updateProfile(command.actor, changes, command);
        return { body: { ...updated.user, position: positionOf(updated.position) } };
      },
    }),

    route({
      method: 'post',
      path: '/api/user/friends/',
      summary: 'Invite a user to be your friend',
      tags,
      body: z.object({ user_uuid: uuid, client_id: uuid.optional() }),
      responses: {
        201: { description: 'the invitation', schema: Invitation.extend({ position }) },
        400: { description: 'yourself', schema: ErrorAnswer },
        404: { description: 'no such user', schema: ErrorAnswer },
        409: { description: 'already friends or invited', schema: ErrorAnswer },
      },
      async handle({ body, command }) {
        const sent = await friendships.invite(command.actor, body.user_uuid, command);
        return { status: 201, body: { ...sent.invitation, position: positionOf(sent.position) } };
      },
    }),

    route({
      method: 'delete',
      path: '/api/user/friends/{user}/',
      summary: 'End a friendship (the private chat stays readable)',
      tags,
      params: UserParams,
      responses: { 200: { description: 'ended', schema: z.object({ position }) }, 404: { description: 'not friends', schema: ErrorAnswer } },
      async handle({ params, command }) {
        const ended = await friendships.end(command.actor, params.user, command);
        return { body: { position: positionOf(ended.position) } };
      },
    }),

    route({
      method: 'post',
      path: '/api/user/invitations/',
      summary: 'Answer an invitation; accepting opens the private chat of the two',
      tags,
      body: z.object({ invitation_id: uuid, decision: z.boolean(), client_id: uuid.optional() }),
      responses: {
        201: { description: 'accepted: the new private chat', schema: withPosition({ chat: ChatDetail }) },
        200: { description: 'rejected', schema: z.object({ position }) },
        404: { description: 'no such invitation for you', schema: ErrorAnswer },
      },
      async handle({ body, command }) {
        const answered = await friendships.answer(body.invitation_id, command.actor, body.decision, command);
        return answered.chat
          ? { status: 201, body: { chat: answered.chat, position: positionOf(answered.position) } }
          : { body: { position: positionOf(answered.position) } };
      },
    }),
  ];
}
