/**
 * What a chat's rules and answers need of each message — its author, time stamp and whether it
 * was deleted — as persistent vectors in chunks (12 bytes a message), so every older state stays
 * valid. Posting, by far the commonest change, writes in place: a ledger reads only its first
 * `size` messages, so the cell after them is free to fill for the one state that reaches it first
 * (a chunk counts the cells filled); any other state copies that chunk. Marking one deleted copies
 * its chunk and the chunk list, never the whole history.
 */
const CHUNK = 1024;
const DELETED = 0x8000_0000;

interface Chunk {
  /** author's index among the chat's members, with DELETED set once deleted */
  cells: Uint32Array;
  /** time stamp in microseconds */
  times: Float64Array;
  /** cells some state has written: the next may be written in place by the state that has exactly these */
  filled: number;
}

const emptyChunk = (): Chunk => ({ cells: new Uint32Array(CHUNK), times: new Float64Array(CHUNK), filled: 0 });

function copyChunk(chunk: Chunk, filled: number): Chunk {
  const copy = emptyChunk();
  copy.cells.set(chunk.cells.subarray(0, filled));
  copy.times.set(chunk.times.subarray(0, filled));
  copy.filled = filled;
  return copy;
}

export class MessageLedger {
  private constructor(
    /** shared between states: one may append a chunk that only longer states read */
    private readonly chunks: Chunk[],
    readonly size: number,
  ) {}

  static empty(): MessageLedger {
    return new MessageLedger([], 0);
  }

  /** The next message, by the author with this index among the chat's members. */
  add(authorIndex: number, timeStamp: number): MessageLedger {
    const at = Math.floor(this.size / CHUNK);
    const offset = this.size % CHUNK;
    let chunks = this.chunks;
    let chunk: Chunk;
    if (offset === 0) {
      // a longer state may have appended its own chunk here already: then keep to this state's chunks
      if (chunks.length !== at) chunks = chunks.slice(0, at);
      chunk = emptyChunk();
      chunks.push(chunk);
    } else {
      chunk = chunks[at]!;
      if (chunk.filled !== offset) {
        chunk = copyChunk(chunk, offset);
        chunks = chunks.slice(0, at + 1);
        chunks[at] = chunk;
      }
    }
    chunk.cells[offset] = authorIndex >>> 0;
    chunk.times[offset] = timeStamp;
    chunk.filled = offset + 1;
    return new MessageLedger(chunks, this.size + 1);
  }

  markDeleted(messageId: number): MessageLedger {
    if (!this.has(messageId)) return this;
    const index = messageId - 1;
    const at = Math.floor(index / CHUNK);
    const chunk = copyChunk(this.chunks[at]!, Math.min(CHUNK, this.size - at * CHUNK));
    chunk.cells[index % CHUNK] = chunk.cells[index % CHUNK]! | DELETED;
    const chunks = this.chunks.slice(0, Math.ceil(this.size / CHUNK));
    chunks[at] = chunk;
    return new MessageLedger(chunks, this.size);
  }

  /** Message ids count from 1 within a chat. */
  has(messageId: number): boolean {
    return Number.isInteger(messageId) && messageId >= 1 && messageId <= this.size;
  }

  authorIndex(messageId: number): number {
    return this.cell(messageId - 1) & ~DELETED;
  }

  timeStamp(messageId: number): number {
    return this.chunks[Math.floor((messageId - 1) / CHUNK)]!.times[(messageId - 1) % CHUNK]!;
  }

  isDeleted(messageId: number): boolean {
    return (this.cell(messageId - 1) & DELETED) !== 0;
  }

  private cell(index: number): number {
    return this.chunks[Math.floor(index / CHUNK)]!.cells[index % CHUNK]!;
  }
}
