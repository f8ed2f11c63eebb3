import { sql } from 'kysely';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CrmError, HubSpotConnector, type ArchivedMessage, type CrmConnector } from '@coex/connectors';
import pg from 'pg';
import { backends } from './helpers/backends.js';
import { openMigratedDatabase, type MigratedDatabase } from './helpers/migrated-database.js';
import type { DatabaseHandle } from '../core/src/db/index.js';
import { CrmOutbox, MAX_CRM_ATTEMPTS, MAX_PERMANENT_ATTEMPTS, crmBackoffMs, handlerLabel } from '../core/src/crm/outbox.js';
import type { TokenCipher } from '../core/src/crypto.js';
import { applyEvents } from '../core/src/store/apply.js';
import { normalizeChange } from '../core/src/whatsapp/normalize.js';
import * as P from '../core/src/whatsapp/payloads.js';

/**
 * The CRM outbox's drain on its own database, with a connector that records every call and fails on
 * demand: what each CRM call receives, the backoff (Retry-After honoured), dead-lettering after
 * MAX attempts, and one kind per round. No runtime and no HTTP, so mutation testing
 * (docs/testing.md) can run it per mutant; test/crm-outbox.test.ts covers the same path end to end.
 */

describe('crmBackoffMs', () => {
  it('doubles from 5 s per attempt, capped at 15 minutes, jittered between half and all of it', () => {
    expect(crmBackoffMs(1, undefined, () => 0)).toBe(2_500);
    expect(crmBackoffMs(1, undefined, () => 1)).toBe(5_000);
    expect(crmBackoffMs(1, undefined, () => 0.5)).toBe(3_750);
    expect(crmBackoffMs(0, undefined, () => 1)).toBe(5_000);
    expect(crmBackoffMs(3, undefined, () => 1)).toBe(20_000);
    expect(crmBackoffMs(8, undefined, () => 1)).toBe(640_000);
    expect(crmBackoffMs(9, undefined, () => 1)).toBe(900_000);
    expect(crmBackoffMs(20, undefined, () => 0)).toBe(450_000);
    const r = crmBackoffMs(2);
    expect(r).toBeGreaterThanOrEqual(5_000);
    expect(r).toBeLessThanOrEqual(10_000);
  });

  it('never retries sooner than the CRM’s Retry-After', () => {
    expect(crmBackoffMs(1, 7, () => 1)).toBe(7_000);
    expect(crmBackoffMs(1, 2, () => 1)).toBe(5_000);
    expect(crmBackoffMs(1, 0, () => 0)).toBe(2_500);
    expect(crmBackoffMs(9, 3600, () => 1)).toBe(3_600_000);
  });

  it('dead-letters after about three hours of retryable failures, after three permanent ones', () => {
    expect(MAX_CRM_ATTEMPTS).toBe(20);
    expect(MAX_PERMANENT_ATTEMPTS).toBe(3);
    let shortest = 0;
    for (let attempt = 1; attempt < MAX_CRM_ATTEMPTS; attempt += 1) shortest += crmBackoffMs(attempt, undefined, () => 0);
    expect(shortest / 3_600_000).toBeGreaterThan(1.5);
    expect(shortest / 3_600_000).toBeLessThan(3.5);
  });
});

describe('handlerLabel', () => {
  const label = (direction: string, standby: boolean, creation_type: string | null, control_holder: string) => handlerLabel({ direction, standby, creation_type, control_holder });

  it('says nothing for what CoEx handled', () => {
    expect(label('inbound', false, null, 'coex')).toBe('');
    expect(label('outbound', false, 'user', 'meta_agent')).toBe('');
    expect(label('inbound', false, 'created_by_1p_bot', 'other_app')).toBe('');
  });

  it('names Meta’s AI agent, another app, or another handler, for messages sent and received', () => {
    expect(label('outbound', false, 'created_by_1p_bot', 'coex')).toBe("[sent by Meta's AI agent] ");
    expect(label('outbound', true, null, 'meta_agent')).toBe("[sent by Meta's AI agent] ");
    expect(label('inbound', true, null, 'meta_agent')).toBe("[while Meta's AI agent held the chat] ");
    expect(label('outbound', true, null, 'other_app')).toBe('[sent by another app] ');
    expect(label('inbound', true, null, 'other_app')).toBe('[while another app held the chat] ');
    expect(label('outbound', true, 'user', 'coex')).toBe('[sent by another handler] ');
    expect(label('inbound', true, null, 'coex')).toBe('[while another handler held the chat] ');
  });
});

type Call = { method: string; arg: unknown };

/**
 * A HubSpot connector with an inbox channel whose custom-channel client records its calls (publish
 * answers `hs-<CoEx message id>`); the other methods record like `recordingConnector`'s.
 */
