import { describe, expect, it } from 'vitest';
import { normalizePhone, phoneSearchVariants, samePhone, waIdToE164 } from './phone.js';

const MA_MOBILE = '+212612345678';

describe('normalizePhone (default country Morocco)', () => {
  it.each([
    ['0612345678'],
    ['06 12 34 56 78'],
    ['06.12.34.56.78'],
    ['06-12-34-56-78'],
    ['06 12-34.56 78'],
    ['(06) 12 34 56 78'],
    ['+212612345678'],
    ['+212 6 12 34 56 78'],
    ['+212 612-345-678'],
    ['+212-6-12-34-56-78'],
    ['+(212) 6 12 34 56 78'],
    ['(+212) 612 345 678'],
    ['212612345678'],
    ['212 6 12 34 56 78'],
    ['212 612 345 678 '],
    ['00212612345678'],
    ['00 212 6 12 34 56 78'],
    ['+212 06 12 34 56 78'],
    ['+212 (0) 6 12 34 56 78'],
    ['  0612345678\t'],
    ['+212\u00a06\u00a012\u00a034\u00a056\u00a078'],
    ['06–12–34–56–78'],
    ['٠٦١٢٣٤٥٦٧٨'],
    ['tel:+212612345678'],
  ])('%j → +212612345678', (input) => {
    expect(normalizePhone(input)).toBe(MA_MOBILE);
  });

  it('handles 07… mobiles and 05… landlines', () => {
    expect(normalizePhone('0712345678')).toBe('+212712345678');
    expect(normalizePhone('07 12 34 56 78')).toBe('+212712345678');
    expect(normalizePhone('+212 7 12 34 56 78')).toBe('+212712345678');
    expect(normalizePhone('0522123456')).toBe('+212522123456');
    expect(normalizePhone('+212 5 22 12 34 56')).toBe('+212522123456');
  });

  it('accepts the national number without its leading 0', () => {
    expect(normalizePhone('612345678')).toBe(MA_MOBILE);
    expect(normalizePhone('6 12 34 56 78')).toBe(MA_MOBILE);
  });

  it('keeps foreign numbers written internationally', () => {
    expect(normalizePhone('+33 6 12 34 56 78')).toBe('+33612345678');
    expect(normalizePhone('0033612345678')).toBe('+33612345678');
    expect(normalizePhone('0033 6 12 34 56 78')).toBe('+33612345678');
    expect(normalizePhone('33612345678')).toBe('+33612345678');
    expect(normalizePhone('+33 (0)6 12 34 56 78')).toBe('+33612345678');
    expect(normalizePhone('+1 415 555 2671')).toBe('+14155552671');
    expect(normalizePhone('14155552671')).toBe('+14155552671');
  });

  it('tolerates annotations CRMs keep in free-text phone fields', () => {
    expect(normalizePhone('0612345678 (mobile)')).toBe(MA_MOBILE);
    expect(normalizePhone('+212 6 12 34 56 78 ext. 5')).toBe(MA_MOBILE);
  });

  it.each([
    [null],
    [undefined],
    [''],
    ['   '],
    ['abc'],
    ['+'],
    ['00'],
    ['123'],
    ['0612'],
    ['+2126'],
    ['06 12 34 56 7'], // one digit short
    ['06123456789'], // one digit too many
    ['+212612345678999'],
    ['2126123456789'],
    ['12345678901234567890'],
    ['0000000000'],
    ['+33 6 12 34 56 78 9'],
    ['06 12 34 56 78 / 06 98 76 54 32'], // two numbers glued together are not one number
  ])('rejects %j', (input) => {
    expect(normalizePhone(input)).toBeNull();
  });
});

describe('normalizePhone (default country France)', () => {
  it('reads French national numbers as +33', () => {
    expect(normalizePhone('06 12 34 56 78', 'FR')).toBe('+33612345678');
    expect(normalizePhone('06.12.34.56.78', 'FR')).toBe('+33612345678');
    expect(normalizePhone('01 42 68 53 00', 'FR')).toBe('+33142685300');
  });

  it('still reads explicit international Moroccan numbers as +212', () => {
    expect(normalizePhone('+212 6 12 34 56 78', 'FR')).toBe(MA_MOBILE);
    expect(normalizePhone('00212612345678', 'FR')).toBe(MA_MOBILE);
    expect(normalizePhone('212612345678', 'FR')).toBe(MA_MOBILE);
  });

  it('rejects a Moroccan-only national number that is invalid in France', () => {
    expect(normalizePhone('0712345678', 'FR')).toBeNull();
  });
});

describe('waIdToE164', () => {
  it('adds the plus to a WhatsApp wa_id', () => {
    expect(waIdToE164('212612345678')).toBe(MA_MOBILE);
    expect(waIdToE164('33612345678')).toBe('+33612345678');
  });

  it('returns null for BSUID-only users and junk', () => {
    expect(waIdToE164('')).toBeNull();
    expect(waIdToE164(null)).toBeNull();
    expect(waIdToE164(undefined)).toBeNull();
    expect(waIdToE164('abc')).toBeNull();
    expect(waIdToE164('123')).toBeNull();
  });
});

describe('samePhone', () => {
  it('matches different spellings of one line', () => {
    expect(samePhone('06 12 34 56 78', '+212612345678')).toBe(true);
    expect(samePhone('00212 612 345 678', '212612345678')).toBe(true);
    expect(samePhone('+33 6 12 34 56 78', '0033612345678')).toBe(true);
  });

  it('does not match different lines, or unparseable values with themselves', () => {
    expect(samePhone('0612345678', '0612345679')).toBe(false);
    // Same digits, different countries.
    expect(samePhone('+212612345678', '+33612345678')).toBe(false);
    expect(samePhone('abc', 'abc')).toBe(false);
    expect(samePhone(null, null)).toBe(false);
    expect(samePhone('', '')).toBe(false);
  });

  it('uses the default country for national spellings', () => {
    expect(samePhone('06 12 34 56 78', '+33612345678', 'FR')).toBe(true);
    expect(samePhone('06 12 34 56 78', '+33612345678')).toBe(false);
  });
});

describe('phoneSearchVariants', () => {
  it('lists the usual spellings of a Moroccan mobile, E.164 first, without duplicates', () => {
    const v = phoneSearchVariants(MA_MOBILE);
    expect(v[0]).toBe(MA_MOBILE);
    expect(v).toEqual(
      expect.arrayContaining(['+212612345678', '212612345678', '0612345678', '00212612345678', '+212 6 12 34 56 78', '06 12 34 56 78']),
    );
    expect(new Set(v).size).toBe(v.length);
    // Every variant normalizes back to the same line.
    for (const s of v) expect(normalizePhone(s)).toBe(MA_MOBILE);
  });

  it('lists French spellings for a French number', () => {
    const v = phoneSearchVariants('+33612345678');
    expect(v).toEqual(expect.arrayContaining(['+33612345678', '33612345678', '0612345678', '0033612345678']));
    for (const s of v) expect(normalizePhone(s, 'FR')).toBe('+33612345678');
  });

  it('returns the input alone when it is not E.164', () => {
    expect(phoneSearchVariants('garbage')).toEqual(['garbage']);
  });
});
