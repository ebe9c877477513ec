import { startBackend } from './backend.ts';
import { ConfigError, loadConfig } from './config.ts';
import { createLogger } from './log.ts';

// the composition root: configuration in, a running backend out, a graceful stop on a signal
async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig();
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    console.error(error.message);
    process.exit(1);
  }
  const log = createLogger(config.LOG_LEVEL);
  // a failure nobody awaited is logged, not allowed to take down every connected client
  process.on('unhandledRejection', (reason) => log.error({ err: reason }, 'unhandled rejection'));
  const backend = await startBackend(config, log);
  let stopping = false;
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.on(signal, () => {
      if (stopping) return;
      stopping = true;
      log.info({ signal }, 'shutting down');
      backend.stop().then(
        () => process.exit(0),
        (error) => {
          log.error({ err: error }, 'shutdown failed');
          process.exit(1);
        },
      );
    });
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
