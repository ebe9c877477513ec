import { allProjections } from '../projections/allProjections.ts';
import type { Projection } from '../projections/Projection.ts';
import { projectionStatus, type StoredProjectionStatus } from '../projections/projectionStatus.ts';
import { RebuildInterrupted, rebuildProjections, type RebuildProgress } from '../projections/rebuildProjections.ts';
import { createQueryCache } from '../queries/createQueryCache.ts';
import { GENERATION_SCOPE } from '../queries/QueryCache.ts';
import { CliUsageError, type CliArgs, type CliCommand, type CliContext } from './CliCommand.ts';

const fmt = (n: number | bigint) => n.toLocaleString('en-US');
const known = () => allProjections.map((p) => p.name).join(', ');

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  ').trimEnd()).join('\n');
}

async function status({ positionals, options }: CliArgs, context: CliContext): Promise<number> {
  if (positionals.length > 0) throw new CliUsageError(`unexpected argument "${positionals[0]}"`);
  const { knex, eventStore } = await context.connect();
  const list = await projectionStatus(knex, eventStore, allProjections, !context.config.EVENTSTORE_URL);
  if (options.json) {
    const json = list.map((s) => ({ ...s, checkpoint: String(s.checkpoint), head: String(s.head), lagSeconds: Number(s.lagSeconds.toFixed(3)) }));
    context.out.write(`${JSON.stringify(json, null, 2)}\n`);
    return 0;
  }
  const version = (s: StoredProjectionStatus) => (s.storedVersion === null || s.storedVersion === s.version ? String(s.version) : `${s.storedVersion} → ${s.version}`);
  const state = (s: StoredProjectionStatus) => [s.active ? 'active' : 'inactive', ...(s.rebuilding ? ['rebuilding'] : [])].join(', ');
  context.out.write(
    `${table([
      ['projection', 'version', 'state', 'checkpoint', 'head', 'lag (events)', 'lag (s)'],
      ...list.map((s) => [s.name, version(s), state(s), String(s.checkpoint), String(s.head), s.lagEvents === null ? '?' : fmt(s.lagEvents), s.lagSeconds.toFixed(1)]),
    ])}\n`,
  );
  return 0;
}

function chosen({ positionals, options }: CliArgs): Projection[] {
  if (options.all && positionals.length > 0) throw new CliUsageError('give one projection name or --all, not both');
  if (options.all) return [...allProjections];
  if (positionals.length === 0) throw new CliUsageError(`give a projection name or --all; the projections are ${known()}`);
  if (positionals.length > 1) throw new CliUsageError(`unexpected argument "${positionals[1]}"`);
  const projection = allProjections.find((p) => p.name === positionals[0]);
  if (!projection) throw new CliUsageError(`unknown projection "${positionals[0]}"; the projections are ${known()}`);
  return [projection];
}

/** Progress on stderr: a bar redrawn in place on a terminal, a plain line now and then otherwise. */
function progressReporter(err: CliContext['err']) {
  const started = performance.now();
  let lastDraw = 0;
  let lastPhase = '';
  return {
    update(p: RebuildProgress) {
      const now = performance.now();
      const seconds = (now - started) / 1000;
      const rate = seconds > 0 ? p.events / seconds : 0;
      const done = p.share;
      const phaseChanged = p.phase !== lastPhase;
      lastPhase = p.phase;
      const eta = p.phase === 'loading' && done > 0 && done < 1 ? `ETA ${Math.ceil((seconds / done) * (1 - done))} s` : '';
      const text = `${p.phase.padEnd(8)} ${fmt(p.events)} events  ${fmt(Math.round(rate))} events/s  ${(done * 100).toFixed(0)}%  ${eta}`.trimEnd();
      if (err.isTTY) {
        if (!phaseChanged && now - lastDraw < 100 && p.phase !== 'done') return;
        const width = 30;
        const filled = Math.round(done * width);
        err.write(`\r\x1b[2K[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${text}${p.phase === 'done' ? '\n' : ''}`);
      } else {
        if (!phaseChanged && now - lastDraw < 2000) return;
        err.write(`rebuild: ${text}\n`);
      }
      lastDraw = now;
    },
    end() {
      if (err.isTTY && lastPhase !== 'done') err.write('\n');
    },
  };
}

async function rebuild(args: CliArgs, context: CliContext): Promise<number> {
  const projections = chosen(args);
  const { knex, eventStore, databaseUrl } = await context.connect();
  let interrupted = false;
  const onSigint = () => {
    // a second Ctrl-C does not wait for the page being written
    if (interrupted) process.exit(130);
    interrupted = true;
    context.err.write('\nstopping after the page being written; run the rebuild again to start over\n');
  };
  process.on('SIGINT', onSigint);
  const progress = progressReporter(context.err);
  try {
    const result = await rebuildProjections({
      knex,
      store: eventStore,
      databaseUrl,
      projections,
      log: context.log,
      onProgress: (p) => progress.update(p),
      shouldStop: () => interrupted,
    });
    progress.end();
    // cached answers from before the swap must not be served: every one depends on this scope
    const cache = createQueryCache(context.config.MEMCACHED_SERVERS, context.log);
    await cache.bump([GENERATION_SCOPE]);
    await cache.close();
    context.out.write(`rebuilt ${projections.map((p) => p.name).join(', ')} from ${fmt(result.events)} events; checkpoint ${result.position}\n`);
    return 0;
  } catch (error) {
    progress.end();
    if (!(error instanceof RebuildInterrupted)) throw error;
    context.err.write(`${error.message}\n`);
    return 130;
  } finally {
    process.off('SIGINT', onSigint);
  }
}

export const projectionCommands: CliCommand[] = [
  {
    words: ['projections', 'status'],
    usage: 'projections status [--json]',
    summary: 'each projection: version, active or not, checkpoint, log head, lag in events and seconds',
    options: { json: 'boolean' },
    run: status,
  },
  {
    words: ['projections', 'rebuild'],
    usage: 'projections rebuild <name> | --all',
    summary: 'rebuilds read models from the log in shadow tables while the live ones serve, then swaps them in; safe to interrupt and rerun',
    options: { all: 'boolean' },
    run: rebuild,
  },
];
