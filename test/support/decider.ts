import { expect } from 'chai';
import { DomainError, type RefusalKind } from '../../src/commands/DomainError.ts';

interface Decider<S, E, C> {
  initialState(): S;
  evolve(state: S, event: E): S;
  decide(command: C, state: S): E[];
}

/** given(events).when(command).then(events) — a decider test without a database. */
export function specify<S, E, C>(decider: Decider<S, E, C>) {
  return (...history: E[]) => ({
    when(command: C) {
      const state = history.reduce(decider.evolve, decider.initialState());
      const run = () => decider.decide(command, state);
      return {
        then(expected: E[]) {
          expect(run()).to.deep.equal(expected);
        },
        thenRefuses(kind: RefusalKind, code: string) {
          let error: unknown;
          try {
            run();
          } catch (thrown) {
            error = thrown;
          }
          expect(error, 'the command should be refused').to.be.instanceOf(DomainError);
          expect(error).to.include({ kind, code });
        },
        /** the state after the events the command decides */
        state(): S {
          return run().reduce(decider.evolve, state);
        },
      };
    },
  });
}
