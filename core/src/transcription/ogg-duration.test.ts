import { describe, expect, it } from 'vitest';
import { oggDurationSeconds } from './ogg-duration.js';

/** One OGG page (RFC 3533) around `body`; the CRC is left 0 because the reader does not check it. */
function oggPage(body: Uint8Array, granule: bigint, opts: { serial?: number; sequence?: number; headerType?: number } = {}): Buffer {
  const segments: number[] = [];
  let left = body.length;
  while (left >= 255) {
    segments.push(255);
    left -= 255;
  }
  segments.push(left);
  const header = Buffer.alloc(27 + segments.length);
  header.write('OggS', 0, 'ascii');
  header.writeUInt8(0, 4); // version
  header.writeUInt8(opts.headerType ?? 0, 5);
  header.writeBigInt64LE(granule, 6);
  header.writeUInt32LE(opts.serial ?? 0x1234, 14);
  header.writeUInt32LE(opts.sequence ?? 0, 18);
  header.writeUInt32LE(0, 22); // CRC
  header.writeUInt8(segments.length, 26);
  segments.forEach((s, i) => header.writeUInt8(s, 27 + i));
  return Buffer.concat([header, body]);
}

function opusHead(preSkip: number): Buffer {
  const b = Buffer.alloc(19);
  b.write('OpusHead', 0, 'ascii');
  b.writeUInt8(1, 8); // version
  b.writeUInt8(1, 9); // mono
  b.writeUInt16LE(preSkip, 10);
  b.writeUInt32LE(16_000, 12); // original input rate: informational only
  return b;
}

function opusTags(): Buffer {
  const vendor = Buffer.from('coex-test');
  const b = Buffer.alloc(8 + 4 + vendor.length + 4);
  b.write('OpusTags', 0, 'ascii');
  b.writeUInt32LE(vendor.length, 8);
  vendor.copy(b, 12);
  b.writeUInt32LE(0, 12 + vendor.length);
  return b;
}

describe('oggDurationSeconds', () => {
  it('reads an Opus voice note: last granule minus pre-skip at 48 kHz', () => {
    const audio = Buffer.concat([
      oggPage(opusHead(312), 0n, { headerType: 2, sequence: 0 }),
      oggPage(opusTags(), 0n, { sequence: 1 }),
      oggPage(Buffer.alloc(600, 0xaa), 48_000n * 2n + 312n, { sequence: 2 }), // 600-byte body: 3 segments
      oggPage(Buffer.alloc(40, 0xbb), 48_000n * 7n + 24_000n + 312n, { sequence: 3, headerType: 4 }),
    ]);
    expect(oggDurationSeconds(audio)).toBe(7.5);
  });

  it('ignores pages on which no packet ends (granule -1)', () => {
    const audio = Buffer.concat([
      oggPage(opusHead(0), 0n, { headerType: 2 }),
      oggPage(opusTags(), 0n),
      oggPage(Buffer.alloc(100), 96_000n),
      oggPage(Buffer.alloc(100), -1n),
    ]);
    expect(oggDurationSeconds(audio)).toBe(2);
  });

  it('ignores pages of another logical stream', () => {
    const audio = Buffer.concat([
      oggPage(opusHead(0), 0n, { headerType: 2 }),
      oggPage(Buffer.alloc(10), 48_000n),
      oggPage(Buffer.alloc(10), 48_000n * 100n, { serial: 999 }),
    ]);
    expect(oggDurationSeconds(audio)).toBe(1);
  });

  it('reads Vorbis at the rate of its identification header', () => {
    const id = Buffer.alloc(30);
    id.writeUInt8(1, 0);
    id.write('vorbis', 1, 'ascii');
    id.writeUInt32LE(0, 7); // version
    id.writeUInt8(1, 11); // channels
    id.writeUInt32LE(44_100, 12);
    const audio = Buffer.concat([oggPage(id, 0n, { headerType: 2 }), oggPage(Buffer.alloc(10), 44_100n * 3n)]);
    expect(oggDurationSeconds(audio)).toBe(3);
  });

  it('keeps what complete pages said when the file is cut in the middle of a page', () => {
    const whole = Buffer.concat([oggPage(opusHead(0), 0n, { headerType: 2 }), oggPage(Buffer.alloc(10), 48_000n * 4n), oggPage(Buffer.alloc(500), 48_000n * 9n)]);
    expect(oggDurationSeconds(whole.subarray(0, whole.length - 100))).toBe(4);
  });

  it('answers null for what it cannot measure', () => {
    expect(oggDurationSeconds(Buffer.from('ID3\x04 not an ogg file at all, just some bytes'))).toBeNull();
    expect(oggDurationSeconds(Buffer.alloc(0))).toBeNull();
    // An OGG stream of an unknown codec.
    expect(oggDurationSeconds(Buffer.concat([oggPage(Buffer.from('fLaC-ish header'), 0n), oggPage(Buffer.alloc(4), 1000n)]))).toBeNull();
    // Only the OpusHead page: no position at all.
    expect(oggDurationSeconds(oggPage(opusHead(312), 0n, { headerType: 2 }))).toBeNull();
  });

  it('works on a view into a larger buffer', () => {
    const audio = Buffer.concat([oggPage(opusHead(0), 0n, { headerType: 2 }), oggPage(Buffer.alloc(10), 48_000n * 3n)]);
    const padded = new Uint8Array(audio.length + 20);
    padded.set(audio, 10);
    expect(oggDurationSeconds(padded.subarray(10, 10 + audio.length))).toBe(3);
  });
});
