/**
 * A small seeded random generator (mulberry32), numbers in [0, 1): the same sequence on every run,
 * so generated histories and datasets repeat, and a failure names a case that can be run again.
 */
export function seeded(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
