#!/usr/bin/env node
// The operator's and auditor's command line (src/cli/main.ts), run through tsx like `npm start`.
import { register } from 'tsx/esm/api';

register();
const { runCli } = await import('../src/cli/main.ts');
await runCli();
