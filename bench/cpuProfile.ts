import { writeFile } from 'node:fs/promises';
import { Session } from 'node:inspector/promises';
import path from 'node:path';

/**
 * BENCH_CPU_PROFILE=<dir>: `work` runs under V8's sampling profiler (this thread only: the
 * backend's, not a load generator's worker) and its profile is written to <dir>/<name>.cpuprofile,
 * for Chrome DevTools or speedscope. Unset: `work` just runs.
 */
export async function profiled<T>(name: string, work: () => Promise<T>): Promise<T> {
  const dir = process.env.BENCH_CPU_PROFILE;
  if (!dir) return work();
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.start');
  try {
    return await work();
  } finally {
    const { profile } = await session.post('Profiler.stop');
    const file = path.join(dir, `${name.replace(/[^\w.-]+/g, '-')}.cpuprofile`);
    await writeFile(file, JSON.stringify(profile));
    session.disconnect();
  }
}
