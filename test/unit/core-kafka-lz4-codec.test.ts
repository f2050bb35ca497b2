/**
 * The LZ4 codec that lets kafkajs read LZ4-compressed topics. The .lz4 files were
 * written by the reference `lz4` command-line tool (v1.9) from the text `sampleText()` rebuilds:
 *   default.lz4           lz4 (4 MB independent blocks, content checksum)
 *   dependent-blocks.lz4  lz4 -BD -B4 --content-size (64 kB blocks referencing earlier blocks)
 *   block-checksums.lz4   lz4 -B4 -BX --no-frame-crc (64 kB blocks, per-block checksums)
 * Decoding only: the project's own topics are uncompressed; this keeps consumers working on
 * topics a user configures with compression.type=lz4 (kafkajs ships only gzip).
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import kafkajs from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { decompressLz4Frames, registerLz4Codec } from '../../consumers/core/kafka-lz4-codec.js';

const DIR = resolve(import.meta.dirname, '../fixtures/kafka/lz4');

function sampleText(): string {
  let text = '';
  for (let i = 0; i < 3000; i++) text += `{"op":"c","id":${i % 100},"pad":"${'ab'.repeat(i % 7)}"}\n`;
  return text;
}

describe('decompressLz4Frames', () => {
  it.each(['default', 'dependent-blocks', 'block-checksums'])('%s.lz4 decompresses to the original text', (name) => {
    const compressed = readFileSync(resolve(DIR, `${name}.lz4`));
    const text = decompressLz4Frames(compressed).toString('utf8');
    expect(compressed.length).toBeLessThan(text.length / 5); // really compressed, with back-references
    expect(text).toBe(sampleText());
  });

  it('decompresses concatenated frames', () => {
    const frame = readFileSync(resolve(DIR, 'default.lz4'));
    expect(decompressLz4Frames(Buffer.concat([frame, frame])).toString('utf8')).toBe(sampleText() + sampleText());
  });

  it('refuses input that is not an LZ4 frame, and truncated frames', () => {
    expect(() => decompressLz4Frames(Buffer.from('{"not":"lz4"}'))).toThrow(/bad frame magic/);
    const frame = readFileSync(resolve(DIR, 'default.lz4'));
    expect(() => decompressLz4Frames(frame.subarray(0, frame.length - 100))).toThrow(/LZ4/);
  });
});

describe('registerLz4Codec', () => {
  it('installs a kafkajs codec that decompresses and refuses to compress', async () => {
    registerLz4Codec();
    const codec = kafkajs.CompressionCodecs[kafkajs.CompressionTypes.LZ4]();
    const compressed = readFileSync(resolve(DIR, 'default.lz4'));
    expect((await codec.decompress(compressed)).toString('utf8')).toBe(sampleText());
    await expect(codec.compress({ buffer: Buffer.from('x') })).rejects.toThrow(/not supported for producing/);
  });
});
