import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { CrmError } from '../types.js';
import { WooCommerceConnector, wooOrderSearchTerms, parseWooGmt, resolveWooClientCtor, toWooCrmError } from './connector.js';
import { markedKeys, marker, timelineNote } from './format.js';

describe('resolveWooClientCtor', () => {
  class Fake {}

  it('takes the class from .default (native ESM) or as is (bundlers/vitest)', () => {
    expect(resolveWooClientCtor({ default: Fake, OptionsException: class {} })).toBe(Fake);
    expect(resolveWooClientCtor(Fake)).toBe(Fake);
    expect(() => resolveWooClientCtor({ default: 'nope' })).toThrow(/constructor not found/);
    expect(() => resolveWooClientCtor(null)).toThrow(/constructor not found/);
  });

  it('matches what native Node ESM really gives for @woocommerce/woocommerce-rest-api', () => {
    const out = execFileSync(
      process.execPath,
      ['--input-type=module', '-e', "import m from '@woocommerce/woocommerce-rest-api'; console.log(typeof m, typeof m.default)"],
      { cwd: fileURLToPath(new URL('..', import.meta.url)), encoding: 'utf8' },
    );
    expect(out.trim()).toBe('object function');
  });
});

describe('wooOrderSearchTerms', () => {
  it('covers unformatted spellings with the national number and spaced ones with its grouping', () => {
    expect(wooOrderSearchTerms('+212612345678')).toEqual(['612345678', '6 12 34 56 78']);
    expect(wooOrderSearchTerms('+33612345678')).toEqual(['612345678', '6 12 34 56 78']);
    for (const stored of ['0612345678', '+212612345678', '212612345678', '00212612345678']) {
      expect(stored.includes('612345678')).toBe(true);
    }
    for (const stored of ['06 12 34 56 78', '+212 6 12 34 56 78']) expect(stored.includes('6 12 34 56 78')).toBe(true);
  });

  it('passes a non-number through', () => {
    expect(wooOrderSearchTerms('garbage')).toEqual(['garbage']);
  });
});

describe('parseWooGmt', () => {
  it('reads zone-less WooCommerce GMT dates as UTC', () => {
    expect(parseWooGmt('2026-03-01T10:00:00')).toBe(Date.UTC(2026, 2, 1, 10));
    expect(parseWooGmt('2026-03-01T10:00:00Z')).toBe(Date.UTC(2026, 2, 1, 10));
    expect(parseWooGmt('2026-03-01T11:00:00+01:00')).toBe(Date.UTC(2026, 2, 1, 10));
    expect(parseWooGmt(null)).toBe(0);
    expect(parseWooGmt('junk')).toBe(0);
  });
});

describe('toWooCrmError', () => {
  it('maps axios errors by status and reads Retry-After from AxiosHeaders-like objects', () => {
    const headers = { get: (n: string) => (n === 'retry-after' ? '9' : undefined) };
    expect(toWooCrmError({ isAxiosError: true, response: { status: 429, headers, data: {} } }, 'GET orders')).toMatchObject({
      retryable: true,
      status: 429,
      retryAfterSeconds: 9,
    });
    const e401 = toWooCrmError(
      { isAxiosError: true, response: { status: 401, headers: {}, data: { code: 'woocommerce_rest_cannot_view', message: 'Sorry', data: { status: 401 } } } },
      'GET orders',
    );
    expect(e401).toMatchObject({ retryable: false, status: 401 });
    expect(e401.message).toContain('woocommerce_rest_cannot_view');
    expect(toWooCrmError({ isAxiosError: true, response: { status: 502, headers: { 'retry-after': '3' } } }, 'x')).toMatchObject({
      retryable: true,
      retryAfterSeconds: 3,
    });
  });

  it('maps timeouts and connection errors to retryable, unknown errors to non-retryable', () => {
    expect(toWooCrmError({ isAxiosError: true, code: 'ECONNABORTED', message: 'timeout of 15000ms exceeded' }, 'x')).toMatchObject({ retryable: true });
    expect(toWooCrmError({ code: 'ECONNREFUSED' }, 'x')).toMatchObject({ retryable: true });
    expect(toWooCrmError(new Error('bug'), 'x')).toMatchObject({ retryable: false });
    const same = new CrmError('x', 'woocommerce', true);
    expect(toWooCrmError(same, 'x')).toBe(same);
  });
});

describe('WooCommerceConnector construction', () => {
  it('validates its options', () => {
    const ok = { url: 'https://shop.example', consumerKey: 'ck', consumerSecret: 'cs', siteKey: 'k' };
    expect(() => new WooCommerceConnector({ ...ok, url: 'shop.example' })).toThrow(/not a URL/);
    expect(() => new WooCommerceConnector({ ...ok, url: 'ftp://shop.example' })).toThrow(/http/);
    expect(() => new WooCommerceConnector({ ...ok, consumerSecret: '' })).toThrow(/consumer/);
    expect(() => new WooCommerceConnector({ ...ok, siteKey: '' })).toThrow(/siteKey/);
    expect(new WooCommerceConnector(ok).name).toBe('woocommerce');
  });
});

describe('note markers', () => {
  it('round-trips ids, including awkward characters', () => {
    const keys = ['m-1', 'uuid-0b6f', 'has space', 'bracket]', 'quote"<tag>', 'transcript:m-9', 'bot:t1:paused:2026-03-01T10:00:00.000Z'];
    expect(markedKeys(`some text\n${marker(keys)}`)).toEqual(keys);
    expect(markedKeys('no markers here [coex]')).toEqual([]);
    expect(markedKeys(`${marker(['a'])}\n${marker(['b', 'c'])}`)).toEqual(['a', 'b', 'c']);
  });

  it('keeps the keys out of what merchants read: an empty element with a data attribute', () => {
    const m = marker(['m-1', 'quote"<tag>']);
    expect(m).toBe('<span data-coex-refs="m-1 quote%22%3Ctag%3E"></span>');
    // What wp_kses_post + strip_tags leave visible: nothing.
    expect(m.replace(/<[^>]*>/g, '')).toBe('');
  });

  it('still reads the visible [coex:…] lines of notes written by earlier versions', () => {
    expect(markedKeys('💬 WhatsApp · 2 messages\n[coex:m-1 m-2]')).toEqual(['m-1', 'm-2']);
  });

  it('renders a timeline ending with the marker line', () => {
    const note = timelineNote([
      {
        id: 'm1',
        wamid: 'w',
        threadId: 't',
        direction: 'inbound',
        origin: 'customer',
        type: 'audio',
        text: '[voice note 0:12]',
        timestamp: '2026-03-01T09:00:00Z',
        status: null,
        customerPhone: null,
        customerName: null,
        businessPhone: null,
        transcript: { text: 'salam', language: 'ary' },
      },
    ]);
    expect(note.split('\n')).toEqual([
      '💬 WhatsApp · 1 message',
      '[2026-03-01 09:00 UTC] 👤 Customer: [voice note 0:12] — 🎙️ salam<span data-coex-refs="m1"></span>',
    ]);
    expect(note).not.toContain('[coex:');
  });
});
