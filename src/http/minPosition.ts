import type Koa from 'koa';
import { HttpError } from './errors.ts';

import type { ProjectionProgress } from '../projections/checkpointProgress.ts';

export type { ProjectionProgress };

export const MIN_POSITION_WAIT_MS = 2000;

/**
 * Read-your-writes: the request's `X-Min-Position` once the read models have reached it (at most
 * 2 s, then 503 projection_lag), or undefined when the request gives none.
 */
export async function minPosition(ctx: Koa.Context, progress: ProjectionProgress): Promise<bigint | undefined> {
  const given = ctx.get('X-Min-Position').trim();
  if (given === '') return undefined;
  if (!/^\d+$/.test(given)) throw new HttpError(400, 'invalid', 'Invalid input.', { fields: { 'X-Min-Position': ['A position is a string of digits.'] } });
  const position = BigInt(given);
  if (await progress.reached(position, MIN_POSITION_WAIT_MS)) return position;
  ctx.set('Retry-After', '1');
  throw new HttpError(503, 'projection_lag', 'The read models have not caught up with that position yet; retry shortly.');
}
