import { describe, expect, it } from 'vitest';
import type { AccountNotice } from '../whatsapp/normalize.js';
import { STATUS_RANK, accountEffectOf, connectionStatusFor, emptyOutcome, mergeOutcome, type ApplyOutcome } from './apply.js';

/**
 * The pure parts of apply.ts, exactly: status ranks (a status never moves backwards), what each
 * account_update does to sending, and outcome arithmetic. No database: mutation testing runs these
 * per mutant (docs/testing.md); the database paths are covered through the inbox (test/).
 */

const notice = (n: Partial<AccountNotice> = {}): AccountNotice => ({ banState: null, banDate: null, violationType: null, restrictions: [], ...n });

describe('STATUS_RANK', () => {
  it('orders the lifecycle so that a later state never yields to an earlier one', () => {
    expect(STATUS_RANK).toEqual({ pending: 0, accepted: 1, held_for_quality_assessment: 1, sent: 2, delivered: 3, read: 4, played: 5, failed: 6 });
  });
});

describe('connectionStatusFor', () => {
  it('maps each disconnection and reconnection event; others leave the status alone', () => {
    expect(['PARTNER_REMOVED', 'ACCOUNT_OFFBOARDED', 'ACCOUNT_RECONNECTED', 'ACCOUNT_DELETED', 'PARTNER_APP_UNINSTALLED', 'ACCOUNT_RESTRICTION', 'MM_LITE_TERMS_SIGNED', ''].map(connectionStatusFor)).toEqual([
      'disconnected',
      'offboarded',
      'connected',
      'deleted',
      'deleted',
      'restricted',
      null,
      null,
    ]);
  });
});

