/**
 * Duration of an OGG file from its page headers alone (no decoding): the granule position of the
 * last page of the first logical stream, minus the codec's pre-skip, over its sample rate.
 *
 * Page header (RFC 3533): "OggS", version, header type, granule position (int64 LE), serial (u32 LE),
 * page sequence, CRC, segment count, then the segment table; the page body is the sum of the segments.
 * Opus (RFC 7845): granule counts 48 kHz samples, pre-skip is a u16 LE at byte 10 of "OpusHead".
 * Vorbis: granule counts samples at the rate in the identification header (u32 LE at byte 12).
 */

const CAPTURE = [0x4f, 0x67, 0x67, 0x53]; // "OggS"
const HEADER_BYTES = 27;

interface Codec {
  sampleRate: number;
  preSkip: number;
}

function identifyCodec(packet: Uint8Array): Codec | null {
  const view = new DataView(packet.buffer, packet.byteOffset, packet.byteLength);
  const ascii = (start: number, length: number) => String.fromCharCode(...packet.subarray(start, start + length));
  if (packet.length >= 19 && ascii(0, 8) === 'OpusHead') {
    return { sampleRate: 48_000, preSkip: view.getUint16(10, true) };
  }
  if (packet.length >= 16 && packet[0] === 0x01 && ascii(1, 6) === 'vorbis') {
    const rate = view.getUint32(12, true);
    return rate > 0 ? { sampleRate: rate, preSkip: 0 } : null;
  }
  return null;
}

/** Seconds of audio in an OGG/Opus (or OGG/Vorbis) buffer; null when it cannot be told. */
export function oggDurationSeconds(data: Uint8Array): number | null {
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  let offset = 0;
  let serial: number | null = null;
  let codec: Codec | null = null;
  let lastGranule: bigint | null = null;

  while (offset + HEADER_BYTES <= data.length) {
    if (!CAPTURE.every((b, i) => data[offset + i] === b)) return null;
    const segments = data[offset + 26] ?? 0;
    const tableEnd = offset + HEADER_BYTES + segments;
    if (tableEnd > data.length) break; // truncated header: keep what earlier pages said
    let bodyLength = 0;
    for (let i = offset + HEADER_BYTES; i < tableEnd; i++) bodyLength += data[i] ?? 0;
    const pageEnd = tableEnd + bodyLength;
    if (pageEnd > data.length) break;

    const pageSerial = view.getUint32(offset + 14, true);
    const granule = view.getBigInt64(offset + 6, true);
    if (serial === null) {
      serial = pageSerial;
      codec = identifyCodec(data.subarray(tableEnd, pageEnd));
      if (!codec) return null;
    } else if (pageSerial === serial && granule !== -1n) {
      // -1 marks a page on which no packet ends; it carries no position.
      lastGranule = granule;
    }
    offset = pageEnd;
  }

  if (!codec || lastGranule === null) return null;
  const samples = lastGranule - BigInt(codec.preSkip);
  if (samples <= 0n) return 0;
  return Number(samples) / codec.sampleRate;
}
