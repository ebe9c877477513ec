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
 * the projections themselves (ROLE=api): polled only while someone waits. A read model whose
 * stored version is not this code's is being rebuilt; it is left out, as the runner leaves it out.
 */
export function checkpointProgress(knex: Knex, projections: readonly { name: string; version: number }[]): ProjectionProgress {
  const versions = new Map(projections.map((p) => [p.name, p.version]));
  async function refresh(): Promise<bigint> {
    const rows = await knex('projection_checkpoints')
      .whereIn('name', [...versions.keys()])
      .select<{ name: string; version: number; position: string }[]>('name', 'version', 'position');
    // a projection that has not started yet has reached nothing
    if (rows.length < versions.size) return 0n;
    const current = rows.filter((row) => row.version === versions.get(row.name));
    return (current.length > 0 ? current : rows).reduce((low, row) => (BigInt(row.position) < low ? BigInt(row.position) : low), BigInt(rows[0]!.position));
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
