import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/**
 * A full collection now. An export or a verification allocates its log's size several times over
 * (rows, parsed events, lines, write buffers) while keeping a page or two alive; V8 lets the old
 * generation grow for long before it collects (a live set of 20 MB sat in 120 MB of heap), so
 * they collect themselves every few megabytes — a few milliseconds each — and memory stays flat
 * however long the log. `gc` is reached the way V8 offers without a command-line flag.
 */
export const collectGarbage: () => void = (() => {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as (() => void) | undefined;
  return typeof gc === 'function' ? gc : () => {};
})();
