import type { CliCommand } from './CliCommand.ts';

// filled in by the projection work in progress
export const projectionCommands: CliCommand[] = [];
