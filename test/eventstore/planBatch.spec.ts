import { expect } from 'chai';
import { DuplicateEventIdError, WrongExpectedRevisionError } from '../../src/eventstore/errors.ts';
import { planBatch, type StreamHead, type StoredId } from '../../src/eventstore/postgres/planBatch.ts';
import { newEvent } from '../support/events.ts';

const noHeads = new Map<string, StreamHead>();
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
      10n,
    );
    expect(plan.outcomes[0]).to.deep.equal({ ok: true, result: { nextRevision: 0n, position: 11n } });
    expect(plan.outcomes[1]!.ok).to.equal(false);
    expect((plan.outcomes[1] as { error: Error }).error).to.be.instanceOf(WrongExpectedRevisionError);
    expect(plan.outcomes[2]).to.deep.equal({ ok: true, result: { nextRevision: 1n, position: 12n } });
    expect(plan.rows.map((r) => [r.type, r.revision, r.position])).to.deep.equal([
      ['A', 0n, 11n],
      ['C', 1n, 12n],
    ]);
    expect(plan.rows[1]!.metadata.prev_hash).to.equal(plan.rows[0]!.metadata.hash);
    expect(plan.headPosition).to.equal(12n);
  });

  it('continues a stream from its stored head and hash', () => {
    const plan = planBatch([{ stream: 's', events: [newEvent()], expected: 4n }], new Map([['s', { revision: 4n, hash: 'h4' }]]), noIds, 99n);
    expect(plan.rows[0]).to.include({ revision: 5n, position: 100n });
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
      0n,
    );
    expect(plan.rows).to.have.length(2);
    expect(plan.outcomes[1]).to.deep.equal(plan.outcomes[0]);
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
      1n,
    );
    expect(plan.rows).to.have.length(0);
    for (const outcome of plan.outcomes) expect((outcome as { error: Error }).error).to.be.instanceOf(DuplicateEventIdError);
  });
});
