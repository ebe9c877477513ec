import { readFileSync } from 'node:fs';
import { adminQuery } from '../test/support/services.ts';

/** The benchmark harness: each bench returns rows; run.ts prints them as a table or as JSON. */
export interface BenchRow {
  bench: string;
  case: string;
  value: number;
  unit: string;
  note?: string;
}

export interface BenchContext {
  /** a fresh, migrated database for this bench */
  freshDatabase(): Promise<string>;
  log(line: string): void;
}

export type Bench = (context: BenchContext) => Promise<BenchRow[]>;

export function percentile(sortedMs: number[], p: number): number {
  if (sortedMs.length === 0) return Number.NaN;
  return sortedMs[Math.min(sortedMs.length - 1, Math.floor((p / 100) * sortedMs.length))]!;
}

/** Runs `op` from `workers` concurrent loops for about `seconds`, timing each call. */
export async function drive(workers: number, seconds: number, op: (worker: number, i: number) => Promise<unknown>) {
  const latencies: number[] = [];
  const deadline = performance.now() + seconds * 1000;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: workers }, async (_, worker) => {
      for (let i = 0; performance.now() < deadline; i++) {
        const t = performance.now();
        await op(worker, i);
        latencies.push(performance.now() - t);
      }
    }),
  );
  const elapsed = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  return { count: latencies.length, perSecond: latencies.length / elapsed, p50: percentile(latencies, 50), p99: percentile(latencies, 99) };
}

export function formatTable(rows: BenchRow[]): string {
  const cells = rows.map((r) => [r.bench, r.case, formatNumber(r.value), r.unit, r.note ?? '']);
  const header = ['bench', 'case', 'value', 'unit', 'note'];
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: string[]) => c.map((v, i) => (i === 2 ? v.padStart(widths[i]!) : v.padEnd(widths[i]!))).join(' | ').trimEnd();
  return [line(header), widths.map((w) => '-'.repeat(w)).join('-|-'), ...cells.map(line)].join('\n');
}

function formatNumber(value: number): string {
  if (!Number.isFinite(value)) return String(value);
  return value >= 100 ? Math.round(value).toLocaleString('en-US') : value.toFixed(2);
}

/**
 * Runs `work` and answers how long this thread's event loop was busy meanwhile, in ms: the
 * backend's own time when it runs in this thread and its load generator in a worker. Steadier
 * than latency on a shared machine, so a change's cost per request shows even when the tail is noise.
 */
export async function measureBusy<T>(work: () => Promise<T>): Promise<{ result: T; busyMs: number }> {
  const start = performance.eventLoopUtilization();
  const result = await work();
  return { result, busyMs: performance.eventLoopUtilization(start).active };
}

/** CPU time (ms) each Postgres backend serving `url`'s database has used so far, by pid; empty where /proc is not. */
async function postgresCpu(url: string): Promise<Map<number, number>> {
  const { rows } = await adminQuery(url, 'SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()');
  const used = new Map<number, number>();
  for (const { pid } of rows as { pid: number }[]) {
    try {
      // fields after the command's closing parenthesis: utime and stime are the 12th and 13th, in clock ticks (10 ms)
      const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
      used.set(pid, (Number(fields[11]) + Number(fields[12])) * 10);
    } catch {
      // not on this machine's /proc, or gone
    }
  }
  return used;
}

/** Starts counting the CPU time of `url`'s Postgres backends; `stop()` answers the ms they used since (0 where /proc is not). */
export async function measurePostgresCpu(url: string): Promise<{ stop(): Promise<number> }> {
  const before = await postgresCpu(url);
  return {
    async stop() {
      let used = 0;
      for (const [pid, ms] of await postgresCpu(url)) used += ms - (before.get(pid) ?? 0);
      return used;
    },
  };
}
