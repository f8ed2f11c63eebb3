import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HUBSPOT_CONSENT_PROPERTIES } from '@coex/connectors';
import { backends } from './helpers/backends.js';
import { startTestServer, type TestServer } from './helpers/runtime.js';
import { waitFor } from './helpers/wait.js';
import { startGraphApiFake, DEFAULT_FAKE_TEMPLATES, DEFAULT_FAKE_TOKEN, DEFAULT_FAKE_PHONE_NUMBER, type GraphApiFake } from './fakes/graph-api.js';
import { FakeHubSpot } from './fakes/hubspot.js';
import * as P from '../core/src/whatsapp/payloads.js';

/**
 * Issue 19 end to end, through the real runtime, the Graph API fake and the HubSpot fake:
 * a customer who stops promotions in WhatsApp is skipped by the next marketing campaign (reported
 * as "opted out in WhatsApp"), HubSpot learns it with that source, "resume" makes them eligible
 * again; a number Meta disables stops sending and sends again once reinstated.
 */

const N: P.NumberRef = { wabaId: DEFAULT_FAKE_PHONE_NUMBER.wabaId, phoneNumberId: DEFAULT_FAKE_PHONE_NUMBER.id, displayPhoneNumber: DEFAULT_FAKE_PHONE_NUMBER.displayPhoneNumber };

type Json = Record<string, unknown>;
function fixture(name: string, delivery: number): Json {
  // `delivery` makes each post distinct bytes (the inbox drops repeated bytes).
  return { ...(JSON.parse(readFileSync(new URL(`./fixtures/meta-webhooks/${name}`, import.meta.url), 'utf8')) as Json), delivery };
}
function preference(name: 'stop' | 'resume', waId: string, atMs: number, delivery: number): Json {
  const payload = fixture(`user_preferences.${name}.json`, delivery);
  const value = (payload.entry as Array<{ changes: Array<{ value: Json }> }>)[0]!.changes[0]!.value;
  const pref = (value.user_preferences as Json[])[0]!;
  pref.wa_id = waId;
  pref.timestamp = Math.floor(atMs / 1000);
  value.contacts = [{ profile: { name: 'Amina' }, wa_id: waId }];
  return payload;
}

interface Report {
  status: string;
  status_reason: string | null;
  counts: Record<string, number>;
  skipped_reasons: Array<{ reason: string; label: string; count: number }>;
}

