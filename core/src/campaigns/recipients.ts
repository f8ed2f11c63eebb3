import { normalizePhone } from '@coex/connectors';
import { isBsuid } from '../outbound/graph-client.js';

/** ISO country used to read national-format numbers ("06…"), e.g. 'MA'. */
export type CountryCode = NonNullable<Parameters<typeof normalizePhone>[1]>;

/**
 * Campaign recipient lists: CSV text (columns phone, name, var1..varN) or a JSON list, turned into
 * WhatsApp ids with the same phone normalization the CRM connectors use. Invalid rows are reported
 * with their line number, duplicates (the same number spelled differently) are collapsed to the
 * first occurrence and reported too.
 */

export interface RecipientInput {
  phone: string;
  name?: string | null | undefined;
  variables?: readonly string[] | undefined;
}

export interface PreparedRecipient {
  /** E.164, e.g. +212612345678 — or, for a customer known only by it, the BSUID as given. */
  phone: string;
  /** Digits of the E.164 number (what the Cloud API takes as `to`), or the BSUID (sent as `recipient`). */
  waId: string;
  name: string | null;
  variables: string[];
}

export interface InvalidRow {
  /** 1-based line in the CSV (header = line 1), or 1-based position in a JSON list. */
  line: number;
  phone: string;
  reason: string;
}

export interface DuplicateRow {
  line: number;
  phone: string;
  /** Line of the occurrence that was kept. */
  firstLine: number;
}

export interface PreparedList {
  recipients: PreparedRecipient[];
  invalid: InvalidRow[];
  duplicates: DuplicateRow[];
  /** CSV columns that are neither phone, name nor varN. */
  ignoredColumns: string[];
}

export class CsvFormatError extends Error {
  override readonly name = 'CsvFormatError';
}

/** Largest list accepted in one request; bigger campaigns are split by the caller. */
export const MAX_RECIPIENTS = 100_000;
const MAX_VARIABLES = 20;
const MAX_VARIABLE_LENGTH = 1024;

/**
 * RFC 4180 CSV: quoted fields with "" escapes and embedded newlines, CRLF or LF, a UTF-8 BOM, and
 * ';' as separator when the header uses it (spreadsheets in French locales export that way).
 * Returns rows with their starting line numbers.
 */
export function parseCsv(text: string): Array<{ line: number; cells: string[] }> {
  const src = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  const firstLine = src.slice(0, src.search(/\r?\n|$/));
  const sep = (firstLine.match(/;/g)?.length ?? 0) > (firstLine.match(/,/g)?.length ?? 0) ? ';' : ',';
  const rows: Array<{ line: number; cells: string[] }> = [];
  let cells: string[] = [];
  let cell = '';
  let quoted = false;
  let line = 1;
  let rowLine = 1;
  let fieldStart = true;
  for (let i = 0; i < src.length; i++) {
    const ch = src[i]!;
    if (quoted) {
      if (ch === '"') {
        if (src[i + 1] === '"') {
          cell += '"';
          i++;
        } else quoted = false;
      } else {
        if (ch === '\n') line++;
        cell += ch;
      }
      continue;
    }
    if (ch === '"' && fieldStart) {
      quoted = true;
      fieldStart = false;
    } else if (ch === sep) {
      cells.push(cell);
      cell = '';
      fieldStart = true;
    } else if (ch === '\n' || ch === '\r') {
      if (ch === '\r' && src[i + 1] === '\n') i++;
      cells.push(cell);
      rows.push({ line: rowLine, cells });
      cells = [];
      cell = '';
      fieldStart = true;
      line++;
      rowLine = line;
    } else {
      cell += ch;
      fieldStart = false;
    }
  }
  if (quoted) throw new CsvFormatError(`unterminated quoted field starting on line ${rowLine}`);
  if (cell !== '' || cells.length > 0) {
    cells.push(cell);
    rows.push({ line: rowLine, cells });
  }
  // Blank lines carry no recipient.
  return rows.filter((r) => r.cells.some((c) => c.trim() !== ''));
}

const PHONE_HEADERS = new Set(['phone', 'phone_number', 'telephone', 'tel', 'mobile', 'wa_id', 'whatsapp']);

