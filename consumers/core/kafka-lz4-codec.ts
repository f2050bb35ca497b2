/**
 * LZ4 decompression for kafkajs, which ships only gzip. The project's own topics are not
 * compressed (measured: the consumers spend more CPU per event on LZ4 batches, see
 * debezium/README.md), but LZ4 is a common producer/topic setting (`compression.type=lz4`) and
 * without a codec kafkajs crashes the consumer with "LZ4 compression not implemented". Hand-written (about
 * 100 lines) because the npm LZ4 packages are native builds or unmaintained; tested on frames
 * written by the reference `lz4` tool.
 *
 * Call `registerLz4Codec()` once before consuming. Decompression only: producing with LZ4 from
 * Node is refused with a clear error (choose gzip or none for producers). Kafka (record batch v2)
 * uses the standard LZ4 frame format; checksums are not verified (Kafka's CRC32C on the batch
 * already covers the compressed bytes).
 */
import kafkajs from 'kafkajs';

// kafkajs is CommonJS and Node's named-export detection misses these two.
const { CompressionCodecs, CompressionTypes } = kafkajs;

const FRAME_MAGIC = 0x184d2204;
const SKIPPABLE_MAGIC_MASK = 0xfffffff0;
const SKIPPABLE_MAGIC = 0x184d2a50;

/** Registers the codec globally in kafkajs (idempotent). */
export function registerLz4Codec(): void {
  CompressionCodecs[CompressionTypes.LZ4] = () => ({
    async compress(): Promise<Buffer> {
      throw new Error('LZ4 compression is not supported for producing from Node; use gzip or none');
    },
    async decompress(buffer: Buffer): Promise<Buffer> {
      return decompressLz4Frames(buffer);
    },
  });
}

/** Decompresses one or more concatenated LZ4 frames. Throws on malformed input. */
export function decompressLz4Frames(input: Buffer): Buffer {
  const out = new Output();
  let i = 0;
  while (i < input.length) {
    const magic = readUInt32(input, i);
    if ((magic & SKIPPABLE_MAGIC_MASK) >>> 0 === SKIPPABLE_MAGIC) {
      i += 8 + readUInt32(input, i + 4);
      continue;
    }
    if (magic !== FRAME_MAGIC) throw new Error(`LZ4: bad frame magic 0x${magic.toString(16)} at byte ${i}`);
    const flags = input[i + 4]!;
    if (flags >> 6 !== 1) throw new Error(`LZ4: unsupported frame version ${flags >> 6}`);
    const blockChecksum = (flags & 0x10) !== 0;
    const contentSize = (flags & 0x08) !== 0;
    const contentChecksum = (flags & 0x04) !== 0;
    const dictionary = (flags & 0x01) !== 0;
    if (dictionary) throw new Error('LZ4: frames with a dictionary are not supported');
    i += 6 + (contentSize ? 8 : 0) + 1; // magic, FLG, BD, [content size], header checksum
    for (;;) {
      const header = readUInt32(input, i);
      i += 4;
      if (header === 0) break; // end mark
      const size = header & 0x7fffffff;
      if (i + size > input.length) throw new Error('LZ4: block runs past the end of the input');
      if (header & 0x80000000) out.append(input.subarray(i, i + size));
      else decompressBlock(input.subarray(i, i + size), out);
      i += size + (blockChecksum ? 4 : 0);
    }
    if (contentChecksum) i += 4;
  }
  return out.result();
}

/** One LZ4 block (sequences of literals + back-references into everything decoded so far). */
function decompressBlock(block: Buffer, out: Output): void {
  let i = 0;
  while (i < block.length) {
    const token = block[i++]!;
    let literals = token >> 4;
    if (literals === 15) {
      let byte: number;
      do {
        byte = block[i++]!;
        literals += byte;
      } while (byte === 255 && i < block.length);
    }
    if (i + literals > block.length) throw new Error('LZ4: literals run past the end of the block');
    out.append(block.subarray(i, i + literals));
    i += literals;
    if (i >= block.length) break; // the last sequence has literals only
    const offset = block[i]! | (block[i + 1]! << 8);
    i += 2;
    let length = token & 15;
    if (length === 15) {
      let byte: number;
      do {
        byte = block[i++]!;
        length += byte;
      } while (byte === 255 && i < block.length);
    }
    out.copyMatch(offset, length + 4);
  }
}

/** A growable output buffer that supports LZ4's overlapping back-references. */
class Output {
  private buffer = Buffer.allocUnsafe(64 * 1024);
  private length = 0;

  append(bytes: Buffer): void {
    this.reserve(bytes.length);
    bytes.copy(this.buffer, this.length);
    this.length += bytes.length;
  }

  copyMatch(offset: number, length: number): void {
    if (offset === 0 || offset > this.length) throw new Error(`LZ4: match offset ${offset} outside the ${this.length} bytes decoded`);
    this.reserve(length);
    let from = this.length - offset;
    // Byte by byte: the source may overlap what is being written (a run).
    for (let n = 0; n < length; n++) this.buffer[this.length++] = this.buffer[from++]!;
  }

  result(): Buffer {
    return this.buffer.subarray(0, this.length);
  }

  private reserve(extra: number): void {
    if (this.length + extra <= this.buffer.length) return;
    const grown = Buffer.allocUnsafe(Math.max(this.buffer.length * 2, this.length + extra));
    this.buffer.copy(grown, 0, 0, this.length);
    this.buffer = grown;
  }
}

function readUInt32(buffer: Buffer, at: number): number {
  if (at + 4 > buffer.length) throw new Error('LZ4: frame truncated');
  return buffer.readUInt32LE(at);
}
