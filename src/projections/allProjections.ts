import { analyticsProjection } from './analyticsProjection.ts';
import { chatsProjection } from './chatsProjection.ts';
import { messagesProjection } from './messagesProjection.ts';
import type { Projection } from './Projection.ts';
import { socialProjection } from './socialProjection.ts';
import { usersProjection } from './usersProjection.ts';

/** Every read model this backend keeps; a new one is one file plus one migration, added here. */
export const allProjections: readonly Projection[] = [usersProjection, socialProjection, chatsProjection, messagesProjection, analyticsProjection];
