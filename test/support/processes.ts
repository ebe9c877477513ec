import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { createServer } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { pause } from './sockets.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** The variables src/config.ts reads: a node gets only the ones its test names, none inherited. */
const APP_CONFIG = [
  'DATABASE_URL',
  'EVENTSTORE_URL',
  'REDIS_URL',
  'MEMCACHED_SERVERS',
  'PORT',
  'HOST',
  'ROLE',
  'LOG_LEVEL',
  'EMBEDDED_PG_DIR',
  'EMBEDDED_PG_PORT',
  'GOOGLE_CLIENT_ID',
  'GOOGLE_CLIENT_SECRET',
  'GOOGLE_REDIRECT_URL',
  'GOOGLE_AUTHORIZATION_URL',
  'GOOGLE_TOKEN_URL',
  'GOOGLE_USERINFO_URL',
  'OAUTH_STATE_SECRET',
];

const KEPT_LINES = 400;

/** A backend started as its own `node --import tsx src/main.ts` process. */
export interface NodeProcess {
  name: string;
  url: string;
  child: ChildProcess;
  /** the process's last lines of stdout and stderr, in arrival order */
  output: string[];
  /** null while it runs */
  exit: { code: number | null; signal: NodeJS.Signals | null } | null;
  /** SIGTERM, then SIGKILL if it has not exited after `graceMs` */
  stop(graceMs?: number): Promise<void>;
  /** name, state and last output lines, for a failure report */
  describe(lines?: number): string;
}

/** A port that was free a moment ago on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/**
 * Spawns the backend with exactly `env` (plus the non-config environment: PATH, HOME...), waits
 * until GET `readyPath` answers 200 (rejecting, with its output, if it exits or takes longer than
 * `timeoutMs`).
 */
export async function startNode(name: string, env: Record<string, string>, { readyPath = '/readyz', timeoutMs = 90_000 } = {}): Promise<NodeProcess> {
  const port = env.PORT ?? String(await freePort());
  const base: NodeJS.ProcessEnv = { ...process.env };
  for (const key of APP_CONFIG) delete base[key];
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    cwd: ROOT,
    env: { ...base, HOST: '127.0.0.1', LOG_LEVEL: 'warn', ...env, PORT: port },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output: string[] = [];
  const keep = (stream: string) => (chunk: Buffer) => {
    for (const line of chunk.toString('utf8').split('\n')) {
      if (!line.trim()) continue;
      output.push(`[${new Date().toISOString().slice(11, 23)} ${stream}] ${line}`);
      if (output.length > KEPT_LINES) output.shift();
    }
  };
  child.stdout!.on('data', keep('out'));
  child.stderr!.on('data', keep('err'));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const node: NodeProcess = {
    name,
    url: `http://127.0.0.1:${port}`,
    child,
    output,
    exit: null,
    async stop(graceMs = 10_000) {
      if (node.exit) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => {
        if (!node.exit) child.kill('SIGKILL');
      }, graceMs);
      await exited;
      clearTimeout(timer);
    },
    describe(lines = 60) {
      const state = node.exit ? `exited (code ${node.exit.code}, signal ${node.exit.signal})` : `running (pid ${child.pid})`;
      const tail = output.slice(-lines);
      return `--- ${name} ${node.url}: ${state}; last ${tail.length} output lines:\n${tail.join('\n') || '(none)'}`;
    },
  };
  child.once('exit', (code, signal) => (node.exit = { code, signal }));

  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (node.exit) throw new Error(`${name} exited before it was ready\n${node.describe()}`);
    try {
      const answer = await fetch(`${node.url}${readyPath}`, { signal: AbortSignal.timeout(3000) });
      if (answer.status === 200) return node;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await node.stop(2000);
      throw new Error(`${name} was not ready on ${readyPath} within ${timeoutMs} ms\n${node.describe()}`);
    }
    await pause(200);
  }
}

/** Resolves once GET `path` answers 200 on `node`, or rejects after `timeoutMs`. */
export async function waitReady(node: NodeProcess, path = '/readyz', timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = 'no answer';
  for (;;) {
    if (node.exit) throw new Error(`${node.name} exited\n${node.describe()}`);
    try {
      const answer = await fetch(`${node.url}${path}`, { signal: AbortSignal.timeout(3000) });
      if (answer.status === 200) return;
      last = `${answer.status} ${await answer.text()}`;
    } catch (error) {
      last = (error as Error).message;
    }
    if (Date.now() > deadline) throw new Error(`${node.name} not ready on ${path} within ${timeoutMs} ms (last: ${last})\n${node.describe()}`);
    await pause(200);
  }
}

/** True when an executable called `command` is on PATH. */
export function onPath(command: string): boolean {
  return (process.env.PATH ?? '').split(path.delimiter).some((dir) => {
    try {
      accessSync(path.join(dir, command), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

/** Runs a command to completion; its output, or an error naming it and its output. */
export function runCommand(command: string, args: string[], timeoutMs = 15_000): { ok: boolean; output: string } {
  const result = spawnSync(command, args, { encoding: 'utf8', timeout: timeoutMs });
  const output = `${result.stdout ?? ''}${result.stderr ?? ''}${result.error ? String(result.error) : ''}`.trim();
  return { ok: result.status === 0 && !result.error, output };
}