describe('accountEffectOf, exactly', () => {
  it('DISABLED_UPDATE follows the ban state (any case), with Meta’s date when given', () => {
    expect(accountEffectOf('DISABLED_UPDATE', 'ignored', notice({ banState: 'schedule_for_disable', banDate: 'December 12, 2026' }))).toEqual({
      status: null,
      onlyFrom: null,
      reason: null,
      warning: "Meta scheduled this WhatsApp Business Account to be disabled on December 12, 2026: sending continues until then; review the account's policy status in WhatsApp Manager.",
      effect: 'warning',
      detail: 'SCHEDULE_FOR_DISABLE (December 12, 2026)',
    });
    expect(accountEffectOf('DISABLED_UPDATE', null, notice({ banState: 'SCHEDULE_FOR_DISABLE' }))).toMatchObject({
      warning: "Meta scheduled this WhatsApp Business Account to be disabled: sending continues until then; review the account's policy status in WhatsApp Manager.",
      detail: 'SCHEDULE_FOR_DISABLE',
    });
    expect(accountEffectOf('DISABLED_UPDATE', null, notice({ banState: 'DISABLE', banDate: 'April 17, 2025' }))).toEqual({ status: 'disabled', onlyFrom: null, reason: 'DISABLED_UPDATE: account disabled by Meta (April 17, 2025)', warning: null, effect: 'stopped_sending', detail: 'DISABLE (April 17, 2025)' });
    expect(accountEffectOf('DISABLED_UPDATE', null, notice({ banState: 'DISABLE' }))).toMatchObject({ reason: 'DISABLED_UPDATE: account disabled by Meta', detail: 'DISABLE' });
    expect(accountEffectOf('DISABLED_UPDATE', null, notice({ banState: 'REINSTATE', banDate: 'May 1, 2025' }))).toEqual({ status: 'connected', onlyFrom: ['disabled'], reason: 'DISABLED_UPDATE: account reinstated by Meta (May 1, 2025)', warning: null, effect: 'resumed_sending', detail: 'REINSTATE (May 1, 2025)' });
    expect(accountEffectOf('DISABLED_UPDATE', null, notice({ banState: 'REINSTATE' }))).toMatchObject({ reason: 'DISABLED_UPDATE: account reinstated by Meta', detail: 'REINSTATE' });
    expect(accountEffectOf('DISABLED_UPDATE', null, notice({ banState: 'Mystery' }))).toEqual({ status: null, onlyFrom: null, reason: null, warning: 'Meta sent an account update (DISABLED_UPDATE) with ban state MYSTERY: check the account in WhatsApp Manager.', effect: 'warning', detail: 'MYSTERY' });
    expect(accountEffectOf('DISABLED_UPDATE', null, notice())).toEqual({ status: null, onlyFrom: null, reason: null, warning: 'Meta sent an account update (DISABLED_UPDATE) with ban state missing: check the account in WhatsApp Manager.', effect: 'warning', detail: null });
  });

  it('ACCOUNT_VIOLATION warns, and restricts only with restrictions (listed with their end)', () => {
    expect(accountEffectOf('ACCOUNT_VIOLATION', null, notice({ violationType: 'ADULT' }))).toEqual({
      status: null,
      onlyFrom: null,
      reason: null,
      warning: 'Policy violation reported by Meta (ADULT): sending continues, but repeated violations can restrict or disable the account. Review it in WhatsApp Manager.',
      effect: 'warning',
      detail: 'ADULT',
    });
    expect(accountEffectOf('ACCOUNT_VIOLATION', null, notice())).toMatchObject({ detail: 'unspecified', warning: expect.stringContaining('(unspecified)') });
    const restrictions = [{ type: 'RESTRICTED_BIZ_INITIATED_MESSAGING', expiration: '2026-12-15T10:00:00.000Z' }, { type: null, expiration: null }];
    expect(accountEffectOf('ACCOUNT_VIOLATION', null, notice({ violationType: 'SCAM', restrictions }))).toEqual({
      status: 'restricted',
      onlyFrom: null,
      reason: 'ACCOUNT_VIOLATION SCAM: RESTRICTED_BIZ_INITIATED_MESSAGING until 2026-12-15T10:00:00.000Z, restriction',
      warning: 'Policy violation reported by Meta (SCAM); the account is restricted: RESTRICTED_BIZ_INITIATED_MESSAGING until 2026-12-15T10:00:00.000Z, restriction.',
      effect: 'stopped_sending',
      detail: 'SCAM; RESTRICTED_BIZ_INITIATED_MESSAGING until 2026-12-15T10:00:00.000Z, restriction',
    });
  });

  it('other events: the connection status, the reason given, a reconnection clears the warning', () => {
    expect(accountEffectOf('PARTNER_REMOVED', 'PRIMARY_INACTIVITY', notice())).toEqual({ status: 'disconnected', onlyFrom: null, reason: 'PRIMARY_INACTIVITY', warning: undefined, effect: 'stopped_sending', detail: 'PRIMARY_INACTIVITY' });
    expect(accountEffectOf('ACCOUNT_OFFBOARDED', null, notice())).toEqual({ status: 'offboarded', onlyFrom: null, reason: 'ACCOUNT_OFFBOARDED', warning: undefined, effect: 'stopped_sending', detail: null });
    expect(accountEffectOf('ACCOUNT_RECONNECTED', null, notice())).toEqual({ status: 'connected', onlyFrom: null, reason: 'ACCOUNT_RECONNECTED', warning: null, effect: 'resumed_sending', detail: null, templatesBlockedUntil: null });
    expect(accountEffectOf('MM_LITE_TERMS_SIGNED', null, notice())).toEqual({ status: null, onlyFrom: null, reason: 'MM_LITE_TERMS_SIGNED', warning: undefined, effect: 'none', detail: null });
    expect(accountEffectOf('ACCOUNT_RESTRICTION', 'r', notice({ restrictions: [{ type: 'RESTRICTED_CUSTOMER_INITIATED_MESSAGING', expiration: null }] }))).toEqual({
      status: 'restricted',
      onlyFrom: null,
      reason: 'ACCOUNT_RESTRICTION: RESTRICTED_CUSTOMER_INITIATED_MESSAGING',
      warning: undefined,
      effect: 'stopped_sending',
      detail: 'RESTRICTED_CUSTOMER_INITIATED_MESSAGING',
    });
    // Business-initiated messaging: held until the latest end (unix seconds or ISO), replies go on.
    const business = (expirations: Array<string | null>) => notice({ restrictions: expirations.map((expiration) => ({ type: 'RESTRICTED_BIZ_INITIATED_MESSAGING', expiration })) });
    expect(accountEffectOf('ACCOUNT_RESTRICTION', null, business(['2026-12-20T10:00:00+0000', '1797768000']))).toEqual({
      status: null,
      onlyFrom: null,
      reason: null,
      warning: 'Meta restricted business-initiated messaging (RESTRICTED_BIZ_INITIATED_MESSAGING until 2026-12-20T10:00:00+0000, RESTRICTED_BIZ_INITIATED_MESSAGING until 1797768000): templates and campaigns are held until 2026-12-20T12:00:00.000Z; replies inside the 24-hour window go out.',
      effect: 'warning',
      detail: 'RESTRICTED_BIZ_INITIATED_MESSAGING until 2026-12-20T10:00:00+0000, RESTRICTED_BIZ_INITIATED_MESSAGING until 1797768000',
      templatesBlockedUntil: '2026-12-20T12:00:00.000Z',
    });
    expect(accountEffectOf('ACCOUNT_RESTRICTION', null, business(['1797940800']))).toMatchObject({ templatesBlockedUntil: '2026-12-22T12:00:00.000Z' });
    // No end given, or one not understood: held until lifted. With adding numbers restricted too: the same.
    for (const expirations of [[null], ['soon'], ['2026-12-20T10:00:00+0000', null]]) {
      expect(accountEffectOf('ACCOUNT_RESTRICTION', null, business(expirations))).toMatchObject({ status: null, templatesBlockedUntil: 'infinity', warning: expect.stringContaining('held until Meta lifts it') });
    }
    expect(
      accountEffectOf('ACCOUNT_RESTRICTION', null, notice({ restrictions: [{ type: 'RESTRICTED_ADD_PHONE_NUMBER_ACTION', expiration: null }, { type: 'restricted_biz_initiated_messaging', expiration: '1797768000' }] })),
    ).toMatchObject({ status: null, effect: 'warning', templatesBlockedUntil: '2026-12-20T12:00:00.000Z' });
    expect(accountEffectOf('ACCOUNT_RESTRICTION', null, notice())).toMatchObject({ status: 'restricted', reason: 'ACCOUNT_RESTRICTION', detail: null });
    // Only adding phone numbers restricted: a warning, sending goes on.
    expect(accountEffectOf('ACCOUNT_RESTRICTION', null, notice({ restrictions: [{ type: 'RESTRICTED_ADD_PHONE_NUMBER_ACTION', expiration: '2026-12-20T10:00:00+0000' }] }))).toEqual({
      status: null,
      onlyFrom: null,
      reason: null,
      warning: 'Meta restricted this WhatsApp Business Account (RESTRICTED_ADD_PHONE_NUMBER_ACTION until 2026-12-20T10:00:00+0000), not its messaging: sending continues.',
      effect: 'warning',
      detail: 'RESTRICTED_ADD_PHONE_NUMBER_ACTION until 2026-12-20T10:00:00+0000',
    });
    // With a messaging restriction beside it, or a restriction without a type: sending stops.
    for (const other of [{ type: 'RESTRICTED_CUSTOMER_INITIATED_MESSAGING', expiration: null }, { type: null, expiration: null }]) {
      const both = notice({ restrictions: [{ type: 'RESTRICTED_ADD_PHONE_NUMBER_ACTION', expiration: null }, other] });
      expect(accountEffectOf('ACCOUNT_RESTRICTION', null, both)).toMatchObject({ status: 'restricted', effect: 'stopped_sending' });
      expect(accountEffectOf('ACCOUNT_VIOLATION', null, { ...both, violationType: 'SPAM' })).toMatchObject({ status: 'restricted', effect: 'stopped_sending' });
    }
    expect(accountEffectOf('ACCOUNT_VIOLATION', null, notice({ violationType: 'SPAM', restrictions: [{ type: 'restricted_add_phone_number_action', expiration: null }] }))).toEqual({
      status: null,
      onlyFrom: null,
      reason: null,
      warning: 'Policy violation reported by Meta (SPAM); the account is restricted (restricted_add_phone_number_action), not its messaging: sending continues.',
      effect: 'warning',
      detail: 'SPAM; restricted_add_phone_number_action',
    });
    // Restrictions only count on a restriction event.
    expect(accountEffectOf('PARTNER_REMOVED', null, notice({ restrictions: [{ type: 'X', expiration: null }] }))).toMatchObject({ reason: 'PARTNER_REMOVED', detail: null });
  });
});

