import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** Configuration a CLI run must not inherit from the test run: each test names what it gives. */
const APP_CONFIG = ['DATABASE_URL', 'EVENTSTORE_URL', 'REDIS_URL', 'MEMCACHED_SERVERS', 'LOG_LEVEL', 'EMBEDDED_PG_DIR', 'EMBEDDED_PG_PORT', 'ROLE', 'PORT', 'HOST'];

export interface CliRun {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `node --import tsx src/cli/main.ts ...args` as its own process, as `npm run cli` does, and collects what it said. */
export function runCli(args: string[], env: Record<string, string>, timeoutMs = 60_000): Promise<CliRun> {
  const base: NodeJS.ProcessEnv = { ...process.env };
  for (const key of APP_CONFIG) delete base[key];
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], { cwd: ROOT, env: { ...base, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`cli ${args.join(' ')} did not exit within ${timeoutMs} ms\nstdout: ${stdout}\nstderr: ${stderr}`));
    }, timeoutMs);
    child.once('error', reject);
    child.once('close', (status) => {
      clearTimeout(timer);
      resolve({ status, stdout, stderr });
    });
  });
}

/** A line of a stack trace, which a CLI's answer to a mistake must never show. */
export const STACK_LINE = /^\s+at .+[(:]\d+/m;
