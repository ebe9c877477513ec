import { expect } from 'chai';
import { randomUUID } from 'node:crypto';
import { replayChat } from '../../src/audit/replayChat.ts';
import { ChainTails } from '../../src/audit/verifyLog.ts';
import { parseIsoMicros } from '../../src/events/time.ts';
import type { RecordedEvent } from '../../src/eventstore/EventStore.ts';
import { seal } from '../../src/eventstore/hashChain.ts';

const ann = randomUUID();
const bob = randomUUID();
const chat = randomUUID();

/** a chat stream as the store would hand it back, one event a second from `start` */
function stream(events: { type: string; data: unknown; actor?: string }[], start = Date.UTC(2026, 10, 25, 12)): RecordedEvent[] {
  const sealed = seal(
    `chat-${chat}`,
    null,
    events.map((e, i) => ({
      id: randomUUID(),
      type: e.type,
      data: e.data,
      metadata: { actor: e.actor ?? ann, correlation_id: 'c', causation_id: 'c', occurred_at: new Date(start + i * 1000).toISOString(), schema: 1 },
    })),
  );
  return sealed.map(({ body: _body, ...e }, i) => ({ ...e, position: BigInt(100 + i), recordedAt: new Date(start + i * 1000).toISOString().replace('Z', '000Z') }));
}

const at = (iso: string) => parseIsoMicros(iso)!;

describe('audit: the pure parts', () => {
  const events = stream([
    { type: 'ChatCreated', data: { chat_id: chat, name: 'g', is_group_chat: true, participants: [ann], admin: ann, created: '2026-11-25T12:00:00.000000Z' } },
    { type: 'ParticipantAdded', data: { user_id: bob, added_by: ann } },
    { type: 'MessagePosted', data: { message_id: 1, author_id: bob, content: 'hi', time_stamp: '2026-11-25T12:00:02.000000Z' }, actor: bob },
    { type: 'MessageEdited', data: { message_id: 1, content: 'hello', edited_at: '2026-11-25T12:00:03.000000Z' }, actor: bob },
    { type: 'ParticipantLeft', data: { user_id: bob, new_admin: null }, actor: bob },
    { type: 'MessageDeleted', data: { message_id: 1, deleted_by: ann, deleted_at: '2026-11-25T12:00:05.000000Z' } },
  ]);

  it('replayChat stops at the first event recorded after the moment: a prefix of the stream', () => {
    const early = replayChat(chat, events, at('2026-11-25T12:00:03.000000Z'))!;
    expect(early.revision).to.equal('3');
    expect(early.messages.map((m) => [m.content, m.edited_at, m.deleted])).to.deep.equal([['hello', '2026-11-25T12:00:03.000000Z', false]]);
    expect(early.participants.map((p) => p.user_id)).to.deep.equal([ann, bob]);
    // the moment itself is included, a microsecond before it is not
    expect(replayChat(chat, events, at('2026-11-25T12:00:02.999999Z'))!.revision).to.equal('2');
    expect(replayChat(chat, events, at('2026-11-25T11:59:59.999999Z'))).to.equal(null);
  });

  it('replayChat keeps the history the state forgets', () => {
    const now = replayChat(chat, events, at('2030-01-01T00:00:00Z'))!;
    expect(now.participants.map((p) => p.user_id)).to.deep.equal([ann]);
    expect(now.memberships[1]).to.deep.include({ user_id: bob, added_by: ann, ended: { how: 'left', by: bob, at: events[4]!.metadata.occurred_at } });
    expect(now.messages[0]).to.deep.include({ content: '', deleted: true, deleted_by: ann, edited_at: '2026-11-25T12:00:03.000000Z' });
    expect(now.messages[0]!.history.map((h) => [h.change, h.content])).to.deep.equal([
      ['posted', 'hi'],
      ['edited', 'hello'],
      ['deleted', null],
    ]);
    expect(now.activity.map((a) => a.summary)[4]).to.equal(`${bob} left`);
  });

  it('ChainTails checks each event against its stream predecessor and names the first break', () => {
    const tails = new ChainTails();
    const forged = events.map((e) => (e.revision === 3n ? { ...e, data: { ...(e.data as object), content: 'forged' } } : e));
    for (const e of forged) tails.check(e);
    expect(tails.breaks).to.deep.equal([{ stream: `chat-${chat}`, revision: 3n, position: 103n, reason: 'hash does not match the event content' }]);
    expect([tails.events, tails.streams]).to.deep.equal([6, 1]);

    const intact = new ChainTails();
    for (const e of events) intact.check(e);
    expect(intact.breaks).to.deep.equal([]);
    // a missing event is a break too
    const gap = new ChainTails();
    for (const e of events.filter((e) => e.revision !== 2n)) gap.check(e);
    expect(gap.breaks[0]).to.include({ revision: 3n, reason: 'expected revision 2' });
  });
});