describe('emptyOutcome / mergeOutcome', () => {
  const filled = (k: number): ApplyOutcome => ({
    messagesInserted: k,
    messagesMerged: k + 1,
    statusesRecorded: k + 2,
    mutations: k + 3,
    historyChunks: k + 4,
    contactsSynced: k + 5,
    accountEvents: k + 6,
    unknown: k + 7,
    live: [{ k } as never],
    historyMedia: [{ k } as never],
    pausedThreads: [`t${k}`],
    consentChanges: [{ k } as never],
    accountNotices: [{ k } as never],
    unknownCreationTypes: [`c${k}`],
  });

  it('starts at zero and adds every count and list', () => {
    expect(emptyOutcome()).toEqual({ messagesInserted: 0, messagesMerged: 0, statusesRecorded: 0, mutations: 0, historyChunks: 0, contactsSynced: 0, accountEvents: 0, unknown: 0, live: [], historyMedia: [], pausedThreads: [], consentChanges: [], accountNotices: [], unknownCreationTypes: [] });
    const a = filled(10);
    const merged = mergeOutcome(a, filled(100));
    expect(merged).toBe(a);
    expect(merged).toEqual({
      messagesInserted: 110,
      messagesMerged: 112,
      statusesRecorded: 114,
      mutations: 116,
      historyChunks: 118,
      contactsSynced: 120,
      accountEvents: 122,
      unknown: 124,
      live: [{ k: 10 }, { k: 100 }],
      historyMedia: [{ k: 10 }, { k: 100 }],
      pausedThreads: ['t10', 't100'],
      consentChanges: [{ k: 10 }, { k: 100 }],
      accountNotices: [{ k: 10 }, { k: 100 }],
      unknownCreationTypes: ['c10', 'c100'],
    });
  });
});
