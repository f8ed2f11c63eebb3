import { parsePhoneNumberFromString, type CountryCode } from 'libphonenumber-js/max';

/**
 * Phone identity for matching WhatsApp users to CRM records. WhatsApp gives digits without '+'
 * (wa_id "212612345678"); people type Moroccan numbers as 06…, 07…, +212 6…, 212 6…, 00212…,
 * with spaces, dots and dashes. Everything is compared in E.164.
 */
export function normalizePhone(input: string | null | undefined, defaultCountry: CountryCode = 'MA'): string | null {
  if (!input) return null;
  let s = input.trim();
  if (s === '') return null;
  s = s.replace(/[\s.\-()/]/g, '');
  if (s.startsWith('00')) s = `+${s.slice(2)}`;
  // A bare international number without '+' ("2126…", a WhatsApp wa_id) is tried as international first.
  if (/^\d{11,15}$/.test(s) && !s.startsWith('0')) {
    const intl = parsePhoneNumberFromString(`+${s}`);
    if (intl?.isValid()) return intl.number;
  }
  const parsed = parsePhoneNumberFromString(s, defaultCountry);
  if (parsed?.isValid()) return parsed.number;
  return null;
}

/** E.164 from a WhatsApp wa_id ("212612345678" → "+212612345678"); null for empty (BSUID-only users). */
export function waIdToE164(waId: string | null | undefined): string | null {
  if (!waId) return null;
  const digits = waId.replace(/\D/g, '');
  if (digits === '') return null;
  return normalizePhone(`+${digits}`);
}

/** True when two free-text phone numbers denote the same line. */
export function samePhone(a: string | null | undefined, b: string | null | undefined, defaultCountry: CountryCode = 'MA'): boolean {
  const na = normalizePhone(a, defaultCountry);
  return na !== null && na === normalizePhone(b, defaultCountry);
}

/**
 * The spellings a CRM's free-text phone field may hold for one number, for CRMs whose search is a
 * plain string match: E.164, digits only, national (0612345678), 00-prefixed, and the national
 * format with spaces. Most specific first.
 */
export function phoneSearchVariants(e164: string): string[] {
  const parsed = parsePhoneNumberFromString(e164);
  if (!parsed) return [e164];
  const digits = parsed.number.slice(1);
  const national = parsed.formatNational().replace(/[\s.\-()]/g, '');
  const variants = [
    parsed.number,
    digits,
    national,
    `00${digits}`,
    parsed.formatInternational(),
    parsed.formatNational(),
  ];
  return [...new Set(variants)];
}
