import { expect } from 'chai';
import { MessageLedger } from '../../src/commands/chat/MessageLedger.ts';

interface Model {
  authors: number[];
  times: number[];
  deleted: boolean[];
}

function expectSame(ledger: MessageLedger, model: Model, label: string) {
  expect(ledger.size, label).to.equal(model.authors.length);
  for (let id = 1; id <= ledger.size; id++) {
    expect([ledger.authorIndex(id), ledger.timeStamp(id), ledger.isDeleted(id)], `${label}, message ${id}`).to.deep.equal([
      model.authors[id - 1],
      model.times[id - 1],
      model.deleted[id - 1],
    ]);
  }
}

describe('MessageLedger', () => {
  it('keeps every state it ever answered valid while states branch, post past chunk ends and delete', () => {
    // a small seeded generator, so a failure repeats
    let seed = 42;
    const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    type Op = { post: [author: number, time: number] } | { delete: number };
    /** each state with the state it came from and what was done to it: the model is replayed from the chain */
    const states: { ledger: MessageLedger; parent: number; op: Op | null }[] = [{ ledger: MessageLedger.empty(), parent: -1, op: null }];
    const modelOf = (i: number): Model => {
      const ops: Op[] = [];
      for (let at = i; at > 0; at = states[at]!.parent) ops.push(states[at]!.op!);
      const model: Model = { authors: [], times: [], deleted: [] };
      for (const op of ops.reverse()) {
        if ('delete' in op) model.deleted[op.delete - 1] = true;
        else model.authors.push(op.post[0]), model.times.push(op.post[1]), model.deleted.push(false);
      }
      return model;
    };
    let tip = 0;
    for (let step = 0; step < 6000; step++) {
      // mostly the chat's current state; sometimes an older one, as a refused or retried command does
      const onTip = random() < 0.8;
      const from = onTip ? tip : Math.floor(random() * states.length);
      const { ledger } = states[from]!;
      if (ledger.size > 0 && random() < 0.1) {
        const id = 1 + Math.floor(random() * ledger.size);
        states.push({ ledger: ledger.markDeleted(id), parent: from, op: { delete: id } });
      } else {
        const post: [number, number] = [Math.floor(random() * 5000), 1_700_000_000_000_000 + step * 7 + random()];
        states.push({ ledger: ledger.add(...post), parent: from, op: { post } });
      }
      if (onTip) tip = states.length - 1;
    }
    expect(states[tip]!.ledger.size).to.be.greaterThan(2048, 'the chat reaches past two chunks');
    for (const [i, { ledger }] of states.entries()) if (i % 97 === 0 || i === tip) expectSame(ledger, modelOf(i), `state ${i}`);
  });

  it('lets two states of one size each post their own next message', () => {
    const base = MessageLedger.empty().add(1, 10).add(2, 20);
    const a = base.add(3, 30);
    const b = base.add(4, 40);
    expectSame(a, { authors: [1, 2, 3], times: [10, 20, 30], deleted: [false, false, false] }, 'first branch');
    expectSame(b, { authors: [1, 2, 4], times: [10, 20, 40], deleted: [false, false, false] }, 'second branch');
    expectSame(base, { authors: [1, 2], times: [10, 20], deleted: [false, false] }, 'their base');
  });

  it('answers nothing for ids outside the chat, and leaves a deletion of one to that state', () => {
    const ledger = MessageLedger.empty().add(0, 1);
    for (const id of [0, 2, -1, 1.5, Number.NaN]) expect(ledger.has(id), String(id)).to.equal(false);
    expect(ledger.markDeleted(2)).to.equal(ledger);
    const deleted = ledger.markDeleted(1);
    expect([deleted.isDeleted(1), ledger.isDeleted(1), deleted.authorIndex(1)]).to.deep.equal([true, false, 0]);
  });
});
