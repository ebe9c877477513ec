import type { Knex } from 'knex';

export interface ProjectionProgress {
  /** the position every read model has reached, as of now */
  position(): Promise<bigint>;
  /** true once every read model has reached `position`; false after `timeoutMs` */
  reached(position: bigint, timeoutMs: number): Promise<boolean>;
}

const POLL_MS = 10;

/**
 * Progress read from the checkpoints table, for processes that serve queries without running
 * the projections themselves (ROLE=api): polled only while someone waits.
 */
export function checkpointProgress(knex: Knex, names: readonly string[]): ProjectionProgress {
  async function refresh(): Promise<bigint> {
    const [row] = await knex('projection_checkpoints')
      .whereIn('name', [...names])
      .select<{ low: string | null; count: string }[]>(knex.raw('min(position) AS low, count(*) AS count'));
    // a projection that has not started yet has reached nothing
    return row && Number(row.count) === names.length ? BigInt(row.low ?? 0) : 0n;
  }
  return {
    position: refresh,
    async reached(position, timeoutMs) {
      const deadline = Date.now() + timeoutMs;
      while ((await refresh()) < position) {
        if (Date.now() >= deadline) return false;
        await new Promise((resolve) => setTimeout(resolve, POLL_MS));
      }
      return true;
    },
  };
}
