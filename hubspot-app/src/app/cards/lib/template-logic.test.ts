import { describe, expect, it } from 'vitest';
import { templatesResponseSchema, type ApprovedTemplate } from './contract.js';
import { checkParameters, findTemplate, parameterFields, parameterProblem, previewBody, templateListView, templatePickerOptions, templateValue, unsendableSummary } from './template-logic.js';
import { sampleTemplates } from '../../../../test/fixtures.js';

// The template picker's decisions: what is offered, which inputs, what is sent, what is previewed.

const parsed = (overrides: Parameters<typeof sampleTemplates>[0] = {}) => templatesResponseSchema.parse(sampleTemplates(overrides));
const byName = (name: string): ApprovedTemplate => parsed().templates.find((t) => t.name === name)!;

describe('templates answer', () => {
  it('parses the contract\'s answer and refuses one without parameters', () => {
    const res = parsed();
    expect(res.templates.map((t) => templateValue(t))).toEqual(['delivery_slot|fr', 'hello_world|en_US', 'order_shipped|fr', 'promo_photo|ar']);
    expect(res.stale).toBe(false);
    const broken = { ...sampleTemplates(), templates: [{ name: 'x', language: 'fr', category: 'UTILITY', body: 'x', sendable: true }] };
    expect(templatesResponseSchema.safeParse(broken).success).toBe(false);
    // A template without a text body comes as '' (or null): no preview, not an error.
    const noBody = templatesResponseSchema.parse({ templates: [{ ...sampleTemplates().templates[1], body: null }], stale: false, fetched_at: null });
    expect(previewBody(noBody.templates[0]!, {})).toBeNull();
  });
});

describe('picker', () => {
  it('offers only sendable templates, one option per name and language', () => {
    expect(templatePickerOptions(parsed().templates)).toEqual([
      { label: 'delivery_slot (fr)', value: 'delivery_slot|fr' },
      { label: 'hello_world (en_US)', value: 'hello_world|en_US' },
      { label: 'order_shipped (fr)', value: 'order_shipped|fr' },
    ]);
    expect(findTemplate(parsed().templates, 'order_shipped|fr')?.name).toBe('order_shipped');
    // An unsendable template cannot be chosen even by value.
    expect(findTemplate(parsed().templates, 'promo_photo|ar')).toBeNull();
    expect(findTemplate(parsed().templates, 'order_shipped|en')).toBeNull();
    expect(findTemplate(parsed().templates, null)).toBeNull();
  });

  it('says why some approved templates are not offered', () => {
    expect(unsendableSummary(parsed().templates)).toBe('1 approved template cannot be sent from here: needs an image header.');
    const two = parsed({
      templates: [
        { ...sampleTemplates().templates[3]! },
        { ...sampleTemplates().templates[3]!, name: 'otp', category: 'AUTHENTICATION', unsendable_reason: 'authentication template' },
        { ...sampleTemplates().templates[3]!, name: 'promo_2' },
      ],
    });
    expect(unsendableSummary(two.templates)).toBe('3 approved templates cannot be sent from here: needs an image header; authentication template.');
    expect(unsendableSummary(parsed({ templates: [sampleTemplates().templates[1]!] }).templates)).toBeNull();
  });

  it('explains an empty list and a stale one', () => {
    const view = templateListView(parsed(), 'UTC');
    expect(view.options).toHaveLength(3);
    expect(view.empty).toBeNull();
    expect(view.stale).toBeNull();

    expect(templateListView(parsed({ templates: [] })).empty).toMatch(/has no approved templates/);
    const onlyUnsendable = templateListView(parsed({ templates: [sampleTemplates().templates[3]!] }));
    expect(onlyUnsendable.empty).toBe('None of the approved templates can be sent from this card.');
    expect(onlyUnsendable.unsendable).toMatch(/needs an image header/);

    expect(templateListView(parsed({ stale: true }), 'Asia/Tokyo').stale).toEqual({ label: 'Template list may be out of date (from 25 Nov, 20:58)', variant: 'warning' });
    expect(templateListView(templatesResponseSchema.parse({ templates: [], stale: true, fetched_at: null })).stale?.label).toBe('Template list may be out of date');
  });
});

describe('parameters', () => {
  it('labels positional placeholders "Parameter n" and named ones by their name', () => {
    expect(parameterFields(byName('order_shipped'))).toEqual([
      { name: '1', label: 'Parameter 1' },
      { name: '2', label: 'Parameter 2' },
    ]);
    expect(parameterFields(byName('delivery_slot'))).toEqual([
      { name: 'first_name', label: 'first_name' },
      { name: 'slot', label: 'slot' },
    ]);
    expect(parameterFields(byName('hello_world'))).toEqual([]);
  });

  it('sends an array for positional placeholders, in order, trimmed', () => {
    expect(checkParameters(byName('order_shipped'), { '2': ' CMD-1042 ', '1': 'Salma' })).toEqual({ ok: true, bodyParameters: ['Salma', 'CMD-1042'] });
  });

  it('sends an object keyed by name for named placeholders', () => {
    expect(checkParameters(byName('delivery_slot'), { first_name: 'Salma', slot: 'demain matin', extra: 'ignored' })).toEqual({ ok: true, bodyParameters: { first_name: 'Salma', slot: 'demain matin' } });
  });

  it('sends no body_parameters for a template without placeholders', () => {
    expect(checkParameters(byName('hello_world'), {})).toEqual({ ok: true, bodyParameters: undefined });
  });

  it('names every placeholder that is missing or that WhatsApp would refuse', () => {
    expect(checkParameters(byName('order_shipped'), { '1': '   ' })).toEqual({ ok: false, problems: { '1': 'Required', '2': 'Required' } });
    expect(checkParameters(byName('delivery_slot'), { first_name: 'Salma', slot: 'ligne 1\nligne 2' })).toEqual({ ok: false, problems: { slot: 'No line breaks or tabs' } });
    expect(parameterProblem('a\tb')).toBe('No line breaks or tabs');
    expect(parameterProblem('a     b')).toBe('No more than 4 spaces in a row');
    expect(parameterProblem('a    b')).toBeNull();
    expect(parameterProblem('x'.repeat(1025))).toBe('At most 1024 characters');
    expect(parameterProblem('x'.repeat(1024))).toBeNull();
  });
});

describe('preview', () => {
  it('fills the values given and leaves the other placeholders visible', () => {
    expect(previewBody(byName('order_shipped'), {})).toBe('Bonjour {{1}}, votre commande {{2}} est en route.');
    expect(previewBody(byName('order_shipped'), { '1': 'Salma', '2': ' ' })).toBe('Bonjour Salma, votre commande {{2}} est en route.');
    expect(previewBody(byName('delivery_slot'), { first_name: 'Salma', slot: 'demain' })).toBe('Bonjour Salma, votre livraison arrive demain.');
    expect(previewBody(byName('hello_world'), {})).toBe('Hello World');
  });
});
