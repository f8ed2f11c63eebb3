import { describe, expect, it } from 'vitest';
import type { MessageTemplateDefinition } from './graph-client.js';
import { summarizeTemplate, TemplateCatalog } from './templates.js';

const body = (text: string) => ({ type: 'BODY', text });
const tpl = (over: Partial<MessageTemplateDefinition>): MessageTemplateDefinition => ({ name: 't', language: 'fr', status: 'APPROVED', category: 'UTILITY', components: [body('Hi')], ...over });

describe('summarizeTemplate', () => {
  it('lists body placeholders in order of first appearance, positional or named', () => {
    expect(summarizeTemplate(tpl({ components: [body('Bonjour {{1}}, commande {{2}} ({{1}})')] })).parameters).toEqual({ format: 'positional', names: ['1', '2'] });
    expect(summarizeTemplate(tpl({ parameter_format: 'NAMED', components: [body('Salam {{ first_name }}, code {{code}}')] })).parameters).toEqual({ format: 'named', names: ['first_name', 'code'] });
    expect(summarizeTemplate(tpl({ components: [{ type: 'FOOTER', text: 'x' }] }))).toMatchObject({ body: '', parameters: { names: [] }, sendable: true });
  });

  it('marks what a reply box cannot fill as unsendable, with the reason', () => {
    const reason = (t: Partial<MessageTemplateDefinition>) => summarizeTemplate(tpl(t)).unsendable_reason;
    expect(reason({ components: [{ type: 'HEADER', format: 'IMAGE' }, body('x')] })).toBe('needs an image header');
    expect(reason({ components: [{ type: 'HEADER', format: 'DOCUMENT' }, body('x')] })).toBe('needs a document header');
    expect(reason({ components: [{ type: 'HEADER', format: 'TEXT', text: 'Order {{1}}' }, body('x')] })).toBe('needs a header parameter');
    expect(reason({ components: [{ type: 'HEADER', format: 'TEXT', text: 'Hello' }, body('x')] })).toBeNull();
    expect(reason({ components: [body('x'), { type: 'BUTTONS', buttons: [{ type: 'QUICK_REPLY', text: 'Yes' }, { type: 'URL', text: 'Track', url: 'https://t.ma/{{1}}' }] }] })).toBe('needs a value for button 2 (dynamic URL)');
    expect(reason({ components: [body('x'), { type: 'BUTTONS', buttons: [{ type: 'URL', text: 'Shop', url: 'https://shop.ma' }] }] })).toBeNull();
    expect(reason({ components: [body('x'), { type: 'BUTTONS', buttons: [{ type: 'COPY_CODE', text: 'Copy' }] }] })).toBe('needs a code for button 1');
    expect(reason({ category: 'AUTHENTICATION' })).toMatch(/authentication/);
    expect(reason({ components: [body('x'), { type: 'CAROUSEL' }] })).toBe('has a carousel component');
  });
});

describe('TemplateCatalog', () => {
  function fakeGraph(list: () => Promise<MessageTemplateDefinition[]>) {
    const calls: Array<{ wabaId: string; status: string | undefined; tokenOf: string | undefined }> = [];
    return {
      calls,
      graph: {
        listMessageTemplates: async (wabaId: string, o: { status?: string; tokenOf?: string } = {}) => {
          calls.push({ wabaId, status: o.status, tokenOf: o.tokenOf });
          return list();
        },
      },
    };
  }

  it('asks Meta for approved templates once per TTL and shares a load between concurrent callers', async () => {
    let now = 1_000_000;
    const g = fakeGraph(async () => [tpl({ name: 'b' }), tpl({ name: 'a', language: 'en' }), tpl({ name: 'a', language: 'ar' }), tpl({ name: 'paused', status: 'PAUSED' })]);
    const catalog = new TemplateCatalog({ graph: g.graph, ttlMs: 60_000, now: () => now });
    const [one, two] = await Promise.all([catalog.list('waba1', '111'), catalog.list('waba1', '111')]);
    expect(g.calls).toEqual([{ wabaId: 'waba1', status: 'APPROVED', tokenOf: '111' }]);
    expect(one.templates.map((t) => `${t.name}/${t.language}`)).toEqual(['a/ar', 'a/en', 'b/fr']);
    expect(two).toEqual(one);
    now += 59_000;
    await catalog.list('waba1', '111');
    expect(g.calls).toHaveLength(1);
    now += 2_000;
    await catalog.list('waba1', '111');
    expect(g.calls).toHaveLength(2);
    await catalog.list('waba2', '222');
    expect(g.calls.at(-1)).toEqual({ wabaId: 'waba2', status: 'APPROVED', tokenOf: '222' });
  });

  it('serves the last list as stale when Meta fails after the TTL, and fails when nothing was ever read', async () => {
    let now = 0;
    let fail = false;
    const g = fakeGraph(async () => {
      if (fail) throw new Error('graph down');
      return [tpl({ name: 'x' })];
    });
    const catalog = new TemplateCatalog({ graph: g.graph, ttlMs: 1000, now: () => now });
    await expect(catalog.list('w', '1')).resolves.toMatchObject({ stale: false });
    fail = true;
    now = 5000;
    const stale = await catalog.list('w', '1');
    expect(stale).toMatchObject({ stale: true, templates: [expect.objectContaining({ name: 'x' })] });
    expect(stale.fetchedAt.getTime()).toBe(0);
    await expect(catalog.list('other', '1')).rejects.toThrow('graph down');
  });
});
