import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

/** The thread-view logic the Zoho widget and the Odoo panel each ship must stay identical. */
function sharedBlock(path: string): string {
  const text = readFileSync(new URL(path, import.meta.url), 'utf8');
  const start = text.indexOf('// <shared-thread-logic>');
  const end = text.indexOf('// </shared-thread-logic>');
  expect(start, `${path} has the start marker`).toBeGreaterThanOrEqual(0);
  expect(end, `${path} has the end marker`).toBeGreaterThan(start);
  return text.slice(text.indexOf('\n', text.indexOf('Edit both.', start)) + 1, end);
}

describe('shared thread-view logic of the in-CRM UIs', () => {
  it('is the same code in the Zoho widget and the Odoo panel', () => {
    const zoho = sharedBlock('../connectors/src/zoho/widget/app/widget-core.js');
    const odoo = sharedBlock('../odoo-addon-bridge/coex_whatsapp_bridge/static/src/thread_panel/thread_logic.js');
    expect(zoho.length).toBeGreaterThan(2000);
    expect(zoho).toBe(odoo);
  });
});
