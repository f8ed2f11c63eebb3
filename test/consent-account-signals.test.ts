import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backends } from './helpers/backends.js';
import { startTestServer, type TestServer } from './helpers/runtime.js';
import * as P from '../core/src/whatsapp/payloads.js';

/**
 * Issue 19 at the webhook level: Meta's `user_preferences` (marketing stop / resume / signup) and
 * `account_update` ban states and policy notices, posted signed through the real endpoint.
 */

const N: P.NumberRef = { wabaId: '102290129340398', phoneNumberId: '106540352242922', displayPhoneNumber: '212522123456' };

type Json = Record<string, unknown>;
function fixture(name: string): Json {
  return JSON.parse(readFileSync(new URL(`./fixtures/meta-webhooks/${name}`, import.meta.url), 'utf8')) as Json;
}
/** The fixture's first change value (Meta: entry[0].changes[0].value). */
function valueOf(payload: Json): Json {
  const entry = (payload.entry as Array<{ changes: Array<{ value: Json }> }>)[0]!;
  return entry.changes[0]!.value;
}
/** A user_preferences fixture for another customer and time. */
function preference(name: 'stop' | 'resume' | 'signup', waId: string, atMs: number): Json {
  const payload = fixture(`user_preferences.${name}.json`);
  const value = valueOf(payload);
  const prefs = value.user_preferences as Json[];
  prefs[0]!.wa_id = waId;
  delete prefs[0]!.user_id;
  prefs[0]!.timestamp = Math.floor(atMs / 1000);
  value.contacts = [{ profile: { name: 'Client' }, wa_id: waId }];
  return payload;
}

