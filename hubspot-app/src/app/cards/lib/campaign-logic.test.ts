import { describe, expect, it } from 'vitest';
import { campaignStatusBadge, campaignTotals, campaignView, optOutView, recipientOutcome, topFailures } from './campaign-logic.js';
import { campaignsResponseSchema, type CampaignRecipient } from './contract.js';
import { campaign, sampleCampaigns } from '../../../../test/fixtures.js';

// The "Campaigns" section's decisions: this customer's outcome, campaign totals, the opt-out.

const parsed = (overrides: Parameters<typeof sampleCampaigns>[0] = {}) => campaignsResponseSchema.parse(sampleCampaigns(overrides));
const recipient = (r: Partial<CampaignRecipient>): CampaignRecipient => ({ status: 'sent', message_status: null, error_code: null, error: null, sent_at: null, replied: false, ...r });

describe('campaigns answer', () => {
  it('parses the contract\'s answer, error codes as strings', () => {
    const res = parsed();
    expect(res.campaigns.map((c) => c.name)).toEqual(['Black Friday', 'Soldes Ramadan']);
    expect(res.campaigns[0]!.recipient).toMatchObject({ status: 'failed', error_code: '131049' });
    expect(res.opt_out).toEqual({ source: 'keyword', detail: 'baraka', at: '2026-11-24T10:15:00.000Z' });
    // Without a phone the server answers recipient: null and opt_out: null.
    expect(campaignsResponseSchema.parse({ campaigns: [campaign({ id: 'c', name: 'n' })], opt_out: null }).campaigns[0]!.recipient).toBeNull();
    expect(campaignsResponseSchema.safeParse({ campaigns: [{ ...campaign({ id: 'c', name: 'n' }), counts: { total: 1 } }], opt_out: null }).success).toBe(false);
  });
});

describe("this customer's outcome", () => {
  it('shows the furthest status WhatsApp reported', () => {
    expect(recipientOutcome(recipient({ message_status: 'read' }))).toEqual({ badge: { label: 'Read', variant: 'success' }, detail: null });
    expect(recipientOutcome(recipient({ message_status: 'played' })).badge.label).toBe('Read');
    expect(recipientOutcome(recipient({ message_status: 'delivered' })).badge).toEqual({ label: 'Delivered', variant: 'success' });
    expect(recipientOutcome(recipient({ message_status: 'sent' })).badge).toEqual({ label: 'Sent', variant: 'info' });
    expect(recipientOutcome(recipient({ message_status: 'accepted' })).badge.label).toBe('Sent');
    expect(recipientOutcome(recipient({ status: 'queued' })).badge).toEqual({ label: 'Not sent yet', variant: 'info' });
    expect(recipientOutcome(recipient({ status: 'sending' })).badge.label).toBe('Sending');
  });

  it('shows a failure with its error, also one that failed after Meta accepted it', () => {
    expect(recipientOutcome(recipient({ status: 'failed', error_code: '131026', error: 'Message undeliverable' }))).toEqual({ badge: { label: 'Failed', variant: 'error' }, detail: 'Error 131026: Message undeliverable' });
    expect(recipientOutcome(recipient({ status: 'sent', message_status: 'failed', error_code: '131049', error: null })).detail).toBe('Error 131049');
    expect(recipientOutcome(recipient({ status: 'failed' })).detail).toBe('No reason given');
  });

  it('says why a customer was skipped', () => {
    expect(recipientOutcome(recipient({ status: 'skipped', error: 'opted_out' }))).toEqual({ badge: { label: 'Skipped', variant: 'default' }, detail: 'The customer had opted out of marketing messages' });
    expect(recipientOutcome(recipient({ status: 'skipped', error: 'marketing_limit_24h' })).detail).toMatch(/already got a marketing message/);
    expect(recipientOutcome(recipient({ status: 'skipped', error: 'opted_out_whatsapp' })).detail).toBe('The customer had stopped promotions in WhatsApp');
    expect(recipientOutcome(recipient({ status: 'skipped', error: 'some_new_reason' })).detail).toBe('some new reason');
    expect(recipientOutcome(recipient({ status: 'on_hold' })).badge).toEqual({ label: 'on hold', variant: 'default' });
  });
});

