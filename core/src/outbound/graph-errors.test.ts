import { describe, expect, it } from 'vitest';
import {
  classifyError,
  classifyGraphError,
  GraphApiError,
  GraphProtocolError,
  GraphTransportError,
  MediaDownloadError,
  parseGraphError,
  parseRetryAfter,
  type GraphErrorKind,
} from './graph-errors.js';

describe('parseGraphError', () => {
  it("reads every field of Meta's error body and the Retry-After header", () => {
    const body = JSON.stringify({
      error: {
        message: '(#131056) (Business Account, Consumer Account) pair rate limit hit',
        type: 'OAuthException',
        code: 131056,
        error_subcode: 2494055,
        error_data: { messaging_product: 'whatsapp', details: 'too many messages to the same phone number' },
        fbtrace_id: 'A4O5a8RAgePwbcGSu',
      },
    });
    const err = parseGraphError(400, body, '12');
    expect(err).toBeInstanceOf(GraphApiError);
    expect(err).toMatchObject({
      httpStatus: 400,
      code: 131056,
      subcode: 2494055,
      type: 'OAuthException',
      details: 'too many messages to the same phone number',
      fbtraceId: 'A4O5a8RAgePwbcGSu',
      retryAfterSeconds: 12,
      graphMessage: '(#131056) (Business Account, Consumer Account) pair rate limit hit',
    });
    expect(err.message).toContain('code 131056/2494055');
    expect(err.message).toContain('too many messages');
  });

  it('accepts numeric codes sent as strings', () => {
    const err = parseGraphError(400, JSON.stringify({ error: { message: 'x', code: '130429' } }));
    expect(err.code).toBe(130429);
    expect(err.subcode).toBeNull();
    expect(err.retryAfterSeconds).toBeNull();
  });

  it('keeps a short excerpt when the body is not Graph JSON (a proxy page)', () => {
    const html = `<html>${'x'.repeat(1000)}</html>`;
    const err = parseGraphError(502, html);
    expect(err.code).toBeNull();
    expect(err.httpStatus).toBe(502);
    expect(err.graphMessage.length).toBeLessThan(250);
    expect(parseGraphError(503, '').graphMessage).toBe('empty body');
  });

  it('takes error_data given as a string as the details', () => {
    const err = parseGraphError(400, JSON.stringify({ error: { message: 'm', code: 100, error_data: 'raw detail' } }));
    expect(err.details).toBe('raw detail');
  });
});

describe('parseRetryAfter', () => {
  const now = new Date('2026-11-25T10:00:00Z');
  it('reads delta-seconds and HTTP dates', () => {
    expect(parseRetryAfter('30', now)).toBe(30);
    expect(parseRetryAfter('Wed, 25 Nov 2026 10:01:30 GMT', now)).toBe(90);
    expect(parseRetryAfter('Wed, 25 Nov 2026 09:00:00 GMT', now)).toBe(0);
  });
  it('returns null for absent or unreadable values', () => {
    expect(parseRetryAfter(null, now)).toBeNull();
    expect(parseRetryAfter('', now)).toBeNull();
    expect(parseRetryAfter('soon', now)).toBeNull();
  });
});

