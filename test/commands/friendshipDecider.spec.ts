import * as friendship from '../../src/commands/friendship/friendshipDecider.ts';
import { event } from '../../src/events/catalog.ts';
import { specify } from '../support/decider.ts';

const given = specify(friendship);
const [ann, bob, cid] = ['a0000000-0000-4000-8000-000000000001', 'b0000000-0000-4000-8000-000000000002', 'c0000000-0000-4000-8000-000000000003'];
const inv = '1e000000-0000-4000-8000-000000000001';
const chatId = 'ce000000-0000-4000-8000-00000000000c';
const now = '2026-11-25T10:00:00.000000Z';
const sent = event('InvitationSent', { invitation_id: inv, from: ann, to: bob, created: now });
const accepted = event('InvitationAccepted', { invitation_id: inv, chat_id: chatId });

describe('friendship decider', () => {
  it('invites a stranger', () => {
    given().when({ type: 'Invite', invitationId: inv, from: ann, to: bob, now }).then([sent]);
  });

  it('refuses inviting yourself, friends, or while an invitation waits either way', () => {
    given().when({ type: 'Invite', invitationId: inv, from: ann, to: ann, now }).thenRefuses('invalid', 'cannot_invite_yourself');
    given(sent, accepted).when({ type: 'Invite', invitationId: inv, from: bob, to: ann, now }).thenRefuses('conflict', 'already_friends');
    given(sent).when({ type: 'Invite', invitationId: inv, from: bob, to: ann, now }).thenRefuses('conflict', 'already_invited');
  });

  it('lets only the invited user accept, once', () => {
    given(sent).when({ type: 'Accept', invitationId: inv, by: bob, chatId }).then([accepted]);
    given(sent).when({ type: 'Accept', invitationId: inv, by: ann, chatId }).thenRefuses('not_found', 'invitation_not_found');
    given(sent).when({ type: 'Accept', invitationId: inv, by: cid, chatId }).thenRefuses('not_found', 'invitation_not_found');
    given(sent, accepted).when({ type: 'Accept', invitationId: inv, by: bob, chatId }).thenRefuses('not_found', 'invitation_not_found');
  });

  it('lets a rejected pair invite again, and friends end their friendship', () => {
    given(sent, event('InvitationRejected', { invitation_id: inv }))
      .when({ type: 'Invite', invitationId: inv, from: bob, to: ann, now })
      .then([event('InvitationSent', { invitation_id: inv, from: bob, to: ann, created: now })]);
    given(sent, accepted).when({ type: 'EndFriendship', by: bob }).then([event('FriendshipEnded', { ended_by: bob })]);
    given(sent).when({ type: 'EndFriendship', by: bob }).thenRefuses('not_found', 'not_friends');
  });
});
