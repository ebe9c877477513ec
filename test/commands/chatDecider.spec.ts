import { expect } from 'chai';
import * as chat from '../../src/commands/chat/chatDecider.ts';
import { event } from '../../src/events/catalog.ts';
import { specify } from '../support/decider.ts';

const given = specify(chat);
const [ann, bob, cid, dan] = ['a0000000-0000-4000-8000-000000000001', 'b0000000-0000-4000-8000-000000000002', 'c0000000-0000-4000-8000-000000000003', 'd0000000-0000-4000-8000-000000000004'];
const chatId = 'ce000000-0000-4000-8000-00000000000c';
const t0 = '2026-11-25T10:00:00.000000Z';

const group = event('ChatCreated', { chat_id: chatId, name: 'g', is_group_chat: true, participants: [ann], admin: ann, created: t0 });
const privateChat = event('ChatCreated', { chat_id: chatId, name: '', is_group_chat: false, participants: [ann, bob], admin: null, created: t0 });
const joined = (user: string) => event('ParticipantAdded', { user_id: user, added_by: ann });
const posted = (id: number, author: string, time: string) => event('MessagePosted', { message_id: id, author_id: author, content: `m${id}`, time_stamp: time });

describe('chat decider', () => {
  it('creates a group chat with its creator as admin and only participant', () => {
    given()
      .when({ type: 'CreateGroupChat', chatId, name: 'g', creator: ann, now: t0 })
      .then([group]);
  });

  it('refuses to create a chat twice', () => {
    given(group).when({ type: 'CreateGroupChat', chatId, name: 'g', creator: ann, now: t0 }).thenRefuses('conflict', 'chat_exists');
  });

  describe('participants', () => {
    it('lets a participant add a friend, once', () => {
      given(group).when({ type: 'AddParticipant', by: ann, user: bob, byIsFriendOfUser: true }).then([joined(bob)]);
      given(group, joined(bob)).when({ type: 'AddParticipant', by: ann, user: bob, byIsFriendOfUser: true }).thenRefuses('conflict', 'already_participant');
    });

    it('refuses to add someone who is not your friend', () => {
      given(group).when({ type: 'AddParticipant', by: ann, user: bob, byIsFriendOfUser: false }).thenRefuses('invalid', 'not_a_friend');
    });

    it('refuses additions by non-participants, and to private chats (no third participant)', () => {
      given(group).when({ type: 'AddParticipant', by: cid, user: bob, byIsFriendOfUser: true }).thenRefuses('forbidden', 'not_a_participant');
      given(privateChat).when({ type: 'AddParticipant', by: ann, user: cid, byIsFriendOfUser: true }).thenRefuses('not_acceptable', 'not_a_group_chat');
    });

    it('lets the admin remove a participant, and no one else', () => {
      given(group, joined(bob), joined(cid))
        .when({ type: 'RemoveParticipant', by: ann, user: bob })
        .then([event('ParticipantRemoved', { user_id: bob, removed_by: ann })]);
      given(group, joined(bob), joined(cid)).when({ type: 'RemoveParticipant', by: bob, user: cid }).thenRefuses('forbidden', 'not_the_admin');
    });

    it('hands a group to the longest-standing participant when its admin leaves', () => {
      given(group, joined(bob), joined(cid))
        .when({ type: 'RemoveParticipant', by: ann, user: ann })
        .then([event('ParticipantLeft', { user_id: ann, new_admin: bob })]);
      const state = given(group, joined(bob)).when({ type: 'RemoveParticipant', by: bob, user: bob }).state() as chat.OpenChat;
      expect(state.participants).to.deep.equal([ann]);
      expect(state.admin).to.equal(ann);
    });
  });

  describe('messages', () => {
    it('numbers messages from 1 and gives each a later time stamp than the last, even when the clock steps back', () => {
      given(group).when({ type: 'PostMessage', by: ann, content: 'hi', now: t0 }).then([event('MessagePosted', { message_id: 1, author_id: ann, content: 'hi', time_stamp: t0 })]);
      given(group, posted(1, ann, '2026-11-25T10:00:05.000000Z'))
        .when({ type: 'PostMessage', by: ann, content: 'again', now: '2026-11-25T10:00:01.000000Z' })
        .then([event('MessagePosted', { message_id: 2, author_id: ann, content: 'again', time_stamp: '2026-11-25T10:00:05.000001Z' })]);
    });

    it('refuses posts by non-participants and by removed participants', () => {
      given(group).when({ type: 'PostMessage', by: bob, content: 'x', now: t0 }).thenRefuses('forbidden', 'not_a_participant');
      given(group, joined(bob), event('ParticipantRemoved', { user_id: bob, removed_by: ann }))
        .when({ type: 'PostMessage', by: bob, content: 'x', now: t0 })
        .thenRefuses('forbidden', 'not_a_participant');
    });

    it('lets only the author edit a message, and no deleted or unknown one', () => {
      const history = [group, joined(bob), posted(1, bob, t0)];
      given(...history)
        .when({ type: 'EditMessage', by: bob, messageId: 1, content: 'fixed', now: t0 })
        .then([event('MessageEdited', { message_id: 1, content: 'fixed', edited_at: t0 })]);
      given(...history).when({ type: 'EditMessage', by: ann, messageId: 1, content: 'x', now: t0 }).thenRefuses('forbidden', 'not_the_author');
      given(...history).when({ type: 'EditMessage', by: bob, messageId: 2, content: 'x', now: t0 }).thenRefuses('not_found', 'message_not_found');
      given(...history, event('MessageDeleted', { message_id: 1, deleted_by: bob, deleted_at: t0 }))
        .when({ type: 'EditMessage', by: bob, messageId: 1, content: 'x', now: t0 })
        .thenRefuses('not_found', 'message_not_found');
    });

    it('lets the author or the group admin delete, and nobody else', () => {
      const history = [group, joined(bob), joined(cid), posted(1, bob, t0)];
      given(...history).when({ type: 'DeleteMessage', by: ann, messageId: 1, now: t0 }).then([event('MessageDeleted', { message_id: 1, deleted_by: ann, deleted_at: t0 })]);
      given(...history).when({ type: 'DeleteMessage', by: cid, messageId: 1, now: t0 }).thenRefuses('forbidden', 'not_the_author');
      given(privateChat, posted(1, bob, t0)).when({ type: 'DeleteMessage', by: ann, messageId: 1, now: t0 }).thenRefuses('forbidden', 'not_the_author');
    });

    it('marks read only forwards, and counts your own messages as read', () => {
      const history = [group, joined(bob), posted(1, ann, t0), posted(2, ann, '2026-11-25T10:00:01.000000Z')];
      given(...history).when({ type: 'MarkRead', by: bob, messageId: 2 }).then([event('MessagesRead', { user_id: bob, message_id: 2 })]);
      given(...history, event('MessagesRead', { user_id: bob, message_id: 2 })).when({ type: 'MarkRead', by: bob, messageId: 1 }).then([]);
      given(...history).when({ type: 'MarkRead', by: ann, messageId: 2 }).then([]);
      given(...history).when({ type: 'MarkRead', by: bob, messageId: 3 }).thenRefuses('not_found', 'message_not_found');
    });

    it('keeps what the rules need of a long history in compact chunks that older states still read', () => {
      let state = [group, joined(bob)].reduce(chat.evolve, chat.initialState()) as chat.OpenChat;
      for (let id = 1; id <= 5000; id++) state = chat.evolve(state, posted(id, id % 2 ? ann : bob, `2026-11-25T10:00:00.${String(id).padStart(6, '0')}Z`)) as chat.OpenChat;
      const before = state;
      const after = chat.evolve(state, event('MessageDeleted', { message_id: 1234, deleted_by: ann, deleted_at: t0 })) as chat.OpenChat;
      expect(after.messages.isDeleted(1234)).to.equal(true);
      expect(before.messages.isDeleted(1234)).to.equal(false);
      expect(after.members[after.messages.authorIndex(4999)]).to.equal(ann);
      expect(after.members[after.messages.authorIndex(5000)]).to.equal(bob);
      expect(after.messages.size).to.equal(5000);
    });
  });

  it('lets only the group admin rename, and never a private chat', () => {
    given(group).when({ type: 'RenameChat', by: ann, name: 'new' }).then([event('ChatRenamed', { name: 'new', renamed_by: ann })]);
    given(group, joined(dan)).when({ type: 'RenameChat', by: dan, name: 'new' }).thenRefuses('forbidden', 'not_the_admin');
    given(privateChat).when({ type: 'RenameChat', by: ann, name: 'x' }).thenRefuses('not_acceptable', 'not_a_group_chat');
    given(group).when({ type: 'RenameChat', by: ann, name: 'g' }).then([]);
  });
});
