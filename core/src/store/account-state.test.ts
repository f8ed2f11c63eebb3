import { describe, expect, it } from 'vitest';
import { accountEffectOf } from './apply.js';
import { accountStateLines } from './queries.js';

const notice = (n: Partial<{ banState: string; banDate: string; violationType: string; restrictions: Array<{ type: string | null; expiration: string | null }> }> = {}) => ({
  banState: n.banState ?? null,
  banDate: n.banDate ?? null,
  violationType: n.violationType ?? null,
  restrictions: n.restrictions ?? [],
});

describe('accountEffectOf', () => {
  it('follows ban_info for DISABLED_UPDATE', () => {
    expect(accountEffectOf('DISABLED_UPDATE', null, notice({ banState: 'SCHEDULE_FOR_DISABLE', banDate: 'December 12, 2026' }))).toMatchObject({ status: null, effect: 'warning', warning: expect.stringContaining('December 12, 2026') });
    expect(accountEffectOf('DISABLED_UPDATE', null, notice({ banState: 'DISABLE' }))).toMatchObject({ status: 'disabled', effect: 'stopped_sending' });
    expect(accountEffectOf('DISABLED_UPDATE', null, notice({ banState: 'REINSTATE' }))).toMatchObject({ status: 'connected', onlyFrom: ['disabled'], effect: 'resumed_sending', warning: null });
    expect(accountEffectOf('DISABLED_UPDATE', null, notice())).toMatchObject({ status: null, effect: 'warning' });
  });

  it('treats ACCOUNT_VIOLATION as a notice unless it carries a restriction', () => {
    expect(accountEffectOf('ACCOUNT_VIOLATION', null, notice({ violationType: 'ADULT' }))).toMatchObject({ status: null, effect: 'warning', detail: 'ADULT' });
    expect(accountEffectOf('ACCOUNT_VIOLATION', null, notice({ violationType: 'SCAM', restrictions: [{ type: 'RESTRICTED_CUSTOMER_INITIATED_MESSAGING', expiration: '2026-12-15T10:00:00.000Z' }] }))).toMatchObject({
      status: 'restricted',
      effect: 'stopped_sending',
      reason: 'ACCOUNT_VIOLATION SCAM: RESTRICTED_CUSTOMER_INITIATED_MESSAGING until 2026-12-15T10:00:00.000Z',
    });
    // Business-initiated messaging only: templates held until the end, replies go on.
    expect(accountEffectOf('ACCOUNT_VIOLATION', null, notice({ violationType: 'SCAM', restrictions: [{ type: 'RESTRICTED_BIZ_INITIATED_MESSAGING', expiration: '2026-12-15T10:00:00.000Z' }] }))).toEqual({
      status: null,
      onlyFrom: null,
      reason: null,
      warning:
        'Policy violation reported by Meta (SCAM); business-initiated messaging is restricted (RESTRICTED_BIZ_INITIATED_MESSAGING until 2026-12-15T10:00:00.000Z): templates and campaigns are held until 2026-12-15T10:00:00.000Z, replies inside the 24-hour window go out.',
      effect: 'warning',
      detail: 'SCAM; RESTRICTED_BIZ_INITIATED_MESSAGING until 2026-12-15T10:00:00.000Z',
      templatesBlockedUntil: '2026-12-15T10:00:00.000Z',
    });
  });

  it('keeps the other events as before', () => {
    expect(accountEffectOf('PARTNER_REMOVED', 'PRIMARY_INACTIVITY', notice())).toMatchObject({ status: 'disconnected', reason: 'PRIMARY_INACTIVITY', warning: undefined });
    expect(accountEffectOf('ACCOUNT_RECONNECTED', null, notice())).toMatchObject({ status: 'connected', warning: null, effect: 'resumed_sending' });
    expect(accountEffectOf('MM_LITE_TERMS_SIGNED', null, notice())).toMatchObject({ status: null, effect: 'none' });
  });
});

describe('accountStateLines', () => {
  it('prints whether the number sends, the warning, then the history', () => {
    expect(
      accountStateLines({
        phone_number_id: '1',
        waba_id: '2',
        display_phone_number: '212522123456',
        sending: false,
        connection: { status: 'disabled', reason: 'DISABLED_UPDATE: account disabled by Meta', changed_at: '2026-12-12T00:00:00.000Z' },
        warning: null,
        templates_held: null,
        events: [{ event: 'DISABLED_UPDATE', effect: 'stopped_sending', detail: 'DISABLE', reason: null, initiated_by: null, at: '2026-12-12T00:00:00.000Z' }],
      }),
    ).toEqual(['212522123456: NOT SENDING (disabled: DISABLED_UPDATE: account disabled by Meta, since 2026-12-12T00:00:00.000Z)', '2026-12-12T00:00:00.000Z\tDISABLED_UPDATE\tstopped_sending\tDISABLE']);
  });

  it('says when templates and campaigns are held, with or without an end', () => {
    const state = { phone_number_id: '1', waba_id: '2', display_phone_number: '212522123456', sending: true, connection: { status: 'connected', reason: null, changed_at: null }, warning: null, events: [] };
    expect(accountStateLines({ ...state, templates_held: { until: '2026-12-20T10:00:00.000Z' } })).toEqual([
      '212522123456: sending (connected)',
      'templates and campaigns held until 2026-12-20T10:00:00.000Z (replies inside the 24-hour window go out)',
    ]);
    expect(accountStateLines({ ...state, templates_held: { until: null } })[1]).toBe('templates and campaigns held until Meta lifts the restriction (replies inside the 24-hour window go out)');
  });
});