function recordingHubSpot(fail: (method: string, arg: unknown) => Error | null = () => null) {
  const { connector: base, calls } = recordingConnector(fail);
  const record = async (method: string, arg: unknown) => {
    calls.push({ method, arg });
    const error = fail(method, arg);
    if (error) throw error;
  };
  const client = {
    publishMessage: async (channelId: string, input: { integrationIdempotencyId: string }) => {
      await record('publishMessage', { channelId, input });
      return { id: `hs-${input.integrationIdempotencyId}` };
    },
    updateMessageStatus: (channelId: string, messageId: string, status: string, reason?: string) => record('updateMessageStatus', { channelId, messageId, status, reason }),
  };
  const connector = Object.create(HubSpotConnector.prototype, {
    inboxChannel: { value: { channelId: 'ch-1', channelAccountId: 'acct-1', inboxId: 'inbox-1' } },
    customChannel: { value: () => client },
  }) as HubSpotConnector;
  for (const m of ['archive', 'attachTranscript', 'showBotState', 'recordMarketingConsent'] as const) Object.defineProperty(connector, m, { value: (base as unknown as Record<string, unknown>)[m] });
  return { connector: connector as CrmConnector, calls };
}

/** A connector that records its calls; `fail` decides, per call, whether (and how) it throws. */
function recordingConnector(fail: (method: string, arg: unknown) => Error | null = () => null, matched: (m: ArchivedMessage) => boolean = () => true) {
  const calls: Call[] = [];
  const record = async (method: string, arg: unknown) => {
    calls.push({ method, arg });
    const error = fail(method, arg);
    if (error) throw error;
  };
  const connector = {
    name: 'woocommerce',
    archive: async (messages: ArchivedMessage[]) => {
      await record('archive', messages);
      return { written: Object.fromEntries(messages.filter(matched).map((m) => [m.id, `crm-${m.wamid}`])), apiCalls: 1 };
    },
    attachTranscript: (arg: unknown) => record('attachTranscript', arg),
    showBotState: (arg: unknown) => record('showBotState', arg),
    recordMarketingConsent: (arg: unknown) => record('recordMarketingConsent', arg),
  } as unknown as CrmConnector;
  return { connector, calls };
}

