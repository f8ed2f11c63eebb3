import { describe, expect, it } from 'vitest';
import { isOptIn, isOptOut, keywordIntent, MAX_TOKENS } from './opt-out-keywords.js';

describe('isOptOut', () => {
  const optOuts = [
    'STOP',
    'stop',
    'Stop!',
    'STOP STOP STOP',
    'stop please',
    'arrêt',
    'arreter',
    'Arrêtez svp',
    'désabonner',
    'me désabonner svp',
    "Arrêtez de m'envoyer des messages",
    'baraka',
    'Baraka men les messages',
    'barakaaa',
    'ma bghitch',
    'ma bghitch had les messages',
    'safi ma tsiftouch',
    'ma tsifto liya walo 3afak',
    'توقف',
    'بركا',
    'ما بغيتش',
    'الغاء الاشتراك',
    'إلغاء الاشتراك من فضلك',
    'صافي ما تصيفطوش',
    'unsubscribe',
    'Unsubscribe please',
    'stop sending me messages',
    'remove me from your list',
  ];
  for (const text of optOuts) {
    it(`opts out on ${JSON.stringify(text)}`, () => {
      const result = isOptOut(text);
      expect(result.optOut).toBe(true);
      expect(result.matched).toEqual(expect.any(String));
    });
  }

  const ordinary = [
    'the bus stop near your shop?',
    'is there a bus stop near your shop?',
    'baraka allahou fik',
    'barak allah fik khoya',
    'بارك الله فيك',
    'ma bghitch size M, bghit L',
    'ما بغيتش الكحل، عطيني الزرق',
    'je veux arrêter ma commande',
    'non-stop delivery?',
    'stop, which size is the red one?',
    'ok',
    'merci',
    '',
    '🛑',
  ];
  for (const text of ordinary) {
    it(`does not opt out on ${JSON.stringify(text)}`, () => {
      expect(isOptOut(text)).toEqual({ optOut: false, matched: null });
    });
  }

  it('reports the canonical command that matched', () => {
    expect(isOptOut('Baraka men les messages').matched).toBe('baraka');
    expect(isOptOut('STOP!!').matched).toBe('stop');
  });

  it('ignores messages longer than MAX_TOKENS even if every word is a keyword', () => {
    expect(isOptOut(Array.from({ length: MAX_TOKENS + 1 }, () => 'stop').join(' ')).optOut).toBe(false);
  });

  it('accepts the tenant’s extra words with the same whole-message rule', () => {
    expect(isOptOut('HALT', ['halt'])).toEqual({ optOut: true, matched: 'halt' });
    expect(isOptOut('no promo svp', ['No Promo']).optOut).toBe(true);
    expect(isOptOut('halt', []).optOut).toBe(false);
    expect(isOptOut('halt at the corner', ['halt']).optOut).toBe(false);
  });
});

describe('isOptIn', () => {
  for (const text of ['START', 'start', 'Start again please', 'bghit nrje3', 'bghit nrj3 lmessages', 'ابدأ', 'subscribe', 'بغيت نرجع']) {
    it(`opts in on ${JSON.stringify(text)}`, () => {
      expect(isOptIn(text).optIn).toBe(true);
    });
  }
  for (const text of ['start time of the sale?', 'bghit nrje3 had sac', 'stop', 'when does the shop start opening on Sunday']) {
    it(`does not opt in on ${JSON.stringify(text)}`, () => {
      expect(isOptIn(text)).toEqual({ optIn: false, matched: null });
    });
  }
});

describe('keywordIntent (both questions, one normalization)', () => {
  const samples = ['STOP!!', 'baraka men les messages', 'START', 'bghit nrje3', 'ابدأ', 'توقف', 'salam, wach kayn livraison?', 'halt', 'HALT svp', 'no promo', ''];
  for (const extra of [[], ['halt'], ['No Promo', 'halt']]) {
    it(`answers exactly what isOptOut and isOptIn answer (extra words ${JSON.stringify(extra)})`, () => {
      for (const text of samples) expect(keywordIntent(text, extra)).toEqual({ optOut: isOptOut(text, extra), optIn: isOptIn(text) });
    });
  }

  it('keeps one tenant’s words apart from another’s (inventories are cached per word list)', () => {
    expect(keywordIntent('halt', ['halt']).optOut.optOut).toBe(true);
    expect(keywordIntent('halt', ['pause']).optOut.optOut).toBe(false);
    expect(keywordIntent('pause', ['pause']).optOut.optOut).toBe(true);
    expect(keywordIntent('halt', []).optOut.optOut).toBe(false);
  });
});
