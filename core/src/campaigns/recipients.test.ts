import { describe, expect, it } from 'vitest';
import { CsvFormatError, parseCsv, recipientsFromCsv, recipientsFromList, resolveBodyParameters } from './recipients.js';

describe('parseCsv', () => {
  it('handles quotes, escaped quotes, embedded newlines, CRLF, a BOM and blank lines', () => {
    const rows = parseCsv('\ufeffphone,name,var1\r\n"0612345678","Benali, Youssef","say ""salam""\nthen go"\r\n\r\n0698765432,Sara,x\n');
    expect(rows).toEqual([
      { line: 1, cells: ['phone', 'name', 'var1'] },
      { line: 2, cells: ['0612345678', 'Benali, Youssef', 'say "salam"\nthen go'] },
      { line: 5, cells: ['0698765432', 'Sara', 'x'] },
    ]);
  });
  it('detects ";" separated files (French-locale spreadsheets)', () => {
    expect(parseCsv('phone;name\n0612345678;Amine')[1]!.cells).toEqual(['0612345678', 'Amine']);
  });
  it('rejects an unterminated quote with its line', () => {
    expect(() => parseCsv('phone\n"0612')).toThrow(/line 2/);
  });
});

describe('recipientsFromCsv', () => {
  const csv = [
    'phone,name,var1,var2,notes',
    '0612345678,Youssef,ORD-1,20 dh,vip',
    '+212 6 12 34 56 78,Youssef again,ORD-1,20 dh,', // same number, other spelling
    '00212698765432,Sara,ORD-2,35 dh,',
    'not a phone,Bad,ORD-3,10 dh,',
    ',Empty,ORD-4,10 dh,',
    '0677777777,NoVar,,10 dh,',
    '+33612345678,Claire,ORD-5,12 €,',
  ].join('\n');

  it('normalizes phones, reports invalid rows and collapses duplicates', () => {
    const list = recipientsFromCsv(csv);
    expect(list.recipients).toEqual([
      { phone: '+212612345678', waId: '212612345678', name: 'Youssef', variables: ['ORD-1', '20 dh'] },
      { phone: '+212698765432', waId: '212698765432', name: 'Sara', variables: ['ORD-2', '35 dh'] },
      { phone: '+33612345678', waId: '33612345678', name: 'Claire', variables: ['ORD-5', '12 €'] },
    ]);
    expect(list.duplicates).toEqual([{ line: 3, phone: '+212 6 12 34 56 78', firstLine: 2 }]);
    expect(list.invalid.map((i) => [i.line, i.reason.split(' (')[0]])).toEqual([
      [5, 'not a valid phone number'],
      [6, 'phone is empty'],
      [7, 'var1 is empty'],
    ]);
    expect(list.ignoredColumns).toEqual(['notes']);
  });

  it('explains header problems', () => {
    expect(() => recipientsFromCsv('')).toThrow(CsvFormatError);
    expect(() => recipientsFromCsv('name,var1\nA,b')).toThrow(/no "phone" column/);
    expect(() => recipientsFromCsv('phone,var1,var3\n0612345678,a,b')).toThrow(/var1..varN without gaps/);
  });
});

describe('recipientsFromList and parameters', () => {
  it('reports list positions 1-based', () => {
    const list = recipientsFromList([{ phone: '0612345678' }, { phone: '12' }, { phone: '212612345678' }]);
    expect(list.recipients).toHaveLength(1);
    expect(list.invalid[0]).toMatchObject({ line: 2, phone: '12' });
    expect(list.duplicates[0]).toEqual({ line: 3, phone: '212612345678', firstLine: 1 });
  });
  it('resolves {{name}} and {{varN}} placeholders, or the variables in order', () => {
    const r = { name: 'Sara', variables: ['ORD-2', '35 dh'] };
    expect(resolveBodyParameters(null, r)).toEqual(['ORD-2', '35 dh']);
    expect(resolveBodyParameters(['{{name}}', 'commande {{ var1 }} ({{var2}})'], r)).toEqual(['Sara', 'commande ORD-2 (35 dh)']);
    expect(() => resolveBodyParameters(['{{var3}}'], r)).toThrow(/var3/);
  });
});