describe.each(backends())('consent and account signals from Meta [%s]', (backend) => {
  let s: TestServer;
  let seq = 0;
  beforeAll(async () => {
    s = await startTestServer(backend, { COEX_AGENT: 'off' });
    // The number exists and knows its WABA once Meta delivered something for it.
    await s.postWebhook(P.inboundMessage(N, { waId: '212600000001' }, 'wamid.SEED', Date.now(), P.text('salam')));
    await s.runtime.waitForInboxDrained();
    await s.runtime.db.updateTable('whatsapp_numbers').set({ waba_id: N.wabaId }).where('phone_number_id', '=', N.phoneNumberId).execute();
  });
  afterAll(async () => {
    await s?.close();
  });

  let delivery = 0;
  // The inbox drops repeated bytes; each post is a distinct delivery (Meta's retries are tested apart).
  const post = async (body: unknown): Promise<void> => {
    expect((await s.postWebhook({ ...(body as Json), delivery: ++delivery })).status).toBe(200);
    await s.runtime.waitForInboxDrained();
  };
  const nextWaId = (): string => `2126620${String(++seq).padStart(5, '0')}`;
  const optOut = (waId: string) => s.runtime.db.selectFrom('opt_outs').select(['source', 'detail', 'signal_at']).where('wa_id', '=', waId).executeTakeFirst();
  const history = (waId: string) =>
    s.runtime.db.selectFrom('opt_out_events').select(['action', 'source', 'applied', 'signal_at']).where('wa_id', '=', waId).orderBy('id').execute();
  const keyword = async (waId: string, text: string, atMs: number): Promise<void> => post(P.inboundMessage(N, { waId }, `wamid.KW-${++seq}`, atMs, P.text(text)));

  it('records a WhatsApp "stop" per contact with its source and time; a redelivery records nothing twice', async () => {
    const stop = fixture('user_preferences.stop.json');
    await post(stop);
    expect(await optOut('212612345678')).toMatchObject({ source: 'whatsapp', detail: 'stop: User requested to stop marketing messages', signal_at: new Date(1764583200 * 1000) });
    // Meta redelivers the same signal (other bytes: the inbox's byte-level dedupe does not catch it).
    await post(stop);
    expect(await history('212612345678')).toEqual([{ action: 'opt_out', source: 'whatsapp', applied: true, signal_at: new Date(1764583200 * 1000) }]);
    expect(await s.runtime.db.selectFrom('unknown_events').select('id').where('field', '=', 'user_preferences').execute()).toEqual([]);
    // The contact exists with its profile name.
    expect(await s.runtime.db.selectFrom('contacts').select('profile_name').where('wa_id', '=', '212612345678').executeTakeFirst()).toEqual({ profile_name: 'Youssef' });

    await post(fixture('user_preferences.resume.json'));
    expect(await optOut('212612345678')).toBeUndefined();
    expect((await history('212612345678')).map((h) => [h.action, h.source, h.applied])).toEqual([
      ['opt_out', 'whatsapp', true],
      ['opt_in', 'whatsapp', true],
    ]);
  });

  it('orders WhatsApp signals and keywords by when the customer gave them: the latest wins, both stay in the history', async () => {
    const t = Date.now() - 3_600_000;
    // Keyword opt-out, then a later WhatsApp "resume": eligible again.
    const a = nextWaId();
    await keyword(a, 'baraka', t);
    await post(preference('resume', a, t + 60_000));
    expect(await optOut(a)).toBeUndefined();
    expect((await history(a)).map((h) => [h.action, h.source, h.applied])).toEqual([
      ['opt_out', 'keyword', true],
      ['opt_in', 'whatsapp', true],
    ]);

    // Keyword opt-out then opt-in; a WhatsApp "stop" given between them arrives last: it changes nothing.
    const b = nextWaId();
    await keyword(b, 'STOP', t);
    await keyword(b, 'START', t + 120_000);
    await post(preference('stop', b, t + 60_000));
    expect(await optOut(b)).toBeUndefined();
    expect((await history(b)).map((h) => [h.action, h.source, h.applied])).toEqual([
      ['opt_out', 'keyword', true],
      ['opt_in', 'keyword', true],
      ['opt_out', 'whatsapp', false],
    ]);

    // A keyword opt-out, then the same customer also stops promotions in WhatsApp: the source is now WhatsApp.
    const c = nextWaId();
    await keyword(c, 'توقف', t);
    await post(preference('stop', c, t + 60_000));
    expect(await optOut(c)).toMatchObject({ source: 'whatsapp' });
    expect((await history(c)).map((h) => [h.action, h.source, h.applied])).toEqual([
      ['opt_out', 'keyword', true],
      ['opt_out', 'whatsapp', true],
    ]);

    // A signup through a link opts a stopped customer back in.
    const d = nextWaId();
    await post(preference('stop', d, t));
    await post(preference('signup', d, t + 60_000));
    expect(await optOut(d)).toBeUndefined();
    const events = await s.runtime.db.selectFrom('opt_out_events').select(['action', 'detail']).where('wa_id', '=', d).orderBy('id').execute();
    expect(events[1]).toMatchObject({ action: 'opt_in', detail: expect.stringContaining('signed up (signup 889123456789012)') });
  });

  it('records a 131050 failed status (any sender) as the same WhatsApp stop, once', async () => {
    const w = nextWaId();
    const failed = P.statusUpdate(N, `wamid.MKT-${w}`, 'failed', Date.now() - 1000, w, {
      errors: [{ code: 131050, title: 'Unable to deliver the message. This recipient has chosen to stop receiving marketing messages on WhatsApp from your business.' }],
    });
    await post(failed);
    await post(failed);
    expect(await optOut(w)).toMatchObject({ source: '131050' });
    // Later a "stop" webhook from WhatsApp: the same signal, nothing changes.
    await post(preference('stop', w, Date.now()));
    expect((await history(w)).map((h) => [h.action, h.source, h.applied])).toEqual([
      ['opt_out', '131050', true],
      ['opt_out', 'whatsapp', false],
    ]);
  });

  it('applies a BSUID-only preference to the phone that BSUID is known with; keeps it as unknown when no phone is known', async () => {
    const w = nextWaId();
    await post(P.inboundMessage(N, { waId: w, userId: `MA.${w}` }, `wamid.BSUID-${w}`, Date.now() - 60_000, P.text('salam')));
    const bsuidOnly = (userId: string): Json => {
      const payload = fixture('user_preferences.stop.json');
      const value = valueOf(payload);
      value.contacts = [{ user_id: userId }];
      value.user_preferences = [{ user_id: userId, detail: 'User requested to stop marketing messages', category: 'marketing_messages', value: 'stop', timestamp: Math.floor(Date.now() / 1000) }];
      return payload;
    };
    await post(bsuidOnly(`MA.${w}`));
    expect(await optOut(w)).toMatchObject({ source: 'whatsapp' });
    await post(bsuidOnly('MA.nobody-known'));
    const unknown = await s.runtime.db.selectFrom('unknown_events').select('detail').where('field', '=', 'user_preferences').where('detail', 'like', '%MA.nobody-known%').execute();
    expect(unknown).toHaveLength(1);
  });

  it('reports a preference category it does not handle as unknown, without touching consent', async () => {
    await post(fixture('user_preferences.other_category.json'));
    const unknown = await s.runtime.db.selectFrom('unknown_events').select('detail').where('field', '=', 'user_preferences').where('detail', 'like', 'user preference category=%').execute();
    expect(unknown).toEqual([{ detail: 'user preference category=unknown value=bla' }]);
    expect(await optOut('212612345678')).toBeUndefined(); // still opted in after the first test's resume
  });

  const account = async () =>
    (await (await s.api(`/api/v1/numbers/${N.phoneNumberId}/account`)).json()) as {
      sending: boolean;
      connection: { status: string; reason: string | null; changed_at: string | null };
      warning: { text: string; at: string } | null;
      templates_held: { until: string | null } | null;
      events: Array<{ event: string; effect: string; detail: string | null; at: string }>;
    };

  it('DISABLED_UPDATE follows ban_info: scheduled → warning with the date, DISABLE → stops, REINSTATE → sends again', async () => {
    await post(fixture('account_update.disabled_schedule.json'));
    let state = await account();
    expect(state.sending).toBe(true);
    expect(state.connection.status).toBe('connected');
    expect(state.warning?.text).toContain('December 12, 2026');
    expect(state.events[0]).toMatchObject({ event: 'DISABLED_UPDATE', effect: 'warning', detail: 'SCHEDULE_FOR_DISABLE (December 12, 2026)', at: expect.any(String) });

    await post(fixture('account_update.disabled_disable.json'));
    state = await account();
    expect(state).toMatchObject({ sending: false, connection: { status: 'disabled', reason: expect.stringContaining('disabled by Meta') } });
    expect(state.events[0]).toMatchObject({ effect: 'stopped_sending', detail: 'DISABLE (December 12, 2026)' });

    await post(fixture('account_update.disabled_reinstate.json'));
    state = await account();
    expect(state).toMatchObject({ sending: true, connection: { status: 'connected', reason: expect.stringContaining('reinstated') }, warning: null });
    expect(state.events.map((e) => e.effect).slice(0, 3)).toEqual(['resumed_sending', 'stopped_sending', 'warning']);
    // The sync view shows the same state with its time.
    const sync = (await (await s.api(`/api/v1/numbers/${N.phoneNumberId}/sync`)).json()) as { connection: { status: string; changed_at: string | null } };
    expect(sync.connection).toMatchObject({ status: 'connected', changed_at: expect.any(String) });
  });

  it('REINSTATE never reconnects a number that was disconnected for another reason; a number restricted by the old reading is freed', async () => {
    await post(P.accountUpdate(N, 'PARTNER_REMOVED', { reason: 'PRIMARY_INACTIVITY', initiatedBy: 'SYSTEM' }));
    await post(fixture('account_update.disabled_reinstate.json'));
    expect((await account()).connection).toMatchObject({ status: 'disconnected', reason: 'PRIMARY_INACTIVITY' });
    // Earlier versions set 'restricted' for any DISABLED_UPDATE, including a reinstatement.
    await s.runtime.db.updateTable('whatsapp_numbers').set({ connection_status: 'restricted', connection_reason: 'DISABLED_UPDATE' }).where('phone_number_id', '=', N.phoneNumberId).execute();
    await post(fixture('account_update.disabled_reinstate.json'));
    expect((await account()).connection.status).toBe('connected');
  });

  it('ACCOUNT_VIOLATION is a policy notice: recorded and warned, sending goes on unless the payload restricts the account', async () => {
    await post(fixture('account_update.violation.json'));
    let state = await account();
    expect(state.sending).toBe(true);
    expect(state.warning?.text).toContain('ADULT');
    expect(state.events[0]).toMatchObject({ event: 'ACCOUNT_VIOLATION', effect: 'warning', detail: 'ADULT' });

    // Restricted business-initiated messaging (until 2025-12-15, over by now): replies go on, the warning
    // says what was restricted, nothing is held any more.
    await post(fixture('account_update.violation_restricted.json'));
    state = await account();
    expect(state.sending).toBe(true);
    expect(state.warning?.text).toContain('business-initiated messaging is restricted (RESTRICTED_BIZ_INITIATED_MESSAGING until 2025-12-15T10:00:00.000Z)');
    expect(state.templates_held).toBeNull();
    // Restricted customer-initiated messaging: sending stops until Meta reconnects the number.
    const replies = fixture('account_update.violation_restricted.json');
    ((valueOf(replies).restriction_info as Json[])[0]!).restriction_type = 'RESTRICTED_CUSTOMER_INITIATED_MESSAGING';
    await post(replies);
    state = await account();
    expect(state.sending).toBe(false);
    expect(state.connection).toMatchObject({ status: 'restricted', reason: expect.stringContaining('RESTRICTED_CUSTOMER_INITIATED_MESSAGING') });
    await post(P.accountUpdate(N, 'ACCOUNT_RECONNECTED'));
    expect((await account()).sending).toBe(true);
  });
});
