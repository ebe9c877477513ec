import { expect } from 'chai';
import { DuplicateEventIdError, WrongExpectedRevisionError } from '../../src/eventstore/errors.ts';
import { planBatch, type StreamHead, type StoredId } from '../../src/eventstore/postgres/planBatch.ts';
import { newEvent } from '../support/events.ts';

const noHeads = new Map<string, StreamHead | null>();
const noIds = new Map<string, StoredId>();

describe('planBatch: appends sharing one transaction', () => {
  it('checks each append as if it ran alone, in arrival order', () => {
    const plan = planBatch(
      [
        { stream: 's', events: [newEvent('A')], expected: 'no_stream' },
        { stream: 's', events: [newEvent('B')], expected: 'no_stream' },
        { stream: 's', events: [newEvent('C')], expected: 0n },
      ],
      noHeads,
      noIds,
    );
    expect(plan.outcomes[0]).to.deep.equal({ ok: true, result: { nextRevision: 0n, position: 1n }, relative: true });
    expect(plan.outcomes[1]!.ok).to.equal(false);
    expect((plan.outcomes[1] as { error: Error }).error).to.be.instanceOf(WrongExpectedRevisionError);
    expect(plan.outcomes[2]).to.deep.equal({ ok: true, result: { nextRevision: 1n, position: 2n }, relative: true });
    expect(plan.rows.map((r) => [r.type, r.revision, r.offset])).to.deep.equal([
      ['A', 0n, 1n],
      ['C', 1n, 2n],
    ]);
    expect(plan.rows[1]!.metadata.prev_hash).to.equal(plan.rows[0]!.metadata.hash);
    expect(plan.heads.get('s')).to.deep.equal({ revision: 1n, hash: plan.rows[1]!.metadata.hash });
  });

  it('continues a stream from its stored head and hash', () => {
    const plan = planBatch([{ stream: 's', events: [newEvent()], expected: 4n }], new Map([['s', { revision: 4n, hash: 'h4' }]]), noIds);
    expect(plan.rows[0]).to.include({ revision: 5n, offset: 1n });
    expect(plan.rows[0]!.metadata.prev_hash).to.equal('h4');
  });

  it('answers a repeat of an append earlier in the same batch without writing it twice', () => {
    const events = [newEvent(), newEvent()];
    const plan = planBatch(
      [
        { stream: 's', events, expected: 'any' },
        { stream: 's', events, expected: 'any' },
      ],
      noHeads,
      noIds,
    );
    expect(plan.rows).to.have.length(2);
    const [first, second] = plan.outcomes as { result: object }[];
    expect(second!.result).to.deep.equal({ ...first!.result, repeated: true });
  });

  it('answers a repeat of a stored append with its stored, absolute position', () => {
    const event = newEvent();
    const stored = new Map([[event.id, { stream: 's', revision: 3n, position: 42n }]]);
    const plan = planBatch([{ stream: 's', events: [event], expected: 'no_stream' }], noHeads, stored);
    expect(plan.rows).to.have.length(0);
    expect(plan.outcomes[0]).to.deep.equal({ ok: true, result: { nextRevision: 3n, position: 42n, repeated: true }, relative: false });
  });

  it('refuses an event id already used in another stream or in part', () => {
    const used = newEvent();
    const stored = new Map([[used.id, { stream: 'other', revision: 0n, position: 1n }]]);
    const plan = planBatch(
      [
        { stream: 's', events: [used], expected: 'any' },
        { stream: 'other', events: [newEvent(), used], expected: 'any' },
      ],
      noHeads,
      stored,
    );
    expect(plan.rows).to.have.length(0);
    for (const outcome of plan.outcomes) expect((outcome as { error: Error }).error).to.be.instanceOf(DuplicateEventIdError);
  });
});