// Each test takes about a second; 10 s lets a drain that never ends (a mutant) fail fast.
describe.each(backends())('CRM outbox drain [%s]', { timeout: 10_000 }, (backend) => {
  let database: MigratedDatabase;
  let handle: DatabaseHandle;
  let n = 0;
  const AT = Date.UTC(2026, 10, 20, 9, 0, 0);
  const cipher = { decrypt: () => '{}', encrypt: () => '' } as unknown as TokenCipher;
  const logs: Array<{ level: number; msg: string; [k: string]: unknown }> = [];
  const logger = pino({ level: 'warn' }, { write: (line: string) => void logs.push(JSON.parse(line)) });

  /** A tenant of its own with one number, the given deliveries applied, and an active connection. */
  async function tenantWith(payloads: Array<{ entry: Array<{ id: string; changes: Array<{ field: string; value: unknown }> }> }> = []) {
    const id = ++n;
    const tenant = `t${id}`;
    const number: P.NumberRef = { wabaId: '102290129340398', phoneNumberId: `30654035224${String(id).padStart(4, '0')}`, displayPhoneNumber: '212522123456' };
    await handle.db.insertInto('tenants').values({ id: tenant, name: tenant }).execute();
    const connection = (await handle.db.insertInto('crm_connections').values({ tenant_id: tenant, crm: 'woocommerce', account: `shop-${id}`, credentials_enc: 'unused' }).returning('id').executeTakeFirstOrThrow()).id;
    const apply = async (payload: ReturnType<typeof P.text> | { entry: Array<{ id: string; changes: Array<{ field: string; value: unknown }> }> }) => {
      const p = payload as { entry: Array<{ id: string; changes: Array<{ field: string; value: unknown }> }> };
      const events = p.entry.flatMap((e) => e.changes.flatMap((c) => normalizeChange(e.id, c.field, c.value)));
      await handle.db.transaction().execute((trx) => applyEvents(trx, events, { defaultTenantId: tenant }));
    };
    for (const build of payloads) await apply(build);
    return { tenant, number, connection, apply };
  }
  const rowsOf = async (connection: string) =>
    handle.db.selectFrom('crm_outbox').select(['id', 'kind', 'ref_id', 'status', 'attempts', 'last_error', 'crm_record_id', sql<number>`extract(epoch from (next_attempt_at - now()))::float8`.as('due_in')]).where('connection_id', '=', connection).orderBy('id').execute();
  const makeDue = (connection: string) => sql`update crm_outbox set next_attempt_at = now() where connection_id = ${connection}`.execute(handle.db);

  beforeAll(async () => {
    database = await openMigratedDatabase(backend);
    handle = database.handle;
  });
  afterAll(async () => {
    await database?.close();
  });

  it('archives a tenant’s messages as one batch, exactly as stored; unmatched ones are noted, reactions left out', async () => {
    const N: P.NumberRef = { wabaId: '102290129340398', phoneNumberId: `30654035225${String(n + 1).padStart(4, '0')}`, displayPhoneNumber: '212522123456' };
    const { connection } = await tenantWith([
      P.inboundMessage(N, { waId: '212612345678', name: 'Youssef' }, 'wamid.A1', AT, P.text('salam')),
      P.inboundMessage(N, { waId: '212612345678', name: 'Youssef' }, 'wamid.A2', AT + 1000, P.voiceNote('media.v')),
      P.inboundMessage(N, { waId: '212612345678', name: 'Youssef' }, 'wamid.A3', AT + 2000, P.image('media.i')),
      P.inboundMessage(N, { waId: '212612345678', name: 'Youssef' }, 'wamid.A4', AT + 3000, { type: 'reaction', reaction: { message_id: 'wamid.A1', emoji: '👍' } }),
      P.inboundMessage(N, { waId: '212612345678', name: 'Youssef' }, 'wamid.A5', AT + 4000, P.text('oops')),
      P.inboundMessage(N, { waId: '212612345678', name: 'Youssef' }, 'wamid.A6', AT + 5000, { type: 'revoke', revoke: { original_message_id: 'wamid.A5' } }),
    ]);
    const { connector, calls } = recordingConnector(() => null, (m) => m.wamid !== 'wamid.A3');
    const outbox = new CrmOutbox({ db: handle.db, cipher, logger, connectorFor: () => connector });
    const result = await outbox.drain(connection);
    expect(result).toEqual({ written: 3, retried: 0, dead: 0, nextDueSeconds: null });
    expect(calls.map((c) => c.method)).toEqual(['archive']);
    const archived = calls[0]!.arg as ArchivedMessage[];
    expect(archived.map((m) => [m.wamid, m.type, m.text])).toEqual([
      ['wamid.A1', 'text', 'salam'],
      ['wamid.A2', 'audio', '🎙 voice note'],
      ['wamid.A3', 'image', '[image]'],
      ['wamid.A5', 'text', '(deleted by the sender)'],
    ]);
    expect(archived[0]).toEqual({
      id: expect.any(String),
      wamid: 'wamid.A1',
      threadId: expect.any(String),
      direction: 'inbound',
      origin: 'customer',
      type: 'text',
      text: 'salam',
      timestamp: new Date(AT).toISOString(),
      status: 'received',
      customerPhone: '+212612345678',
      customerName: 'Youssef',
      businessPhone: '+212522123456',
      transcript: null,
    });
    const rows = await rowsOf(connection);
    expect(rows.map((r) => [r.kind, r.status, r.crm_record_id, r.last_error])).toEqual([
      ['archive', 'done', 'crm-wamid.A1', null],
      ['archive', 'done', 'crm-wamid.A2', null],
      ['archive', 'done', null, 'nothing to write in this CRM (no matching record)'],
      ['archive', 'done', 'crm-wamid.A5', null],
    ]);
    // Nothing new: nothing sent again.
    expect(await outbox.drain(connection)).toEqual({ written: 0, retried: 0, dead: 0, nextDueSeconds: null });
    expect(calls).toHaveLength(1);
  });

  it('sends transcripts, bot-state changes and consent changes one call each, after the archive', async () => {
    const { connection, number, apply } = await tenantWith();
    await apply(P.inboundMessage(number, { waId: '212611111111', name: 'Amina' }, 'wamid.T1', AT, P.voiceNote('media.t')));
    await sql`update messages set transcript = 'wach kayn livraison', transcript_language = 'ar-MA', transcript_provider = 'whisper', transcript_state = 'done' where wamid = 'wamid.T1'`.execute(handle.db);
    // An echo from the phone pauses the agent: a bot-state change.
    await apply(P.echo(number, '212611111111', 'wamid.T2', AT + 1000, P.text('kayna')));
    await apply({ entry: [{ id: number.wabaId, changes: [{ field: 'user_preferences', value: { metadata: { display_phone_number: number.displayPhoneNumber, phone_number_id: number.phoneNumberId }, user_preferences: [{ wa_id: '212611111111', category: 'marketing_messages', value: 'stop', detail: 'User requested to stop marketing messages', timestamp: String(AT / 1000 + 2) }] } }] }] });
    const { connector, calls } = recordingConnector();
    const outbox = new CrmOutbox({ db: handle.db, cipher, logger, connectorFor: () => connector });
    expect(await outbox.drain(connection)).toEqual({ written: 5, retried: 0, dead: 0, nextDueSeconds: null });
    expect(calls.map((c) => c.method)).toEqual(['archive', 'attachTranscript', 'showBotState', 'recordMarketingConsent']);
    expect((calls[0]!.arg as ArchivedMessage[]).map((m) => [m.wamid, m.direction, m.origin, m.text, m.transcript])).toEqual([
      ['wamid.T1', 'inbound', 'customer', '🎙 voice note', { text: 'wach kayn livraison', language: 'ar-MA' }],
      ['wamid.T2', 'outbound', 'app', 'kayna', null],
    ]);
    const threadId = (calls[0]!.arg as ArchivedMessage[])[0]!.threadId;
    expect(calls[1]!.arg).toEqual({ messageId: expect.any(String), wamid: 'wamid.T1', threadId, customerPhone: '+212611111111', customerName: 'Amina', text: 'wach kayn livraison', language: 'ar-MA', provider: 'whisper', at: expect.stringMatching(/^\d{4}-\d\d-\d\dT/) });
    expect(calls[2]!.arg).toMatchObject({ threadId, customerPhone: '+212611111111', customerName: 'Amina', from: 'active', to: 'paused', at: expect.stringMatching(/^\d{4}-\d\d-\d\dT/) });
    expect((calls[2]!.arg as { pausedUntil: string | null }).pausedUntil).toMatch(/^\d{4}-\d\d-\d\dT/);
    expect(calls[3]!.arg).toEqual({ eventId: expect.any(String), customerPhone: '+212611111111', customerName: 'Amina', businessPhone: '+212522123456', action: 'opt_out', source: 'whatsapp', detail: 'stop: User requested to stop marketing messages', at: new Date(AT + 2000).toISOString() });
    expect((await rowsOf(connection)).map((r) => [r.kind, r.status])).toEqual([
      ['archive', 'done'],
      ['archive', 'done'],
      ['transcript', 'done'],
      ['bot_state', 'done'],
      ['consent', 'done'],
    ]);
  });

  it('one kind per round: maxBatches bounds the rounds of one drain', async () => {
    const { connection, number, apply } = await tenantWith();
    await apply(P.inboundMessage(number, { waId: '212622222222' }, 'wamid.M1', AT, P.text('a')));
    await apply(P.echo(number, '212622222222', 'wamid.M2', AT + 1000, P.text('b')));
    const { connector, calls } = recordingConnector();
    const outbox = new CrmOutbox({ db: handle.db, cipher, logger, connectorFor: () => connector });
    expect(await outbox.drain(connection, 1)).toMatchObject({ written: 2, nextDueSeconds: 0 });
    expect(calls.map((c) => c.method)).toEqual(['archive']);
    expect(await outbox.drain(connection, 1)).toEqual({ written: 1, retried: 0, dead: 0, nextDueSeconds: null });
    expect(calls.map((c) => c.method)).toEqual(['archive', 'showBotState']);
  });

  it('retries a retryable failure no sooner than Retry-After, then dead-letters it after MAX attempts with the reason', async () => {
    const { connection, number, apply } = await tenantWith();
    await apply(P.inboundMessage(number, { waId: '212633333333' }, 'wamid.R1', AT, P.text('a')));
    await apply(P.inboundMessage(number, { waId: '212633333333' }, 'wamid.R2', AT + 1, P.text('b')));
    let failure: Error | null = new CrmError('rate limited', 'woocommerce', true, 429, 600);
    const { connector, calls } = recordingConnector(() => failure);
    const outbox = new CrmOutbox({ db: handle.db, cipher, logger, connectorFor: () => connector });
    const first = await outbox.drain(connection);
    expect(first).toMatchObject({ written: 0, retried: 2, dead: 0 });
    expect(first.nextDueSeconds).toBeGreaterThan(590);
    expect(first.nextDueSeconds).toBeLessThanOrEqual(600);
    let rows = await rowsOf(connection);
    expect(rows.map((r) => [r.status, r.attempts, r.last_error])).toEqual([
      ['pending', 1, 'rate limited'],
      ['pending', 1, 'rate limited'],
    ]);
    for (const r of rows) expect(r.due_in).toBeGreaterThan(590);
    expect(logs.filter((l) => l.msg === 'CRM write failed' && l.connectionId === connection)).toEqual([expect.objectContaining({ level: 40, kind: 'archive', items: 2, retryable: true, err: 'rate limited' })]);
    // Not due: nothing is tried.
    expect(await outbox.drain(connection)).toMatchObject({ written: 0, retried: 0, dead: 0 });
    expect(calls).toHaveLength(1);
    // The last attempt: dead, and nothing pending any more. Errors that are not CrmError count as retryable.
    await sql`update crm_outbox set attempts = ${MAX_CRM_ATTEMPTS - 2}, next_attempt_at = now() where connection_id = ${connection}`.execute(handle.db);
    failure = new Error('socket hang up');
    expect(await outbox.drain(connection)).toMatchObject({ retried: 2, dead: 0 });
    rows = await rowsOf(connection);
    expect(rows.map((r) => [r.status, r.attempts, r.last_error])).toEqual([
      ['pending', MAX_CRM_ATTEMPTS - 1, 'socket hang up'],
      ['pending', MAX_CRM_ATTEMPTS - 1, 'socket hang up'],
    ]);
    for (const r of rows) expect(r.due_in).toBeGreaterThan(crmBackoffMs(MAX_CRM_ATTEMPTS - 1, undefined, () => 0) / 1000 - 5);
    await makeDue(connection);
    failure = new CrmError('x'.repeat(2500), 'woocommerce', true, 503);
    expect(await outbox.drain(connection)).toEqual({ written: 0, retried: 0, dead: 2, nextDueSeconds: null });
    rows = await rowsOf(connection);
    expect(rows.map((r) => [r.status, r.attempts, r.last_error])).toEqual([
      ['dead', MAX_CRM_ATTEMPTS, 'x'.repeat(2000)],
      ['dead', MAX_CRM_ATTEMPTS, 'x'.repeat(2000)],
    ]);
  });

  it('a permanent failure (bad credentials) is dead after three attempts', async () => {
    const { connection, number, apply } = await tenantWith();
    await apply(P.inboundMessage(number, { waId: '212644444444' }, 'wamid.P1', AT, P.text('a')));
    const { connector } = recordingConnector(() => new CrmError('401 unauthorized', 'woocommerce', false, 401));
    const outbox = new CrmOutbox({ db: handle.db, cipher, logger, connectorFor: () => connector });
    const seen = [];
    for (let i = 0; i < MAX_PERMANENT_ATTEMPTS; i += 1) {
      const r = await outbox.drain(connection);
      seen.push([r.retried, r.dead]);
      await makeDue(connection);
    }
    expect(seen).toEqual([
      [1, 0],
      [1, 0],
      [0, 1],
    ]);
    expect((await rowsOf(connection)).map((r) => [r.status, r.attempts, r.last_error])).toEqual([['dead', 3, '401 unauthorized']]);
  });

  it('items of a one-by-one kind written before a failure stay done; only the rest is retried', async () => {
    const { connection, number, apply } = await tenantWith();
    // Two customers, each pausing the agent with an echo: two bot-state changes.
    await apply(P.echo(number, '212655555551', 'wamid.B1', AT, P.text('a')));
    await apply(P.echo(number, '212655555552', 'wamid.B2', AT + 1, P.text('b')));
    let bots = 0;
    const { connector } = recordingConnector((method) => (method === 'showBotState' && ++bots === 2 ? new CrmError('busy', 'woocommerce', true, 503) : null));
    const outbox = new CrmOutbox({ db: handle.db, cipher, logger, connectorFor: () => connector });
    expect(await outbox.drain(connection)).toMatchObject({ written: 3, retried: 1, dead: 0 });
    expect((await rowsOf(connection)).map((r) => [r.kind, r.status, r.attempts])).toEqual([
      ['archive', 'done', 0],
      ['archive', 'done', 0],
      ['bot_state', 'done', 0],
      ['bot_state', 'pending', 1],
    ]);
  });

  it('an opt-in never overtakes the same customer’s opt-out waiting for a retry', async () => {
    const { connection, number, apply } = await tenantWith();
    const pref = (value: string, at: number) => ({ entry: [{ id: number.wabaId, changes: [{ field: 'user_preferences', value: { metadata: { display_phone_number: number.displayPhoneNumber, phone_number_id: number.phoneNumberId }, user_preferences: [{ wa_id: '212666666666', category: 'marketing_messages', value, timestamp: String(at) }] } }] }] });
    await apply(pref('stop', AT / 1000));
    await apply(pref('resume', AT / 1000 + 60));
    let consents = 0;
    const { connector, calls } = recordingConnector((method) => (method === 'recordMarketingConsent' && ++consents === 1 ? new CrmError('busy', 'woocommerce', true, 503) : null));
    const outbox = new CrmOutbox({ db: handle.db, cipher, logger, connectorFor: () => connector });
    expect(await outbox.drain(connection)).toMatchObject({ written: 0, retried: 1 });
    expect(calls.map((c) => (c.arg as { action: string }).action)).toEqual(['opt_out']);
    // The opt-in is due, but waits behind the opt-out.
    expect(await outbox.drain(connection)).toMatchObject({ written: 0, retried: 0 });
    await makeDue(connection);
    expect(await outbox.drain(connection)).toMatchObject({ written: 2, retried: 0 });
    expect(calls.map((c) => (c.arg as { action: string }).action)).toEqual(['opt_out', 'opt_out', 'opt_in']);
  });

  it('consent for a customer known only by a BSUID is done without a CRM call; one never seen has no name', async () => {
    const { connection, number, apply, tenant } = await tenantWith();
    // An opt-out recorded under a BSUID (no phone a CRM could match).
    await handle.db.insertInto('opt_out_events').values({ phone_number_id: number.phoneNumberId, wa_id: 'MA.only-bsuid', tenant_id: tenant, action: 'opt_out', source: 'whatsapp', detail: null }).execute();
    await apply({ entry: [{ id: number.wabaId, changes: [{ field: 'user_preferences', value: { metadata: { display_phone_number: number.displayPhoneNumber, phone_number_id: number.phoneNumberId }, user_preferences: [{ wa_id: '212688888888', category: 'marketing_messages', value: 'stop', timestamp: String(AT / 1000) }] } }] }] });
    // An opt-out for a phone with no contact row at all (recorded by another path).
    await handle.db.insertInto('opt_out_events').values({ phone_number_id: number.phoneNumberId, wa_id: '212677700000', tenant_id: tenant, action: 'opt_out', source: 'api', detail: null }).execute();
    const { connector, calls } = recordingConnector();
    const outbox = new CrmOutbox({ db: handle.db, cipher, logger, connectorFor: () => connector });
    expect(await outbox.drain(connection)).toMatchObject({ written: 3, retried: 0 });
    expect(calls.map((c) => [c.method, (c.arg as { customerPhone: string; customerName: string | null }).customerPhone, (c.arg as { customerName: string | null }).customerName])).toEqual([
      ['recordMarketingConsent', '+212688888888', null],
      ['recordMarketingConsent', '+212677700000', null],
    ]);
    expect((await rowsOf(connection)).map((r) => [r.kind, r.status])).toEqual([
      ['consent', 'done'],
      ['consent', 'done'],
      ['consent', 'done'],
    ]);
  });

  it('a transcript without text or provider is sent as empty, by an unknown provider', async () => {
    const { connection, number, apply } = await tenantWith();
    await apply(P.inboundMessage(number, { waId: '212699999990' }, 'wamid.TX', AT, P.voiceNote('media.x')));
    await sql`update messages set transcript_state = 'done' where wamid = 'wamid.TX'`.execute(handle.db);
    const { connector, calls } = recordingConnector();
    const outbox = new CrmOutbox({ db: handle.db, cipher, logger, connectorFor: () => connector });
    await outbox.drain(connection);
    expect(calls.find((c) => c.method === 'attachTranscript')?.arg).toMatchObject({ wamid: 'wamid.TX', text: '', language: null, provider: 'unknown' });
  });

  it('builds the connector from the stored credentials once per connection, and reuses it', async () => {
    const { connection } = await tenantWith();
    let decrypted = 0;
    const credentials = { crm: 'woocommerce', url: 'https://shop.example', consumerKey: 'ck_1', consumerSecret: 'cs_1', siteKey: 'site' };
    const real = { decrypt: () => ((decrypted += 1), JSON.stringify(credentials)), encrypt: () => '' } as unknown as TokenCipher;
    const outbox = new CrmOutbox({ db: handle.db, cipher: real, logger });
    expect(await outbox.drain(connection)).toEqual({ written: 0, retried: 0, dead: 0, nextDueSeconds: null });
    expect(await outbox.drain(connection)).toEqual({ written: 0, retried: 0, dead: 0, nextDueSeconds: null });
    expect(decrypted).toBe(1);
  });

  it('does nothing for a connection that is not active or does not exist', async () => {
    const { connection, number, apply } = await tenantWith();
    await apply(P.inboundMessage(number, { waId: '212677777777' }, 'wamid.I1', AT, P.text('a')));
    await handle.db.updateTable('crm_connections').set({ status: 'paused' }).where('id', '=', connection).execute();
    const { connector, calls } = recordingConnector();
    const outbox = new CrmOutbox({ db: handle.db, cipher, logger, connectorFor: () => connector });
    expect(await outbox.drain(connection)).toEqual({ written: 0, retried: 0, dead: 0, nextDueSeconds: null });
    expect(await outbox.drain('00000000-0000-0000-0000-000000000000')).toEqual({ written: 0, retried: 0, dead: 0, nextDueSeconds: null });
    expect(calls).toEqual([]);
    expect(await rowsOf(connection)).toEqual([]);
  });

  it('an inbox reply on a connection without an inbox channel fails for good, with the reason', async () => {
    const { connection, tenant } = await tenantWith();
    await handle.db.insertInto('crm_outbox').values({ tenant_id: tenant, connection_id: connection, kind: 'inbox_reply', ref_id: 'reply-1', payload: JSON.stringify({}) }).execute();
    const { connector } = recordingConnector();
    const outbox = new CrmOutbox({ db: handle.db, cipher, logger, connectorFor: () => connector });
    expect(await outbox.drain(connection)).toMatchObject({ written: 0, retried: 1, dead: 0 });
    expect((await rowsOf(connection)).map((r) => [r.kind, r.status, r.attempts, r.last_error])).toEqual([['inbox_reply', 'pending', 1, 'hubspot inbox: the inbox channel was disconnected; reply not sent']]);
    // Not retryable: dead at the third attempt.
    await sql`update crm_outbox set attempts = ${MAX_PERMANENT_ATTEMPTS - 1}, next_attempt_at = now() where connection_id = ${connection}`.execute(handle.db);
    expect(await outbox.drain(connection)).toMatchObject({ retried: 0, dead: 1 });
  });
  /** Makes the connection a HubSpot one whose inbox channel (connected before AT) takes the number's threads. */
  async function withInbox(connection: string, number: P.NumberRef) {
    await handle.db.updateTable('crm_connections').set({ crm: 'hubspot', credentials_enc: 'hubspot-credentials' }).where('id', '=', connection).execute();
    const credentials = { crm: 'hubspot', portalId: '12345', clientSecret: 'secret', accessToken: 'token', inboxChannel: { channelId: 'ch-1', channelAccountId: 'acct-1', inboxId: 'inbox-1', phoneNumberId: number.phoneNumberId, connectedAt: new Date(AT - 60_000).toISOString() } };
    return { decrypt: (enc: string) => (enc === 'hubspot-credentials' ? JSON.stringify(credentials) : '{}'), encrypt: () => '' } as unknown as TokenCipher;
  }
  const messageIds = async (tenant: string) => Object.fromEntries((await handle.db.selectFrom('messages').select(['id', 'wamid']).where('tenant_id', '=', tenant).execute()).map((m) => [m.wamid, m.id]));
  const reply = (messageId: string, text = 'Merci, ghadi nsiftoha lyoum') => ({ messageId, channelId: 'ch-1', channelAccountId: 'acct-1', text, hasAttachments: false, recipientPhone: '+212612345678', actor: 'Salma (hubspot-user:7)' });

  it('a HubSpot connection with an inbox channel publishes the number’s messages there, one call each, with HubSpot’s ids', async () => {
    const { connection, number, apply, tenant } = await tenantWith();
    await apply(P.inboundMessage(number, { waId: '212612345678', name: 'Youssef' }, 'wamid.H1', AT, P.text('salam')));
    await apply(P.inboundMessage(number, { waId: '212612345678', name: 'Youssef' }, 'wamid.H2', AT + 1000, P.text('wach kayn?')));
    const hubspotCipher = await withInbox(connection, number);
    const { connector, calls } = recordingHubSpot();
    const outbox = new CrmOutbox({ db: handle.db, cipher: hubspotCipher, logger, connectorFor: () => connector });
    expect(await outbox.drain(connection)).toEqual({ written: 4, retried: 0, dead: 0, nextDueSeconds: null });
    const ids = await messageIds(tenant);
    expect(calls.map((c) => c.method)).toEqual(['archive', 'publishMessage', 'publishMessage']);
    expect(calls[1]!.arg).toEqual({
      channelId: 'ch-1',
      input: {
        channelAccountId: 'acct-1',
        integrationIdempotencyId: ids['wamid.H1'],
        direction: 'INCOMING',
        text: 'salam',
        sender: { phone: '+212612345678', name: 'Youssef' },
        recipient: { phone: '+212522123456', name: null },
        timestamp: new Date(AT).toISOString(),
      },
    });
    expect((calls[2]!.arg as { input: { text: string } }).input.text).toBe('wach kayn?');
    expect((await rowsOf(connection)).map((r) => [r.kind, r.ref_id, r.status, r.crm_record_id])).toEqual([
      ['archive', ids['wamid.H1'], 'done', 'crm-wamid.H1'],
      ['archive', ids['wamid.H2'], 'done', 'crm-wamid.H2'],
      ['inbox', ids['wamid.H1'], 'done', `hs-${ids['wamid.H1']}`],
      ['inbox', ids['wamid.H2'], 'done', `hs-${ids['wamid.H2']}`],
    ]);
    // An inbox row whose message is gone is done with nothing published.
    const gone = '00000000-0000-4000-8000-000000000001';
    await handle.db.insertInto('crm_outbox').values({ tenant_id: tenant, connection_id: connection, kind: 'inbox', ref_id: gone, payload: JSON.stringify({}) }).execute();
    expect(await outbox.drain(connection)).toEqual({ written: 1, retried: 0, dead: 0, nextDueSeconds: null });
    expect(calls).toHaveLength(3);
    expect((await rowsOf(connection)).filter((r) => r.ref_id === gone).map((r) => [r.kind, r.status, r.crm_record_id, r.last_error])).toEqual([['inbox', 'done', null, null]]);
  });

  it('an inbox publish that fails is retried alone; the messages published before it stay done', async () => {
    const { connection, number, apply, tenant } = await tenantWith();
    await apply(P.inboundMessage(number, { waId: '212612345678' }, 'wamid.F1', AT, P.text('a')));
    await apply(P.inboundMessage(number, { waId: '212612345678' }, 'wamid.F2', AT + 1000, P.text('b')));
    const hubspotCipher = await withInbox(connection, number);
    let publishes = 0;
    const { connector } = recordingHubSpot((method) => (method === 'publishMessage' && ++publishes === 2 ? new CrmError('busy', 'hubspot', true, 503) : null));
    const outbox = new CrmOutbox({ db: handle.db, cipher: hubspotCipher, logger, connectorFor: () => connector });
    expect(await outbox.drain(connection)).toMatchObject({ written: 3, retried: 1, dead: 0 });
    const ids = await messageIds(tenant);
    expect((await rowsOf(connection)).map((r) => [r.kind, r.status, r.attempts, r.crm_record_id, r.last_error])).toEqual([
      ['archive', 'done', 0, 'crm-wamid.F1', null],
      ['archive', 'done', 0, 'crm-wamid.F2', null],
      ['inbox', 'done', 0, `hs-${ids['wamid.F1']}`, null],
      ['inbox', 'pending', 1, null, 'busy'],
    ]);
  });

  it('an agent’s inbox reply goes out on WhatsApp ahead of the archive backlog, and HubSpot is told it was sent', async () => {
    const { connection, number, apply, tenant } = await tenantWith();
    await apply(P.inboundMessage(number, { waId: '212612345678', name: 'Youssef' }, 'wamid.Q1', AT, P.text('fin wsslat?')));
    const hubspotCipher = await withInbox(connection, number);
    const { connector, calls } = recordingHubSpot();
    const sent: unknown[] = [];
    const inboxSender = { send: async (req: unknown) => (sent.push(req), { status: 'sent' as const, messageId: 'coex-msg-1', wamid: 'wamid.OUT1', messageStatus: 'sent', duplicate: false }) };
    const outbox = new CrmOutbox({ db: handle.db, cipher: hubspotCipher, logger, connectorFor: () => connector, inboxSender });
    // Queued, not written: the archive and inbox rows wait.
    expect(await outbox.drain(connection, 0)).toMatchObject({ written: 0, nextDueSeconds: 0 });
    await handle.db.insertInto('crm_outbox').values({ tenant_id: tenant, connection_id: connection, kind: 'inbox_reply', ref_id: 'hs-msg-1', payload: JSON.stringify(reply('hs-msg-1')) }).execute();
    expect(await outbox.drain(connection, 1)).toEqual({ written: 1, retried: 0, dead: 0, nextDueSeconds: 0 });
    const thread = (await handle.db.selectFrom('threads').select('id').where('tenant_id', '=', tenant).executeTakeFirstOrThrow()).id;
    expect(sent).toEqual([{ threadId: thread, tenantId: tenant, origin: 'api', actor: 'Salma (hubspot-user:7)', message: { type: 'text', body: 'Merci, ghadi nsiftoha lyoum' }, clientRef: 'hubspot-inbox:hs-msg-1' }]);
    expect(calls).toEqual([{ method: 'updateMessageStatus', arg: { channelId: 'ch-1', messageId: 'hs-msg-1', status: 'SENT', reason: undefined } }]);
    expect((await rowsOf(connection)).map((r) => [r.kind, r.status, r.crm_record_id])).toEqual([
      ['archive', 'pending', null],
      ['inbox', 'pending', null],
      ['inbox_reply', 'done', 'coex-msg-1'],
    ]);
  });

  it('an inbox reply in a process without a WhatsApp sender fails for good, with the reason', async () => {
    const { connection, number, tenant } = await tenantWith();
    const hubspotCipher = await withInbox(connection, number);
    await handle.db.insertInto('crm_outbox').values({ tenant_id: tenant, connection_id: connection, kind: 'inbox_reply', ref_id: 'hs-msg-2', payload: JSON.stringify(reply('hs-msg-2')) }).execute();
    const { connector, calls } = recordingHubSpot();
    const outbox = new CrmOutbox({ db: handle.db, cipher: hubspotCipher, logger, connectorFor: () => connector });
    expect(await outbox.drain(connection)).toMatchObject({ written: 0, retried: 1, dead: 0 });
    expect((await rowsOf(connection)).map((r) => [r.kind, r.status, r.attempts, r.last_error])).toEqual([['inbox_reply', 'pending', 1, 'hubspot inbox: no WhatsApp sender configured in this process']]);
    await sql`update crm_outbox set attempts = ${MAX_PERMANENT_ATTEMPTS - 1}, next_attempt_at = now() where connection_id = ${connection}`.execute(handle.db);
    expect(await outbox.drain(connection)).toMatchObject({ retried: 0, dead: 1 });
    expect(calls).toEqual([]);
  });

  it('a drain waits while another session holds its connection’s lock, and releases the lock when done', async () => {
    const { connection, number, apply } = await tenantWith();
    await apply(P.inboundMessage(number, { waId: '212612345678' }, 'wamid.L1', AT, P.text('a')));
    const { connector, calls } = recordingConnector();
    const outbox = new CrmOutbox({ db: handle.db, cipher, logger, connectorFor: () => connector });
    const other = new pg.Client({ connectionString: database.databaseUrl });
    await other.connect();
    const key = `coex:crm-outbox:${connection}`;
    try {
      await other.query('select pg_advisory_lock(hashtextextended($1, 0))', [key]);
      let finished = false;
      const drain = outbox.drain(connection).then((r) => ((finished = true), r));
      await new Promise((r) => setTimeout(r, 300));
      expect(finished).toBe(false);
      expect(calls).toEqual([]);
      await other.query('select pg_advisory_unlock(hashtextextended($1, 0))', [key]);
      expect(await drain).toEqual({ written: 1, retried: 0, dead: 0, nextDueSeconds: null });
      // The drain's session let go of the lock: another session takes it at once.
      expect((await other.query('select pg_try_advisory_lock(hashtextextended($1, 0)) as ok', [key])).rows).toEqual([{ ok: true }]);
      await other.query('select pg_advisory_unlock(hashtextextended($1, 0))', [key]);
      // Even after a drain that failed.
      const failing = new CrmOutbox({ db: handle.db, cipher, logger, connectorFor: () => { throw new Error('no connector'); } });
      await expect(failing.drain(connection)).rejects.toThrow('no connector');
      expect((await other.query('select pg_try_advisory_lock(hashtextextended($1, 0)) as ok', [key])).rows).toEqual([{ ok: true }]);
    } finally {
      await other.end();
    }
  });
});
