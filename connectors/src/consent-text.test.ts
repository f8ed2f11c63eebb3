import { describe, expect, it } from 'vitest';
import { consentSource, consentSourceLabel } from './consent-text.js';

describe('consent source in the CRMs', () => {
  it('names WhatsApp\'s own signals "WhatsApp: …" apart from a keyword', () => {
    expect(consentSourceLabel({ source: 'whatsapp', action: 'opt_out', detail: 'stop: User requested to stop marketing messages' })).toBe('WhatsApp: stop promotions');
    expect(consentSourceLabel({ source: 'whatsapp', action: 'opt_in', detail: 'resume: User requested to resume marketing messages' })).toBe('WhatsApp: resume promotions');
    expect(consentSourceLabel({ source: 'whatsapp', action: 'opt_in', detail: 'signed up (signup 889)' })).toBe('WhatsApp: signed up');
    expect(consentSourceLabel({ source: '131050', action: 'opt_out', detail: null })).toBe('WhatsApp: stop promotions');
    expect(consentSourceLabel({ source: 'keyword', action: 'opt_out', detail: 'baraka' })).toBe('keyword');
  });

  it('explains each source in a sentence that starts with the label', () => {
    expect(consentSource({ source: 'whatsapp', action: 'opt_out', detail: null })).toBe('WhatsApp: stop promotions (the customer turned off marketing messages from this business in WhatsApp)');
    expect(consentSource({ source: 'whatsapp', action: 'opt_in', detail: null })).toMatch(/^WhatsApp: resume promotions \(/);
    expect(consentSource({ source: '131050', action: 'opt_out', detail: null })).toMatch(/^WhatsApp: stop promotions \(.*error 131050\)$/);
    expect(consentSource({ source: 'keyword', action: 'opt_out', detail: 'baraka' })).toBe('keyword: the customer wrote "baraka"');
  });
});