describe('classifyGraphError', () => {
  const table: Array<[number, GraphErrorKind]> = [
    [130429, 'retry'],
    [131056, 'retry_pair'],
    [80007, 'retry'],
    [131048, 'spam'],
    [131049, 'marketing_limit'],
    [131050, 'permanent'],
    [131026, 'permanent'],
    [131051, 'permanent'],
    [133010, 'permanent'],
    [190, 'token'],
    [131000, 'retry'],
    [131001, 'retry'],
    [131002, 'retry'],
    [131016, 'retry'],
    [131047, 'window'],
    [131060, 'permanent'],
    [132015, 'paused'],
    [133016, 'permanent'],
    [4, 'retry'],
    [368, 'spam'],
  ];
  it.each(table)('code %i → %s', (code, kind) => {
    expect(classifyGraphError(code, 400).kind).toBe(kind);
  });

  it('treats every template error 132000–132016 except 132015 as permanent', () => {
    for (let code = 132000; code <= 132016; code++) {
      expect(classifyGraphError(code, 400).kind).toBe(code === 132015 ? 'paused' : 'permanent');
    }
  });

  it('leaves Graph code 1 to the HTTP status (a bad client secret is code 1 on HTTP 400)', () => {
    expect(classifyGraphError(1, 400).kind).toBe('permanent');
    expect(classifyGraphError(1, 500).kind).toBe('retry');
    expect(classifyGraphError(2, 400).kind).toBe('retry');
  });

  it('falls back on the HTTP status when the code is unknown or absent', () => {
    expect(classifyGraphError(null, 500).kind).toBe('retry');
    expect(classifyGraphError(null, 503).kind).toBe('retry');
    expect(classifyGraphError(999999, 502).kind).toBe('retry');
    expect(classifyGraphError(null, 429).kind).toBe('retry');
    expect(classifyGraphError(null, 401).kind).toBe('token');
    expect(classifyGraphError(999999, 400).kind).toBe('permanent');
  });

  it('uses exponential backoff with full jitter for retry', () => {
    const c = classifyGraphError(130429, 400, { random: () => 0.5, baseMs: 1000, capMs: 60_000 });
    expect(c.retryable).toBe(true);
    expect([0, 1, 2, 3].map((a) => c.backoffMs(a))).toEqual([500, 1000, 2000, 4000]);
    expect(c.backoffMs(20)).toBe(30_000); // capped at 60 s, then jittered
    const low = classifyGraphError(130429, 400, { random: () => 0 });
    expect(low.backoffMs(5)).toBe(0);
    const high = classifyGraphError(130429, 400, { random: () => 0.999999 });
    expect(high.backoffMs(2)).toBeLessThan(4000);
  });

  it('never waits less than Retry-After', () => {
    const c = classifyGraphError(80007, 400, { random: () => 0, retryAfterSeconds: 7 });
    expect(c.backoffMs(0)).toBe(7000);
    expect(classifyGraphError(131056, 400, { random: () => 0, retryAfterSeconds: 30 }).backoffMs(0)).toBe(30_000);
  });

  it('waits 4^X seconds (plus up to 25 % jitter, never less) for the pair rate limit', () => {
    const exact = classifyGraphError(131056, 400, { random: () => 0 });
    expect([0, 1, 2, 3].map((a) => exact.backoffMs(a))).toEqual([1000, 4000, 16_000, 64_000]);
    const jittered = classifyGraphError(131056, 400, { random: () => 0.999 });
    expect(jittered.backoffMs(1)).toBeGreaterThanOrEqual(4000);
    expect(jittered.backoffMs(1)).toBeLessThanOrEqual(5000);
    expect(exact.backoffMs(50)).toBe(4 ** 5 * 1000); // exponent capped
  });

  it('gives long fixed waits for the marketing limit and paused templates', () => {
    expect(classifyGraphError(131049, 400).backoffMs(0)).toBe(24 * 3600 * 1000);
    expect(classifyGraphError(132015, 400).backoffMs(3)).toBe(3 * 3600 * 1000);
  });

  it('never schedules an automatic retry for permanent, token, window and spam', () => {
    for (const code of [131026, 190, 131047, 131048]) {
      const c = classifyGraphError(code, 400);
      expect(c.retryable).toBe(false);
      expect(c.backoffMs(0)).toBe(Number.POSITIVE_INFINITY);
    }
  });

  it('rejects a negative or fractional attempt', () => {
    expect(() => classifyGraphError(130429, 400).backoffMs(-1)).toThrow(RangeError);
    expect(() => classifyGraphError(131026, 400).backoffMs(1.5)).toThrow(RangeError);
  });
});

describe('classifyError', () => {
  it('carries the Retry-After of a GraphApiError into the backoff', () => {
    const err = parseGraphError(400, JSON.stringify({ error: { message: 'limit', code: 80007 } }), '9');
    const c = classifyError(err, { random: () => 0 });
    expect(c.kind).toBe('retry');
    expect(c.backoffMs(0)).toBe(9000);
  });
  it("trusts Meta's is_transient flag for a code it would otherwise call permanent", () => {
    const transient = parseGraphError(400, JSON.stringify({ error: { message: 'try again', code: 999, is_transient: true } }));
    expect(classifyError(transient).kind).toBe('retry');
    const notTransient = parseGraphError(400, JSON.stringify({ error: { message: 'no', code: 131026, is_transient: false } }));
    expect(classifyError(notTransient).kind).toBe('permanent');
  });
  it('retries transport failures and 5xx media downloads, not protocol errors or bugs', () => {
    expect(classifyError(new GraphTransportError('reset')).kind).toBe('retry');
    expect(classifyError(new MediaDownloadError('boom', 'http', 503)).kind).toBe('retry');
    expect(classifyError(new MediaDownloadError('gone', 'http', 404)).kind).toBe('permanent');
    expect(classifyError(new GraphProtocolError('bad shape', 200)).kind).toBe('permanent');
    expect(classifyError(new TypeError('bug')).kind).toBe('permanent');
  });
});