describe.each(backends())('consent and account signals end to end [%s]', (backend) => {
  let graph: GraphApiFake;
  let hs: FakeHubSpot;
  let s: TestServer;
  let connectionId = '';
  let delivery = 0;

  beforeAll(async () => {
    graph = await startGraphApiFake({ templates: [...DEFAULT_FAKE_TEMPLATES, { name: 'spring_sale', language: 'fr', category: 'MARKETING', bodyParameters: 1 }] });
    hs = await FakeHubSpot.start();
    s = await startTestServer(backend, { GRAPH_API_BASE_URL: graph.url, WHATSAPP_ACCESS_TOKEN: DEFAULT_FAKE_TOKEN, COEX_AGENT: 'off' });
    await post(P.inboundMessage(N, { waId: '212600000001', name: 'Seed' }, 'wamid.SEED', Date.now(), P.text('salam')));
    await s.runtime.db.updateTable('whatsapp_numbers').set({ waba_id: N.wabaId }).where('phone_number_id', '=', N.phoneNumberId).execute();
    const res = await s.api('/api/v1/crm/connections', {
      method: 'POST',
      body: JSON.stringify({ tenant_id: 'default', credentials: { crm: 'hubspot', portalId: String(hs.portalId), clientSecret: 'hs-secret', accessToken: 'test-token', basePath: hs.url } }),
    });
    expect(res.status).toBe(201);
    connectionId = ((await res.json()) as { connection: { id: string } }).connection.id;
  });
  afterAll(async () => {
    await s?.close();
    await hs?.close();
    await graph?.close();
  });

  async function post(body: unknown): Promise<void> {
    expect((await s.postWebhook(body)).status).toBe(200);
    await s.runtime.waitForInboxDrained();
  }
  async function campaign(waIds: string[], category: 'marketing' | 'utility' = 'marketing'): Promise<string> {
    const res = await s.api('/api/v1/campaigns', {
      method: 'POST',
      body: JSON.stringify({
        phone_number_id: N.phoneNumberId,
        name: `promo ${++delivery}`,
        template: { name: 'spring_sale', language: 'fr', category },
        recipients: waIds.map((w) => ({ phone: `+${w}`, name: 'Client', variables: ['CODE-1'] })),
        start: true,
      }),
    });
    expect(res.status).toBe(201);
    const id = ((await res.json()) as { campaign: { id: string } }).campaign.id;
    await s.runtime.campaigns.runUntilIdle();
    return id;
  }
  const report = async (id: string): Promise<Report> => ((await (await s.api(`/api/v1/campaigns/${id}`)).json()) as { campaign: Report }).campaign;
  const sentTo = (): string[] => graph.state.sent.filter((m) => m.type === 'template').map((m) => m.to);
  const hubspotContact = (e164: string) => hs.list('contacts').find((c) => String(c.properties.phone ?? '').replace(/\D/g, '') === e164.replace(/\D/g, ''));

  it('a customer who stops promotions in WhatsApp is skipped by marketing (not utility), HubSpot learns it; "resume" makes them eligible again', async () => {
    const [amina, karim, salma] = ['212661100001', '212661100002', '212661100003'];
    const t = Date.now() - 60_000;
    await post(preference('stop', amina, t, ++delivery));
    await post(P.inboundMessage(N, { waId: salma }, 'wamid.E2E-KW', t, P.text('baraka')));

    // The consent change reached HubSpot through the consent outbox, with its source.
    await s.runtime.crm.drain(connectionId);
    const contact = await waitFor(async () => hubspotContact(`+${amina}`), 'HubSpot contact with the opt-out');
    expect(contact.properties[HUBSPOT_CONSENT_PROPERTIES.optOut]).toBe('true');
    expect(String(contact.properties[HUBSPOT_CONSENT_PROPERTIES.detail])).toContain('WhatsApp: stop promotions');
    expect(String(hubspotContact(`+${salma}`)?.properties[HUBSPOT_CONSENT_PROPERTIES.detail])).toContain('keyword');

    const before = sentTo().length;
    const id = await campaign([amina!, karim!, salma!]);
    expect(sentTo().slice(before)).toEqual([karim]);
    const r = await report(id);
    expect(r.counts).toMatchObject({ total: 3, sent: 1, skipped: 2, opted_out_whatsapp: 1 });
    expect(r.skipped_reasons.map((x) => [x.reason, x.label, x.count]).sort()).toEqual([
      ['opted_out', 'opted out (keyword, API or CRM)', 1],
      ['opted_out_whatsapp', 'opted out in WhatsApp', 1],
    ]);

    // Utility templates (order updates) are not marketing: the preference does not apply.
    await campaign([amina!], 'utility');
    expect(sentTo().at(-1)).toBe(amina);

    // A stop in WhatsApp that starts after the campaign was created is honoured at send time too.
    const late = '212661100004';
    const draft = await s.api('/api/v1/campaigns', {
      method: 'POST',
      body: JSON.stringify({ phone_number_id: N.phoneNumberId, name: 'late', template: { name: 'spring_sale', language: 'fr' }, recipients: [{ phone: `+${late}`, variables: ['X'] }] }),
    });
    const draftId = ((await draft.json()) as { campaign: { id: string } }).campaign.id;
    await post(preference('stop', late, Date.now() - 1000, ++delivery));
    await s.api(`/api/v1/campaigns/${draftId}/start`, { method: 'POST', body: '{}' });
    await s.runtime.campaigns.runUntilIdle();
    expect((await report(draftId)).skipped_reasons).toEqual([{ reason: 'opted_out_whatsapp', label: 'opted out in WhatsApp', count: 1 }]);

    // She resumes marketing in WhatsApp: eligible again, and HubSpot is told.
    await post(preference('resume', amina!, Date.now(), ++delivery));
    await s.runtime.crm.drain(connectionId);
    await waitFor(async () => hubspotContact(`+${amina}`)?.properties[HUBSPOT_CONSENT_PROPERTIES.optOut] === 'false', 'HubSpot opt-out cleared');
    expect(String(hubspotContact(`+${amina}`)?.properties[HUBSPOT_CONSENT_PROPERTIES.detail])).toContain('WhatsApp: resume promotions');
    const again = await campaign([amina!]);
    expect((await report(again)).counts).toMatchObject({ sent: 1, skipped: 0 });
    expect(sentTo().at(-1)).toBe(amina);
  });

  it('Meta restricting business-initiated messaging holds campaigns (templates) until it ends, then they resume by themselves; replies go on', async () => {
    const waId = '212661100020';
    await post(P.inboundMessage(N, { waId, name: 'Salma' }, 'wamid.E2E-BIZ', Date.now(), P.text('salam, wach kayn tawsil l Agadir?')));
    const threadId = ((await (await s.api(`/api/v1/threads?wa_id=${waId}`)).json()) as { threads: Array<{ id: string }> }).threads[0]!.id;
    const reply = (text: string) => s.api(`/api/v1/threads/${threadId}/messages`, { method: 'POST', body: JSON.stringify({ text }) });
    const until = Math.floor(Date.now() / 1000) + 2 * 86_400;
    const restriction = fixture('account_update.violation_restricted.json', ++delivery);
    const value = (restriction.entry as Array<{ changes: Array<{ value: Json }> }>)[0]!.changes[0]!.value;
    Object.assign(value, { event: 'ACCOUNT_RESTRICTION', restriction_info: [{ restriction_type: 'RESTRICTED_BIZ_INITIATED_MESSAGING', expiration: until }] });
    delete value.violation_info;
    await post(restriction);

    // The customer wrote: answering her is not business-initiated.
    expect((await reply('Iyeh, 48 sa3a')).status).toBe(201);
    // A campaign (templates) is held: paused with Meta's reason, its recipient waiting, nothing sent to Meta.
    const calls = graph.requests.length;
    const held = await campaign([waId]);
    expect(await report(held)).toMatchObject({ status: 'paused', counts: { sent: 0, queued: 1 } });
    expect(graph.requests.length).toBe(calls);
    const account = async () => (await (await s.api(`/api/v1/numbers/${N.phoneNumberId}/account`)).json()) as { sending: boolean; templates_held: { until: string | null } | null };
    expect(await account()).toMatchObject({ sending: true, templates_held: { until: new Date(until * 1000).toISOString() } });

    // Meta reconnects the number: the hold is lifted and the campaign goes out by itself.
    await post({ ...P.accountUpdate(N, 'ACCOUNT_RECONNECTED'), delivery: ++delivery });
    expect((await account()).templates_held).toBeNull();
    await s.runtime.campaigns.runUntilIdle();
    expect(await report(held)).toMatchObject({ status: 'completed', counts: { sent: 1, queued: 0 } });
  });

  it('an operator lifts a hold Meta ended without telling (no webhook): templates go out again and a held campaign resumes; the lift is in the account history', async () => {
    const waId = '212661100030';
    await post(P.inboundMessage(N, { waId, name: 'Hind' }, 'wamid.E2E-LIFT', Date.now(), P.text('salam, bghit n3ref l prix')));
    const restriction = fixture('account_update.violation_restricted.json', ++delivery);
    const value = (restriction.entry as Array<{ changes: Array<{ value: Json }> }>)[0]!.changes[0]!.value;
    const until = Math.floor(Date.now() / 1000) + 30 * 86_400;
    Object.assign(value, { event: 'ACCOUNT_RESTRICTION', restriction_info: [{ restriction_type: 'RESTRICTED_BIZ_INITIATED_MESSAGING', expiration: until }] });
    delete value.violation_info;
    await post(restriction);
    const held = await campaign([waId]);
    expect(await report(held)).toMatchObject({ status: 'paused', counts: { sent: 0, queued: 1 } });

    const lift = (phoneNumberId: string, body: Json = {}) => s.api(`/api/v1/numbers/${phoneNumberId}/account/lift-hold`, { method: 'POST', body: JSON.stringify(body) });
    expect((await lift('999999')).status).toBe(404);
    expect((await lift(N.phoneNumberId, { actor: 42 })).status).toBe(400);
    const lifted = await lift(N.phoneNumberId, { actor: 'amine@atlas' });
    expect(lifted.status).toBe(200);
    const account = (await lifted.json()) as { templates_held: unknown; warning: unknown; events: Array<{ event: string; effect: string; detail: string; initiated_by: string | null }> };
    expect(account).toMatchObject({ templates_held: null, warning: null });
    expect(account.events[0]).toMatchObject({ event: 'HOLD_LIFTED', effect: 'resumed_sending', initiated_by: 'amine@atlas', detail: `business-initiated messaging hold lifted by hand (Meta's end was ${new Date(until * 1000).toISOString()})` });
    // Nothing held any more: a second lift says so.
    const again = await lift(N.phoneNumberId);
    expect(again.status).toBe(409);
    expect(await again.json()).toMatchObject({ code: 'nothing_held' });

    await s.runtime.campaigns.runUntilIdle();
    expect(await report(held)).toMatchObject({ status: 'completed', counts: { sent: 1, queued: 0 } });
  });

  it('a number Meta disables stops sending (replies and campaigns), and sends again once reinstated', async () => {
    const waId = '212661100010';
    await post(P.inboundMessage(N, { waId, name: 'Youssef' }, 'wamid.E2E-BAN', Date.now(), P.text('salam, kayn l9adia?')));
    const threadId = ((await (await s.api(`/api/v1/threads?wa_id=${waId}`)).json()) as { threads: Array<{ id: string }> }).threads[0]!.id;
    const reply = (text: string) => s.api(`/api/v1/threads/${threadId}/messages`, { method: 'POST', body: JSON.stringify({ text }) });

    // Scheduled for disable: a warning, sending goes on.
    await post(fixture('account_update.disabled_schedule.json', ++delivery));
    expect((await reply('Iyeh kayn')).status).toBe(201);

    await post(fixture('account_update.disabled_disable.json', ++delivery));
    const calls = graph.requests.length;
    const refused = await reply('wach baqi?');
    expect(refused.status).toBe(409);
    expect(await refused.json()).toMatchObject({ code: 'number_not_connected', connection_status: 'disabled' });
    const paused = await campaign([waId]);
    expect(await report(paused)).toMatchObject({ status: 'paused', counts: { sent: 0, queued: 1 } });
    expect(graph.requests.length).toBe(calls); // nothing reached Meta

    await post(fixture('account_update.disabled_reinstate.json', ++delivery));
    expect((await reply('Rje3na, merci 3la sbar')).status).toBe(201);
    await s.api(`/api/v1/campaigns/${paused}/start`, { method: 'POST', body: '{}' });
    await s.runtime.campaigns.runUntilIdle();
    expect((await report(paused)).counts).toMatchObject({ sent: 1, queued: 0 });

    const account = (await (await s.api(`/api/v1/numbers/${N.phoneNumberId}/account`)).json()) as { sending: boolean; events: Array<{ event: string; effect: string; detail: string; at: string }> };
    expect(account.sending).toBe(true);
    expect(account.events.slice(0, 3).map((e) => [e.effect, e.detail])).toEqual([
      ['resumed_sending', 'REINSTATE (April 17, 2025)'],
      ['stopped_sending', 'DISABLE (December 12, 2026)'],
      ['warning', 'SCHEDULE_FOR_DISABLE (December 12, 2026)'],
    ]);
  });
});
