import { readFileSync } from 'node:fs';

/**
 * The share of this machine's CPU time the hypervisor gave to other guests (Linux's "steal" in
 * /proc/stat). On a shared VM it changes from one hour to the next and moves every figure with it,
 * so each bench reports it beside its rows: compare figures across runs only at similar steal.
 */
interface CpuTimes {
  steal: number;
  total: number;
}

function readCpuTimes(): CpuTimes | null {
  try {
    // cpu  user nice system idle iowait irq softirq steal guest guest_nice (guest time is within user)
    const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1, 9).map(Number);
    if (fields.length < 8 || fields.some((n) => !Number.isFinite(n))) return null;
    return { steal: fields[7]!, total: fields.reduce((a, b) => a + b, 0) };
  } catch {
    return null;
  }
}

/** Starts a measurement; `stop()` answers the stolen share in percent, or null where /proc/stat is not there. */
export function measureSteal(): { stop(): number | null } {
  const start = readCpuTimes();
  return {
    stop() {
      const end = readCpuTimes();
      if (!start || !end || end.total <= start.total) return null;
      return (100 * (end.steal - start.steal)) / (end.total - start.total);
    },
  };
}
