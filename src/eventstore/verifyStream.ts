import type { EventStore } from './EventStore.ts';
import { findChainBreak, type ChainBreak } from './hashChain.ts';

const PAGE = 1000;

export interface StreamBreak extends ChainBreak {
  stream: string;
  position: bigint | null;
}

/** Checks a stream's whole hash chain page by page; the first broken link, or null when it holds. */
export async function verifyStream(store: EventStore, stream: string): Promise<StreamBreak | null> {
  let prevHash: string | null = null;
  let revision = 0n;
  for (;;) {
    const page = await store.readStream(stream, { fromRevision: revision, maxCount: PAGE });
    const broken = findChainBreak(page, prevHash, revision);
    if (broken) return { ...broken, stream, position: page.find((e) => e.revision === broken.revision)?.position ?? null };
    if (page.length < PAGE) return null;
    const last = page[page.length - 1]!;
    prevHash = last.metadata.hash;
    revision = last.revision + 1n;
  }
}
