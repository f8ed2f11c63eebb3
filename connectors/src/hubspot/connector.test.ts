import { FilterOperatorEnum } from '@hubspot/api-client/lib/codegen/crm/contacts/index.js';
import { describe, expect, it } from 'vitest';
import { CrmError } from '../types.js';
import { HUBSPOT_SEARCH_LIMITS, HubSpotConnector, planHubSpotSearches, toHubSpotCrmError, type HubSpotSearchFilterGroup } from './connector.js';
import { botStateLine, communicationBody, escapeHtml, formatUtc, originLabel, splitName } from './format.js';

const group = (n: number): HubSpotSearchFilterGroup => ({
  filters: Array.from({ length: n }, (_, i) => ({ propertyName: `p${i}`, operator: FilterOperatorEnum.Eq, value: 'x' })),
});

describe('planHubSpotSearches', () => {
  it('keeps up to 5 single-filter groups in one request', () => {
    expect(planHubSpotSearches([group(1), group(1), group(1)])).toHaveLength(1);
    expect(planHubSpotSearches(Array.from({ length: 5 }, () => group(1)))).toHaveLength(1);
  });

  it('splits by group count', () => {
    const plan = planHubSpotSearches(Array.from({ length: 18 }, () => group(1)));
    expect(plan.map((r) => r.length)).toEqual([5, 5, 5, 3]);
  });

  it('splits by total filters (18) even under 5 groups', () => {
    const plan = planHubSpotSearches([group(6), group(6), group(6), group(1)]);
    expect(plan.map((r) => r.reduce((n, g) => n + g.filters.length, 0))).toEqual([18, 1]);
    for (const req of plan) {
      expect(req.length).toBeLessThanOrEqual(HUBSPOT_SEARCH_LIMITS.maxFilterGroups);
    }
  });

  it('rejects a group wider than 6 filters and skips empty groups', () => {
    expect(() => planHubSpotSearches([group(7)])).toThrow(/exceeds/);
    expect(planHubSpotSearches([group(0), group(1)])).toEqual([[group(1)]]);
  });
});

describe('toHubSpotCrmError', () => {
  it('maps SDK ApiExceptions by status', () => {
    const e429 = toHubSpotCrmError({ code: 429, headers: { 'retry-after': '4' }, body: { message: 'slow down' } });
    expect(e429).toMatchObject({ retryable: true, status: 429, retryAfterSeconds: 4 });
    expect(e429.message).toContain('slow down');
    expect(toHubSpotCrmError({ code: 503, headers: {}, body: {} })).toMatchObject({ retryable: true, status: 503 });
    expect(toHubSpotCrmError({ code: 400, headers: { 'retry-after': '4' }, body: { category: 'VALIDATION_ERROR' } })).toMatchObject({
      retryable: false,
      status: 400,
      retryAfterSeconds: undefined,
    });
    expect(toHubSpotCrmError({ code: 404, headers: {} })).toMatchObject({ retryable: false, status: 404 });
  });

  it('maps fetch network failures to retryable and unknown errors to non-retryable', () => {
    expect(toHubSpotCrmError(new TypeError('fetch failed'))).toMatchObject({ retryable: true });
    const refused = Object.assign(new Error('connect'), { cause: { code: 'ECONNREFUSED' } });
    expect(toHubSpotCrmError(refused)).toMatchObject({ retryable: true });
    expect(toHubSpotCrmError(new Error('boom'))).toMatchObject({ retryable: false });
    const same = new CrmError('x', 'hubspot', true, 500);
    expect(toHubSpotCrmError(same)).toBe(same);
  });
});

describe('HubSpotConnector construction', () => {
  it('validates its options', () => {
    expect(() => new HubSpotConnector({ portalId: '1', clientSecret: 's' })).toThrow(/accessToken or tokenProvider/);
    expect(() => new HubSpotConnector({ accessToken: 't', portalId: 'abc', clientSecret: 's' })).toThrow(/portalId/);
    expect(() => new HubSpotConnector({ accessToken: 't', portalId: '1', clientSecret: '' })).toThrow(/clientSecret/);
  });
});

describe('format', () => {
  it('escapes HTML', () => {
    expect(escapeHtml(`<script>alert("x") & 'y'</script>`)).toBe('&lt;script&gt;alert(&quot;x&quot;) &amp; &#39;y&#39;&lt;/script&gt;');
  });

  it('labels every origin', () => {
    expect(originLabel('customer', 'inbound')).toBe('👤 Customer');
    expect(originLabel('app', 'outbound')).toBe('📱 Owner (phone app)');
    expect(originLabel('agent', 'outbound')).toBe('🤖 Agent');
    expect(originLabel('api', 'outbound')).toContain('Team');
    expect(originLabel('history', 'inbound')).toBe('🕓 History import · customer');
    expect(originLabel('history', 'outbound')).toBe('🕓 History import · business');
  });

  it('builds a communication body with line breaks, media placeholder and transcript', () => {
    const base = {
      id: 'm',
      wamid: 'w',
      threadId: 't',
      direction: 'inbound' as const,
      origin: 'customer' as const,
      status: null,
      customerPhone: '+212612345678',
      customerName: null,
      businessPhone: null,
      timestamp: '2026-03-01T09:05:00.000Z',
    };
    expect(communicationBody({ ...base, type: 'text', text: 'a\nb' })).toBe(
      '<p><strong>👤 Customer</strong> · 2026-03-01 09:05 UTC</p><p>a<br>b</p>',
    );
    expect(communicationBody({ ...base, type: 'image', text: null })).toContain('<p>[image]</p>');
    const voice = communicationBody({ ...base, type: 'audio', text: '[voice note 0:12]', transcript: { text: 'salam <3', language: 'ary' } });
    expect(voice).toContain('🎙️ Transcript (ary):</em> salam &lt;3');
  });

  it('formats bot state lines', () => {
    const change = { threadId: 't', customerPhone: null, customerName: null, from: 'active' as const, at: '2026-03-01T10:00:00Z' };
    expect(botStateLine({ ...change, to: 'paused', cause: 'owner replied', pausedUntil: '2026-03-01T12:00:00Z' })).toBe(
      '🤖 Agent paused — reason: owner replied · until 2026-03-01 12:00 UTC',
    );
    expect(botStateLine({ ...change, to: 'active', cause: 'quiet period over', pausedUntil: null })).toBe(
      '🤖 Agent active again — reason: quiet period over',
    );
    expect(botStateLine({ ...change, to: 'handoff_requested', cause: 'customer asked for a person', pausedUntil: null })).toContain('Hand-off');
    expect(botStateLine({ ...change, to: 'off', cause: 'manual', pausedUntil: null })).toContain('turned off');
  });

  it('splits names and formats times', () => {
    expect(splitName('  Amina   El Idrissi ')).toEqual({ firstname: 'Amina', lastname: 'El Idrissi' });
    expect(splitName('Amina')).toEqual({ firstname: 'Amina' });
    expect(splitName(null)).toEqual({});
    expect(splitName('   ')).toEqual({});
    expect(formatUtc('2026-03-01T09:05:59.999Z')).toBe('2026-03-01 09:05 UTC');
    expect(formatUtc('not a date')).toBe('not a date');
  });
});
