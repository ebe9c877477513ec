import { extendZodWithOpenApi } from '@asteasolutions/zod-to-openapi';
import { z } from 'zod';

extendZodWithOpenApi(z);

/** The contract's error body, a component of the OpenAPI document. */
export const ErrorAnswer = z
  .object({ detail: z.string(), code: z.string(), fields: z.record(z.string(), z.array(z.string())).optional() })
  .openapi('Error');