/** Parses a recipients CSV (header row required, with a `phone` column). */
export function recipientsFromCsv(text: string, defaultCountry: CountryCode = 'MA'): PreparedList {
  const rows = parseCsv(text);
  const header = rows.shift();
  if (!header) throw new CsvFormatError('the CSV is empty: expected a header row with at least a "phone" column');
  const names = header.cells.map((h) => h.trim().toLowerCase());
  const phoneCol = names.findIndex((n) => PHONE_HEADERS.has(n));
  if (phoneCol < 0) throw new CsvFormatError(`no "phone" column in the header (got: ${names.join(', ') || 'nothing'})`);
  const nameCol = names.findIndex((n) => n === 'name' || n === 'first_name' || n === 'firstname');
  const varCols: Array<{ index: number; n: number }> = [];
  const ignoredColumns: string[] = [];
  names.forEach((n, index) => {
    const m = /^var_?(\d{1,2})$/.exec(n);
    if (m) varCols.push({ index, n: Number(m[1]) });
    else if (index !== phoneCol && index !== nameCol) ignoredColumns.push(header.cells[index]!.trim());
  });
  varCols.sort((a, b) => a.n - b.n);
  const expected = varCols.map((v, i) => i + 1);
  if (varCols.some((v, i) => v.n !== expected[i])) {
    throw new CsvFormatError(`variable columns must be var1..varN without gaps (got ${varCols.map((v) => `var${v.n}`).join(', ')})`);
  }
  if (varCols.length > MAX_VARIABLES) throw new CsvFormatError(`at most ${MAX_VARIABLES} variable columns`);
  const inputs = rows.map((r) => ({
    line: r.line,
    input: {
      phone: r.cells[phoneCol] ?? '',
      name: nameCol >= 0 ? (r.cells[nameCol] ?? '') : null,
      variables: varCols.map((v) => r.cells[v.index] ?? ''),
    },
  }));
  return { ...prepare(inputs, defaultCountry), ignoredColumns };
}

/** Prepares a JSON list (positions are reported 1-based as `line`). */
export function recipientsFromList(list: readonly RecipientInput[], defaultCountry: CountryCode = 'MA'): PreparedList {
  return { ...prepare(list.map((input, i) => ({ line: i + 1, input })), defaultCountry), ignoredColumns: [] };
}

function prepare(rows: Array<{ line: number; input: RecipientInput }>, defaultCountry: CountryCode): Omit<PreparedList, 'ignoredColumns'> {
  if (rows.length > MAX_RECIPIENTS) throw new CsvFormatError(`too many recipients: ${rows.length} (at most ${MAX_RECIPIENTS} per campaign)`);
  const recipients: PreparedRecipient[] = [];
  const invalid: InvalidRow[] = [];
  const duplicates: DuplicateRow[] = [];
  const seen = new Map<string, number>();
  for (const { line, input } of rows) {
    const raw = input.phone.trim();
    if (raw === '') {
      invalid.push({ line, phone: raw, reason: 'phone is empty' });
      continue;
    }
    // A customer with a WhatsApp username may be known only by their business-scoped user id.
    const e164 = isBsuid(raw) ? raw : normalizePhone(raw, defaultCountry);
    if (!e164) {
      invalid.push({ line, phone: raw, reason: `not a valid phone number (read with default country ${defaultCountry})` });
      continue;
    }
    const variables = (input.variables ?? []).map((v) => v.trim());
    const emptyVar = variables.findIndex((v) => v === '');
    if (emptyVar >= 0) {
      invalid.push({ line, phone: raw, reason: `var${emptyVar + 1} is empty (WhatsApp rejects empty template parameters)` });
      continue;
    }
    const longVar = variables.findIndex((v) => v.length > MAX_VARIABLE_LENGTH);
    if (longVar >= 0) {
      invalid.push({ line, phone: raw, reason: `var${longVar + 1} is longer than ${MAX_VARIABLE_LENGTH} characters` });
      continue;
    }
    const first = seen.get(e164);
    if (first !== undefined) {
      duplicates.push({ line, phone: raw, firstLine: first });
      continue;
    }
    seen.set(e164, line);
    const name = input.name?.trim() || null;
    recipients.push({ phone: e164, waId: isBsuid(e164) ? e164 : e164.slice(1), name, variables });
  }
  return { recipients, invalid, duplicates };
}

/**
 * Template body parameters for one recipient. `spec` entries may reference {{name}} and {{varN}}
 * (and mix them with literal text); without a spec the recipient's variables are used in order.
 */
export function resolveBodyParameters(spec: readonly string[] | null, recipient: { name: string | null; variables: readonly string[] }): string[] {
  if (!spec) return [...recipient.variables];
  return spec.map((entry) =>
    entry.replace(/\{\{\s*(name|var(\d{1,2}))\s*\}\}/gi, (_m, key: string, n: string | undefined) => {
      if (n !== undefined) {
        const v = recipient.variables[Number(n) - 1];
        if (v === undefined) throw new RangeError(`{{var${n}}} is not set for this recipient`);
        return v;
      }
      return recipient.name ?? '';
    }),
  );
}