describe('campaign summary', () => {
  it('puts the totals on one line and the top failure codes on another', () => {
    expect(campaignTotals(parsed().campaigns[1]!.counts)).toBe('1,180 sent · 1,100 delivered · 870 read · 6 failed · 95 replied of 1,200');
    expect(topFailures([])).toBeNull();
    const many = ['131049', '131026', '131047', '130472', '131000'].map((code, i) => ({ code, count: 10 - i, example: null }));
    expect(topFailures(many)).toBe('131049 ×10, 131026 ×9, 131047 ×8 and 2 more');
  });

  it('titles each campaign with its name and this customer\'s outcome', () => {
    const [blackFriday, ramadan] = parsed().campaigns.map((c) => campaignView(c, 'UTC'));
    expect(ramadan).toEqual({
      id: 'ca000000-0000-4000-8000-000000000001',
      title: 'Soldes Ramadan: read, replied',
      template: 'promo_ramadan (ar)',
      status: { label: 'Completed', variant: 'success' },
      outcome: { badge: { label: 'Read', variant: 'success' }, detail: null },
      replied: true,
      when: 'Sent 20 Nov, 09:12',
      totals: '1,180 sent · 1,100 delivered · 870 read · 6 failed · 95 replied of 1,200',
      failures: '131049 ×5, 131026 ×1',
    });
    expect(blackFriday!.title).toBe('Black Friday: failed');
    expect(blackFriday!.status).toEqual({ label: 'Running', variant: 'info' });
    expect(blackFriday!.outcome?.detail).toBe('Error 131049: This message was not delivered to maintain healthy ecosystem engagement.');

    const tenantWide = campaignsResponseSchema.parse({ campaigns: [campaign({ id: 'c', name: 'Rentrée', started_at: null, status: 'draft' })], opt_out: null }).campaigns[0]!;
    expect(campaignView(tenantWide, 'UTC')).toMatchObject({ title: 'Rentrée', outcome: null, replied: false, when: 'Created 20 Nov, 08:00' });
    expect(campaignStatusBadge('scheduled')).toEqual({ label: 'Scheduled', variant: 'info' });
    expect(campaignStatusBadge('paused').variant).toBe('warning');
    expect(campaignStatusBadge('archived_by_admin')).toEqual({ label: 'archived by admin', variant: 'default' });
  });
});

describe('marketing opt-out', () => {
  it('says how and when the customer opted out', () => {
    expect(optOutView(null)).toBeNull();
    expect(optOutView(parsed().opt_out, 'UTC')).toEqual({
      title: 'Opted out of marketing messages',
      body: 'Wrote "baraka" on 24 Nov, 10:15. Marketing campaigns leave this customer out; service replies and utility templates still reach them.',
    });
    const at = '2026-11-24T10:15:00.000Z';
    expect(optOutView({ source: '131050', detail: null, at }, 'UTC')?.body).toMatch(/^Stopped marketing messages from this business in WhatsApp on 24 Nov/);
    // "Stop promotions" in WhatsApp itself (user_preferences), not a keyword.
    expect(optOutView({ source: 'whatsapp', detail: 'stop', at }, 'UTC')?.body).toMatch(/^Stopped marketing messages from this business in WhatsApp on 24 Nov/);
    expect(optOutView({ source: 'crm', detail: 'hubspot', at }, 'UTC')?.body).toMatch(/^Opted out in a CRM \(hubspot\) on/);
    expect(optOutView({ source: 'api', detail: null, at }, 'UTC')?.body).toMatch(/^Opted out through the CoEx API on/);
    expect(optOutView({ source: 'keyword', detail: ' ', at }, 'UTC')?.body).toMatch(/^Wrote an opt-out keyword on/);
    expect(optOutView({ source: 'import_list', detail: 'csv', at }, 'UTC')?.body).toMatch(/^Opted out \(import list: csv\) on/);
  });
});
