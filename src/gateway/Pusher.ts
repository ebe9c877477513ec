import type { EventData } from '../events/catalog.ts';
import type { BareEvent } from '../eventstore/EventStore.ts';
import type { Push } from './Push.ts';

/** What the read models answer for a push; they include the event when it is turned into one. */
export interface PushSources {
  members(chat: string): Promise<string[]>;
  /** the chat as `viewer` lists it */
  listItem(viewer: string, chat: string): Promise<unknown>;
  message(chat: string, id: number): Promise<unknown>;
  invitation(id: string): Promise<unknown>;
}

const MEMBERSHIP = new Set(['ChatCreated', 'ParticipantAdded', 'ParticipantLeft', 'ParticipantRemoved']);
const CHAT_UPDATES = new Set([...MEMBERSHIP, 'ChatRenamed']);

/**
 * Turns events the read models include into the pushes of the contract, for the users who are
 * in the chat at that point. Chat members are kept in memory from the events themselves, after
 * one read per chat, so a new message costs no query.
 */
export class Pusher {
  private readonly members = new Map<string, Set<string>>();

  constructor(private readonly sources: PushSources) {}

  async pushesFor(events: readonly BareEvent[]): Promise<Push[]> {
    const pushes: Push[] = [];
    for (const event of events) pushes.push(...(await this.pushesOf(event)));
    return pushes;
  }

  private async pushesOf({ type, data, stream, position: at }: BareEvent): Promise<Push[]> {
    const position = String(at);
    if (type === 'InvitationSent') {
      const sent = data as EventData<'InvitationSent'>;
      return [{ event: 'invitation', position, payload: { invitation: await this.sources.invitation(sent.invitation_id) }, users: [sent.to, sent.from] }];
    }
    if (!stream.startsWith('chat-')) return [];
    const chat = stream.slice('chat-'.length);
    const members = await this.membersAfter(chat, type, data);
    const users = [...members];
    switch (type) {
      case 'MessagePosted': {
        const posted = data as EventData<'MessagePosted'>;
        const message = { id: posted.message_id, chat, author_id: posted.author_id, content: posted.content, time_stamp: posted.time_stamp, edited_at: null, deleted: false };
        return [{ event: 'new_message', position, payload: { command: 'new_message', chat, message }, users }];
      }
      case 'MessageEdited':
      case 'MessageDeleted': {
        const message = await this.sources.message(chat, (data as { message_id: number }).message_id);
        return [{ event: type === 'MessageEdited' ? 'message_edited' : 'message_deleted', position, payload: { chat, message }, users }];
      }
      case 'MessagesRead':
        // only the reader's unread count changed
        return this.chatUpdated(chat, position, [(data as EventData<'MessagesRead'>).user_id]);
      default:
        return CHAT_UPDATES.has(type) ? this.chatUpdated(chat, position, users) : [];
    }
  }

  /** each member lists the chat in their own way (a private chat bears the other one's name) */
  private async chatUpdated(chat: string, position: string, users: string[]): Promise<Push[]> {
    return Promise.all(
      users.map(async (user) => ({ event: 'chat_updated' as const, position, payload: { chat: await this.sources.listItem(user, chat) }, users: [user] })),
    );
  }

  private async membersAfter(chat: string, type: string, data: unknown): Promise<Set<string>> {
    let members = this.members.get(chat);
    if (!members) {
      // a new chat's members are in its first event; the read model may already be further on (later joiners)
      members = new Set(type === 'ChatCreated' ? [] : await this.sources.members(chat));
      this.members.set(chat, members);
    }
    if (!MEMBERSHIP.has(type)) return members;
    if (type === 'ChatCreated') for (const user of (data as EventData<'ChatCreated'>).participants) members.add(user);
    if (type === 'ParticipantAdded') members.add((data as EventData<'ParticipantAdded'>).user_id);
    if (type === 'ParticipantLeft' || type === 'ParticipantRemoved') members.delete((data as { user_id: string }).user_id);
    return members;
  }
}
