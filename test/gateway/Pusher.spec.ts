import { expect } from 'chai';
import { randomUUID } from 'node:crypto';
import type { EventData, EventType } from '../../src/events/catalog.ts';
import type { SealedMetadata } from '../../src/events/metadata.ts';
import type { RecordedEvent } from '../../src/eventstore/EventStore.ts';
import { Pusher, type PushSources } from '../../src/gateway/Pusher.ts';

describe('Pusher', () => {
  const [ann, bob] = [randomUUID(), randomUUID()];
  const chat = randomUUID();
  let position = 100n;
  const recorded = <T extends EventType>(type: T, data: EventData<T>): RecordedEvent => {
    position += 1n;
    return { id: randomUUID(), type, data, metadata: {} as SealedMetadata, stream: `chat-${chat}`, revision: position, position, recordedAt: '2026-11-25T12:00:00.000000Z' };
  };
  const posted = (n: number) => recorded('MessagePosted', { message_id: n, author_id: ann, content: `m${n}`, time_stamp: `2026-11-25T12:00:0${n}.000000Z` });

  it("addresses a new chat's pushes to its members at each event, even when the read model already knows later joiners", async () => {
    // the read models run ahead of the pushes: they already list bob, added after the first message
    const sources: PushSources = {
      members: async () => [ann, bob],
      listItem: async (viewer) => ({ viewer }),
      message: async () => null,
      invitation: async () => null,
    };
    const pushes = await new Pusher(sources).pushesFor([
      recorded('ChatCreated', { chat_id: chat, name: 'g', is_group_chat: true, participants: [ann], admin: ann, created: '2026-11-25T12:00:00.000000Z' }),
      posted(1),
      recorded('ParticipantAdded', { user_id: bob, added_by: ann }),
      posted(2),
    ]);
    const messages = pushes.filter((p) => p.event === 'new_message');
    expect(messages.map((p) => p.users)).to.deep.equal([[ann], [ann, bob]]);
    // each member hears the chat's changes in their own list item
    expect(pushes.filter((p) => p.event === 'chat_updated').map((p) => p.users)).to.deep.equal([[ann], [ann], [bob]]);
  });
});
