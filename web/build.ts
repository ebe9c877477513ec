/**
 * Bundles the web client (web/src/main.ts and socket.io-client) with esbuild and copies its page
 * and stylesheet beside it, into the folder the backend serves at `/`. `npm run build:web`.
 */
import { build } from 'esbuild';
import { copyFile, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { WEB_CLIENT_DIR } from '../src/http/webClient.ts';

const here = path.dirname(fileURLToPath(import.meta.url));

export async function buildWebClient(outdir: string = WEB_CLIENT_DIR): Promise<string> {
  await mkdir(outdir, { recursive: true });
  await build({
    entryPoints: [path.join(here, 'src/main.ts')],
    outfile: path.join(outdir, 'app.js'),
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2020',
    minify: true,
    sourcemap: true,
    logLevel: 'warning',
  });
  for (const file of ['index.html', 'style.css']) await copyFile(path.join(here, file), path.join(outdir, file));
  return outdir;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  buildWebClient().then(
    (outdir) => console.log(`web client built into ${path.relative(process.cwd(), outdir) || '.'}`),
    (error: unknown) => {
      console.error(error);
      process.exit(1);
    },
  );
}
