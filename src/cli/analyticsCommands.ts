import type { CliCommand } from './CliCommand.ts';

// filled in by the analytics work in progress
export const analyticsCommands: CliCommand[] = [];
