/**
 * What a chat's rules and answers need of each message — its author, time stamp and whether it
 * was deleted — as immutable vectors in chunks: adding or changing a message copies one chunk
 * and the chunk list, never the whole history, so a chat of a million messages stays cheap to
 * evolve (12 bytes a message) and every older state stays valid.
 */
const CHUNK = 1024;
const DELETED = 0x8000_0000;

interface Chunk {
  /** author's index among the chat's members, with DELETED set once deleted */
  cells: Uint32Array;
  /** time stamp in microseconds */
  times: Float64Array;
}

export class MessageLedger {
  private constructor(
    private readonly chunks: readonly Chunk[],
    readonly size: number,
  ) {}

  static empty(): MessageLedger {
    return new MessageLedger([], 0);
  }

  /** The next message, by the author with this index among the chat's members. */
  add(authorIndex: number, timeStamp: number): MessageLedger {
    return this.write(this.size, authorIndex, timeStamp, this.size + 1);
  }

  markDeleted(messageId: number): MessageLedger {
    const index = messageId - 1;
    return this.has(messageId) ? this.write(index, this.cell(index) | DELETED, this.time(index), this.size) : this;
  }

  /** Message ids count from 1 within a chat. */
  has(messageId: number): boolean {
    return Number.isInteger(messageId) && messageId >= 1 && messageId <= this.size;
  }

  authorIndex(messageId: number): number {
    return this.cell(messageId - 1) & ~DELETED;
  }

  timeStamp(messageId: number): number {
    return this.time(messageId - 1);
  }

  isDeleted(messageId: number): boolean {
    return (this.cell(messageId - 1) & DELETED) !== 0;
  }

  private cell(index: number): number {
    return this.chunks[Math.floor(index / CHUNK)]!.cells[index % CHUNK]!;
  }

  private time(index: number): number {
    return this.chunks[Math.floor(index / CHUNK)]!.times[index % CHUNK]!;
  }

  private write(index: number, cell: number, time: number, size: number): MessageLedger {
    const at = Math.floor(index / CHUNK);
    const old = this.chunks[at];
    const chunk = { cells: new Uint32Array(CHUNK), times: new Float64Array(CHUNK) };
    if (old) {
      chunk.cells.set(old.cells);
      chunk.times.set(old.times);
    }
    chunk.cells[index % CHUNK] = cell >>> 0;
    chunk.times[index % CHUNK] = time;
    const chunks = this.chunks.slice();
    chunks[at] = chunk;
    return new MessageLedger(chunks, size);
  }
}
