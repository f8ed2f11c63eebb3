import { sql } from 'kysely';
import type { Logger } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backends } from './helpers/backends.js';
import { openMigratedDatabase, type MigratedDatabase } from './helpers/migrated-database.js';
import type { DatabaseHandle } from '../core/src/db/index.js';
import type { GraphClient, OutboundMessage } from '../core/src/outbound/graph-client.js';
import { GraphApiError, GraphTransportError } from '../core/src/outbound/graph-errors.js';
import type { DbPacer } from '../core/src/outbound/pacer.js';
import { NumberNotConnectedError, RecipientUnknownError, SendFailedError, SendService, addressOf, type SendRequest } from '../core/src/outbound/send-service.js';
import { WindowClosedError } from '../core/src/outbound/window.js';
import { applyEvents } from '../core/src/store/apply.js';
import { normalizeChange } from '../core/src/whatsapp/normalize.js';
import * as P from '../core/src/whatsapp/payloads.js';

/**
 * The send path on its own database, with a Graph client that answers from a script and a pacer that
 * records its calls: what is refused before anything is stored, the claim (the agent's
 * compare-and-set, a person's reply pausing the agent), in-request retries, the deferred retry job
 * and its resend, failures recorded with Meta's reason. No runtime, no HTTP, no real waits (jitter
 * drawn at 0): quick enough for mutation testing (docs/testing.md).
 */
describe.each(backends())('send service [%s]', { timeout: 10_000 }, (backend) => {
  let database: MigratedDatabase;
  let handle: DatabaseHandle;
  let n = 0;
  const AT = Date.UTC(2026, 10, 20, 9, 0, 0);
  const apiError = (code: number, httpStatus = 400, retryAfterSeconds: number | null = null) =>
    new GraphApiError({ httpStatus, code, subcode: null, type: 'OAuthException', details: `details ${code}`, fbtraceId: null, retryAfterSeconds, isTransient: null, graphMessage: `(#${code}) refused` });

  /** A thread with a customer who wrote at AT (the window is open for 24 h), on a number of its own. */
  async function thread(customer: { waId: string; userId?: string } = { waId: '212612345678' }) {
    const N: P.NumberRef = { wabaId: '102290129340398', phoneNumberId: `60654035224${String(++n).padStart(4, '0')}`, displayPhoneNumber: '212522123456' };
    const payload = P.inboundMessage(N, customer, `wamid.in${n}`, AT, P.text('salam'), customer.userId ? { from_user_id: customer.userId } : {});
    const events = payload.entry.flatMap((e) => e.changes.flatMap((c) => normalizeChange(e.id, c.field, c.value)));
    await handle.db.transaction().execute((trx) => applyEvents(trx, events, { defaultTenantId: 'atlas' }));
    const row = await handle.db.selectFrom('threads').select(['id', 'bot_version']).where('phone_number_id', '=', N.phoneNumberId).executeTakeFirstOrThrow();
    return { N, threadId: row.id, botVersion: String(row.bot_version) };
  }

  /**
   * A SendService whose Graph API answers with `script` in turn (an Error is thrown), then accepts. Its
   * clock reads `minutesAfter` AT; `onAcquire` runs in each pacer wait (it may move the clock). It
   * records what it sends, its pacer calls, its retry jobs, its log lines and the stored status of the
   * message while the Graph call is in flight.
   */
  function service(
    script: Array<Error | { wamid: string; messageStatus: string }> = [],
    options: { minutesAfter?: number; scheduler?: boolean | ((id: string, ms: number) => Promise<void>); maxAttempts?: number; maxBackoffMs?: number; onAcquire?: (clock: { minutes: number }) => void } = {},
  ) {
    const sent: Array<{ phoneNumberId: string; message: OutboundMessage }> = [];
    const paced: Array<[string, ...unknown[]]> = [];
    const scheduled: Array<[string, number]> = [];
    const logs: Array<[Record<string, unknown>, string]> = [];
    const inFlight: Array<string | null> = [];
    const clock = { minutes: options.minutesAfter ?? 1 };
    const logger = { warn: (obj: Record<string, unknown>, msg: string) => void logs.push([obj, msg]) } as unknown as Logger;
    const graph = {
      sendMessage: async (phoneNumberId: string, message: OutboundMessage) => {
        sent.push({ phoneNumberId, message });
        const claimed = await handle.db.selectFrom('messages').select('status').where('phone_number_id', '=', phoneNumberId).where('direction', '=', 'outbound').orderBy('claim_seq', 'desc').executeTakeFirst();
        inFlight.push(claimed?.status ?? null);
        const next = script.shift();
        if (next instanceof Error) throw next;
        return next ?? { wamid: `wamid.out${sent.length}`, messageStatus: 'accepted' };
      },
    } as unknown as GraphClient;
    const pacer = {
      acquire: async (pn: string, o: unknown) => {
        paced.push(['acquire', pn, o]);
        options.onAcquire?.(clock);
      },
      penalize: async (pn: string, ms: number) => void paced.push(['penalize', pn, ms]),
    } as unknown as DbPacer;
    const svc = new SendService(handle.db, graph, pacer, logger, {
      now: () => new Date(AT + clock.minutes * 60_000),
      random: () => 0,
      ...(options.maxAttempts ? { maxAttempts: options.maxAttempts } : {}),
      ...(options.maxBackoffMs ? { maxBackoffMs: options.maxBackoffMs } : {}),
    });
    if (typeof options.scheduler === 'function') svc.setRetryScheduler(options.scheduler);
    else if (options.scheduler !== false) svc.setRetryScheduler(async (id, ms) => void scheduled.push([id, ms]));
    return { svc, sent, paced, scheduled, logs, inFlight };
  }
  const row = async (id: string) =>
    handle.db.selectFrom('messages').select(['wamid', 'status', 'status_rank', 'send_attempts', 'error', 'origin', 'type', 'text', 'direction', 'client_ref', 'context_wamid', 'actor']).where('id', '=', id).executeTakeFirstOrThrow();
  const text = (threadId: string, extra: Partial<SendRequest> = {}): SendRequest => ({ threadId, tenantId: 'atlas', origin: 'api', actor: 'amina@shop', message: { type: 'text', body: 'Iyeh, kayna' }, ...extra });
  const botEvents = async (threadId: string) => (await handle.db.selectFrom('bot_events').select(['cause', 'to_state']).where('thread_id', '=', threadId).orderBy('id').execute()).map((e) => [e.cause, e.to_state]);

  beforeAll(async () => {
    database = await openMigratedDatabase(backend);
    handle = database.handle;
    await handle.db.insertInto('tenants').values({ id: 'atlas', name: 'Atlas' }).execute();
  });
  afterAll(async () => {
    await database?.close();
  });

  it('addresses the phone when known, else the BSUID', () => {
    expect(addressOf({ wa_id: '212612345678', user_id: 'MA.1' })).toBe('212612345678');
    expect(addressOf({ wa_id: '', user_id: 'MA.1' })).toBe('MA.1');
    expect(addressOf({ wa_id: null, user_id: null })).toBeNull();
  });

  it('a person’s reply: paced, stored, sent to the customer, recorded with the wamid; the agent steps aside', async () => {
    const { N, threadId } = await thread();
    const { svc, sent, paced, inFlight } = service([{ wamid: 'wamid.OUT', messageStatus: 'accepted' }]);
    const outcome = await svc.send(text(threadId, { clientRef: 'ref-1', message: { type: 'text', body: 'Iyeh, kayna', replyTo: `wamid.in${n}` } }));
    expect(outcome).toEqual({ status: 'sent', messageId: expect.any(String), wamid: 'wamid.OUT', messageStatus: 'accepted', duplicate: false });
    expect(sent).toEqual([{ phoneNumberId: N.phoneNumberId, message: { type: 'text', body: 'Iyeh, kayna', replyTo: `wamid.in${n}`, to: '212612345678' } }]);
    expect(paced).toEqual([['acquire', N.phoneNumberId, { ratePerSecond: 20 }]]);
    const id = (outcome as { messageId: string }).messageId;
    expect(await row(id)).toEqual({ wamid: 'wamid.OUT', status: 'accepted', status_rank: 1, send_attempts: 1, error: null, origin: 'api', type: 'text', text: 'Iyeh, kayna', direction: 'outbound', client_ref: 'ref-1', context_wamid: `wamid.in${n}`, actor: 'amina@shop' });
    expect(await botEvents(threadId)).toEqual([['crm_reply', 'paused']]);
    // Stored as `pending` while the Graph call is in flight; the pause names the person who replied.
    expect(inFlight).toEqual(['pending']);
    expect(await handle.db.selectFrom('bot_events').select('actor').where('thread_id', '=', threadId).execute()).toEqual([{ actor: 'amina@shop' }]);
    // The same client reference again: the first message, not a second send.
    expect(await svc.send(text(threadId, { clientRef: 'ref-1' }))).toEqual({ status: 'sent', messageId: id, wamid: 'wamid.OUT', messageStatus: 'accepted', duplicate: true });
    expect(sent).toHaveLength(1);
  });

  it('stores what each message type shows: a template’s name, a reaction’s emoji and target, a caption', async () => {
    const { threadId } = await thread();
    const { svc } = service();
    const shown = async (message: SendRequest['message']) => {
      const r = await row(((await svc.send(text(threadId, { origin: 'campaign', message }))) as { messageId: string }).messageId);
      return [r.type, r.text, r.context_wamid, r.origin];
    };
    expect(await shown({ type: 'template', name: 'order_update', languageCode: 'fr' })).toEqual(['template', '[template order_update]', null, 'api']);
    expect(await shown({ type: 'reaction', messageId: 'wamid.target', emoji: '👍' })).toEqual(['reaction', '👍', 'wamid.target', 'api']);
    expect(await shown({ type: 'image', media: { id: 'media.1' }, caption: 'Catalogue' })).toEqual(['image', 'Catalogue', null, 'api']);
    expect(await shown({ type: 'image', media: { id: 'media.1' } })).toEqual(['image', null, null, 'api']);
    expect(await shown({ type: 'interactive', interactive: { type: 'button', body: 'Livraison demain ?', buttons: [{ id: 'yes', title: 'Oui' }] } })).toEqual(['interactive', 'Livraison demain ?', null, 'api']);
    // A campaign is not a person answering: the agent is not paused.
    expect(await botEvents(threadId)).toEqual([]);
  });

  it('refuses before storing anything: unknown thread, disconnected number, no address, closed window', async () => {
    const { N, threadId } = await thread();
    const { svc, sent } = service();
    await expect(svc.send(text(threadId, { tenantId: 'other' }))).rejects.toThrow(RecipientUnknownError);
    await expect(svc.send(text(threadId, { tenantId: 'other' }))).rejects.toThrow(`thread ${threadId} not found for this tenant`);
    await handle.db.updateTable('whatsapp_numbers').set({ connection_status: 'disconnected', connection_reason: 'PRIMARY_INACTIVITY' }).where('phone_number_id', '=', N.phoneNumberId).execute();
    const disconnected = await svc.send(text(threadId)).catch((e: unknown) => e);
    expect(disconnected).toBeInstanceOf(NumberNotConnectedError);
    expect([(disconnected as Error).name, (disconnected as Error).message]).toEqual(['NumberNotConnectedError', `number ${N.phoneNumberId} cannot send: disconnected (PRIMARY_INACTIVITY)`]);
    await handle.db.updateTable('whatsapp_numbers').set({ connection_reason: null }).where('phone_number_id', '=', N.phoneNumberId).execute();
    expect(((await svc.send(text(threadId)).catch((e: unknown) => e)) as Error).message).toBe(`number ${N.phoneNumberId} cannot send: disconnected`);
    await handle.db.updateTable('whatsapp_numbers').set({ connection_status: 'connected' }).where('phone_number_id', '=', N.phoneNumberId).execute();
    await sql`update contacts set wa_id = null, user_id = null where id = (select contact_id from threads where id = ${threadId})`.execute(handle.db);
    await expect(svc.send(text(threadId))).rejects.toThrow('this customer has neither a phone number nor a business-scoped user id to send to');
    const late = await thread();
    const closed = service([], { minutesAfter: 25 * 60 });
    await expect(closed.svc.send(text(late.threadId))).rejects.toThrow(WindowClosedError);
    // Refused before waiting for the pacer.
    expect(closed.paced).toEqual([]);
    expect(sent).toEqual([]);
    expect(await handle.db.selectFrom('messages').select('id').where('direction', '=', 'outbound').where('thread_id', 'in', [threadId, late.threadId]).execute()).toEqual([]);
    // A template may go outside the window.
    expect(await service([], { minutesAfter: 25 * 60 }).svc.send(text(late.threadId, { message: { type: 'template', name: 'hello', languageCode: 'en' } }))).toMatchObject({ status: 'sent' });
  });

  it('the agent sends only while active, holding the thread, at the bot version it started from', async () => {
    const { threadId, botVersion } = await thread();
    const { svc, sent } = service();
    const agent = (extra: Partial<SendRequest> = {}) => svc.send(text(threadId, { origin: 'agent', actor: null, expectedBotVersion: botVersion, ...extra }));
    expect(await agent({ expectedBotVersion: String(Number(botVersion) + 1) })).toEqual({ status: 'cancelled', reason: 'human_activity' });
    expect(await agent({ expectedBotVersion: undefined })).toEqual({ status: 'cancelled', reason: 'human_activity' });
    await handle.db.updateTable('threads').set({ control_holder: 'meta_agent' }).where('id', '=', threadId).execute();
    expect(await agent()).toEqual({ status: 'cancelled', reason: 'another_handler' });
    await handle.db.updateTable('threads').set({ control_holder: 'coex', bot_state: 'paused' }).where('id', '=', threadId).execute();
    expect(await agent()).toEqual({ status: 'cancelled', reason: 'bot_not_active' });
    expect(sent).toEqual([]);
    await handle.db.updateTable('threads').set({ bot_state: 'active' }).where('id', '=', threadId).execute();
    const outcome = await agent();
    expect(outcome).toMatchObject({ status: 'sent' });
    expect(await row((outcome as { messageId: string }).messageId)).toMatchObject({ origin: 'agent', actor: null });
    expect(await botEvents(threadId)).toEqual([]);
  });

  it('retries transient errors in the request (a rate limit pushes the number back), then records the send', async () => {
    const { N, threadId } = await thread();
    const { svc, sent, paced, scheduled } = service([new GraphTransportError('socket hang up'), apiError(130429, 400), { wamid: 'wamid.R', messageStatus: 'accepted' }]);
    const outcome = await svc.send(text(threadId));
    expect(outcome).toMatchObject({ status: 'sent', wamid: 'wamid.R' });
    expect(sent).toHaveLength(3);
    expect(paced).toEqual([
      ['acquire', N.phoneNumberId, { ratePerSecond: 20 }],
      ['acquire', N.phoneNumberId, { ratePerSecond: 20 }],
      ['penalize', N.phoneNumberId, 0],
      ['acquire', N.phoneNumberId, { ratePerSecond: 20 }],
    ]);
    expect(scheduled).toEqual([]);
    expect(await row((outcome as { messageId: string }).messageId)).toMatchObject({ status: 'accepted', send_attempts: 3, error: null });
  });

  it('Meta unreachable: one quick retry in the request, then the retry job', async () => {
    const { threadId } = await thread();
    const { svc, sent, scheduled, logs } = service([new GraphTransportError('socket hang up'), new GraphTransportError('timeout')]);
    const outcome = await svc.send(text(threadId));
    expect(outcome).toMatchObject({ status: 'sent', messageStatus: 'retry_scheduled' });
    const messageId = (outcome as { messageId: string }).messageId;
    expect(logs).toEqual([
      [{ threadId, messageId, code: null, kind: 'retry', attempt: 0, retry: 'now', reason: 'socket hang up' }, 'send failed: socket hang up'],
      [{ threadId, messageId, code: null, kind: 'retry', attempt: 1, retry: 'deferred', reason: 'timeout' }, 'send failed: timeout'],
    ]);
    expect(sent).toHaveLength(2);
    expect(scheduled).toEqual([[(outcome as { messageId: string }).messageId, 0]]);
    expect(await row((outcome as { messageId: string }).messageId)).toMatchObject({ status: 'retry_scheduled', send_attempts: 2, error: { code: null, kind: 'retry', message: 'timeout', retry_in_ms: 0 } });
  });

  it('a permanent refusal marks the message failed with Meta’s reason and throws', async () => {
    const { threadId } = await thread();
    const { svc } = service([apiError(131026)]);
    const error = await svc.send(text(threadId)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SendFailedError);
    expect((error as SendFailedError).message).toBe('WhatsApp refused the message (permanent, code 131026): Graph API error, HTTP 400, code 131026: (#131026) refused (details 131026)');
    expect((error as SendFailedError).code).toBe(131026);
    expect((error as SendFailedError).name).toBe('SendFailedError');
    const r = await row((error as SendFailedError).messageId);
    expect(r).toMatchObject({ status: 'failed', status_rank: 6, send_attempts: 1, error: { code: 131026, kind: 'permanent', message: 'Graph API error, HTTP 400, code 131026: (#131026) refused (details 131026)' } });
    // An authentication template to a BSUID-only customer: Meta's reason, in words.
    const bsuid = await thread({ waId: '', userId: 'MA.only' });
    const refused = await service([apiError(131062)]).svc.send(text(bsuid.threadId, { message: { type: 'template', name: 'otp', languageCode: 'en' } })).catch((e: unknown) => e);
    expect((refused as Error).message).toContain('authentication templates cannot be sent to a customer known only by a business-scoped user id (WhatsApp username); Meta needs their phone number (131062): ');
    // Anything else the client throws is permanent, without a code.
    const broken = service([new Error('request body invalid')]);
    const odd = (await broken.svc.send(text(threadId)).catch((e: unknown) => e)) as SendFailedError;
    expect([odd.message, odd.code, odd.kind]).toEqual(['WhatsApp refused the message (permanent): request body invalid', null, 'permanent']);
    expect(broken.logs).toEqual([
      [{ threadId, messageId: odd.messageId, code: null, kind: 'permanent', attempt: 0, retry: 'no', reason: 'request body invalid' }, 'send failed: request body invalid'],
    ]);
  });

  it('gives up in the request after maxAttempts; a long backoff goes to the retry job, and resend finishes it', async () => {
    const { threadId } = await thread();
    // Three transient errors with maxAttempts 3, no retry job: failed.
    const tired = service([apiError(131000, 500), apiError(131000, 500), apiError(131000, 500)], { maxAttempts: 3, scheduler: false });
    const failed = await tired.svc.send(text(threadId)).catch((e: unknown) => e);
    expect(failed).toBeInstanceOf(SendFailedError);
    expect(tired.sent).toHaveLength(3);
    expect(await row((failed as SendFailedError).messageId)).toMatchObject({ status: 'failed', send_attempts: 3 });
    // Retry-After of two minutes: longer than a request may wait, so the job takes it.
    const later = service([apiError(131000, 503, 120)]);
    const outcome = await later.svc.send(text(threadId));
    const id = (outcome as { messageId: string }).messageId;
    expect(outcome).toEqual({ status: 'sent', messageId: id, wamid: expect.stringMatching(/^pending:/), messageStatus: 'retry_scheduled', duplicate: false });
    expect(later.scheduled).toEqual([[id, 120_000]]);
    expect(await row(id)).toMatchObject({ status: 'retry_scheduled', send_attempts: 1, error: { code: 131000, kind: 'retry', retry_in_ms: 120_000 } });
    expect(await later.svc.resend(id)).toMatchObject({ status: 'sent', messageId: id, messageStatus: 'accepted' });
    expect(later.paced.at(-1)).toEqual(['acquire', later.sent[0]!.phoneNumberId, { ratePerSecond: 20 }]);
    expect(later.paced).toHaveLength(2);
    expect(await row(id)).toMatchObject({ status: 'accepted', send_attempts: 2, error: null });
    // Only a retry_scheduled message is resent.
    expect(await later.svc.resend(id)).toBeNull();
    expect(later.sent).toHaveLength(2);
  });

  it('resend fails the message when the number was disconnected or the window closed meanwhile', async () => {
    const { N, threadId } = await thread();
    const schedule = async (minutesAfter = 1) => {
      const s = service([apiError(131000, 503, 120)], { minutesAfter });
      return ((await s.svc.send(text(threadId))) as { messageId: string }).messageId;
    };
    const first = await schedule();
    await handle.db.updateTable('whatsapp_numbers').set({ connection_status: 'offboarded' }).where('phone_number_id', '=', N.phoneNumberId).execute();
    const { svc, sent } = service();
    expect(await svc.resend(first)).toBeNull();
    expect(await row(first)).toMatchObject({ status: 'failed', status_rank: 6, error: { message: 'number not connected (offboarded)' } });
    await handle.db.updateTable('whatsapp_numbers').set({ connection_status: 'connected' }).where('phone_number_id', '=', N.phoneNumberId).execute();
    const second = await schedule();
    expect(await service([], { minutesAfter: 25 * 60 }).svc.resend(second)).toBeNull();
    expect(await row(second)).toMatchObject({ status: 'failed', error: { message: expect.stringContaining('window') } });
    // A resend refused for good returns null too.
    const third = await schedule();
    expect(await service([apiError(131026)]).svc.resend(third)).toBeNull();
    expect(await row(third)).toMatchObject({ status: 'failed', send_attempts: 2 });
    expect(sent).toEqual([]);
    expect(await svc.resend('00000000-0000-0000-0000-000000000000')).toBeNull();
  });

  it('while Meta holds business-initiated messaging, templates are refused (send and resend) and replies go out; after its end, templates too', async () => {
    const { N, threadId } = await thread();
    const template = { message: { type: 'template' as const, name: 'order_update', languageCode: 'fr' } };
    const holdUntil = async (until: string | null) =>
      handle.db.updateTable('whatsapp_numbers').set({ business_initiated_blocked_until: until === null ? null : sql`${until}::timestamptz` }).where('phone_number_id', '=', N.phoneNumberId).execute();
    // A template waiting for its retry when the hold begins (Meta said 503: the retry job has it).
    const waiting = ((await service([apiError(131000, 503, 120)]).svc.send(text(threadId, template))) as { messageId: string }).messageId;
    await holdUntil(new Date(AT + 60 * 60_000).toISOString());
    const accepted = (wamid: string) => [{ wamid, messageStatus: 'accepted' }];
    const { svc, sent, paced } = service(accepted('wamid.biz-reply'), { minutesAfter: 30 });
    const refused = await svc.send(text(threadId, template)).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(NumberNotConnectedError);
    expect((refused as NumberNotConnectedError).connectionStatus).toBe('restricted');
    expect((refused as Error).message).toBe(
      `number ${N.phoneNumberId} cannot send: restricted (Meta restricted business-initiated messaging until ${new Date(AT + 60 * 60_000).toISOString()}: templates are held; replies inside the 24-hour window go out)`,
    );
    expect(paced).toEqual([]);
    expect(await svc.resend(waiting)).toBeNull();
    expect(await row(waiting)).toMatchObject({ status: 'failed', error: { message: expect.stringContaining('templates are held') } });
    // A reply inside the window is no business-initiated message.
    expect(await svc.send(text(threadId))).toMatchObject({ status: 'sent' });
    expect(sent.map((m) => m.message.type)).toEqual(['text']);
    // The hold ends at its time; with no end given it holds until lifted.
    expect(await service(accepted('wamid.biz-after'), { minutesAfter: 61 }).svc.send(text(threadId, template))).toMatchObject({ status: 'sent' });
    await holdUntil('infinity');
    await expect(service([], { minutesAfter: 24 * 60 }).svc.send(text(threadId, template))).rejects.toThrow('Meta restricted business-initiated messaging: templates are held');
    await holdUntil(null);
    expect(await service(accepted('wamid.biz-lifted'), { minutesAfter: 24 * 60 }).svc.send(text(threadId, template))).toMatchObject({ status: 'sent' });
  });

  it('outside the window every free-form type is refused, before the pacer', async () => {
    const { threadId } = await thread();
    const { svc, sent, paced } = service([], { minutesAfter: 25 * 60 });
    const media = { media: { id: 'media.1' } };
    const freeForm: Array<SendRequest['message']> = [
      { type: 'text', body: 'salam' },
      { type: 'image', ...media },
      { type: 'audio', ...media },
      { type: 'video', ...media },
      { type: 'document', ...media },
      { type: 'sticker', ...media },
      { type: 'interactive', interactive: { type: 'button', body: 'Oui ?', buttons: [{ id: 'yes', title: 'Oui' }] } },
      { type: 'reaction', messageId: 'wamid.target', emoji: '👍' },
    ];
    for (const message of freeForm) await expect(svc.send(text(threadId, { message }))).rejects.toThrow(WindowClosedError);
    expect(sent).toEqual([]);
    expect(paced).toEqual([]);
  });

  it('the window closing while the message waits for its pacer slot is caught by the claim: nothing stored, nothing sent', async () => {
    const { threadId } = await thread();
    const { svc, sent, paced } = service([], { onAcquire: (clock) => void (clock.minutes = 25 * 60) });
    await expect(svc.send(text(threadId))).rejects.toThrow(WindowClosedError);
    expect(paced).toHaveLength(1);
    expect(sent).toEqual([]);
    expect(await handle.db.selectFrom('messages').select('id').where('direction', '=', 'outbound').where('thread_id', '=', threadId).execute()).toEqual([]);
    expect(await botEvents(threadId)).toEqual([]);
  });

  it('without a clock given, the service reads the time', async () => {
    const { threadId } = await thread();
    const pacer = { acquire: async () => undefined, penalize: async () => undefined } as unknown as DbPacer;
    const graph = { sendMessage: async () => ({ wamid: 'wamid.CLOCK', messageStatus: 'accepted' }) } as unknown as GraphClient;
    const svc = new SendService(handle.db, graph, pacer, { warn: () => undefined } as unknown as Logger);
    const before = Date.now();
    const outcome = await svc.send(text(threadId, { message: { type: 'template', name: 'hello', languageCode: 'en' } }));
    const after = Date.now();
    const stored = await handle.db.selectFrom('messages').select(['provider_timestamp', 'status_at']).where('id', '=', (outcome as { messageId: string }).messageId).executeTakeFirstOrThrow();
    for (const t of [stored.provider_timestamp, stored.status_at!]) {
      expect(t.getTime()).toBeGreaterThanOrEqual(before);
      expect(t.getTime()).toBeLessThanOrEqual(after);
    }
  });

  it('records the status Meta answers (an unknown one ranks as accepted) and folds in a status that raced ahead of the response', async () => {
    const { N, threadId } = await thread();
    const { svc } = service([{ wamid: 'wamid.HELD', messageStatus: 'mystery_status' }, { wamid: 'wamid.RACE', messageStatus: 'accepted' }]);
    const held = await svc.send(text(threadId));
    expect(await row((held as { messageId: string }).messageId)).toMatchObject({ wamid: 'wamid.HELD', status: 'mystery_status', status_rank: 1 });
    // The `delivered` webhook of the next message is applied before the Graph API answers.
    const status = P.statusUpdate(N, 'wamid.RACE', 'delivered', AT + 90_000, '212612345678');
    const events = status.entry.flatMap((e) => e.changes.flatMap((c) => normalizeChange(e.id, c.field, c.value)));
    await handle.db.transaction().execute((trx) => applyEvents(trx, events, { defaultTenantId: 'atlas' }));
    const raced = await svc.send(text(threadId));
    expect(raced).toMatchObject({ wamid: 'wamid.RACE', messageStatus: 'accepted' });
    expect(await row((raced as { messageId: string }).messageId)).toMatchObject({ wamid: 'wamid.RACE', status: 'delivered', status_rank: 3 });
  });

  it('a backoff of exactly the longest in-request wait is waited in the request; 80007 pushes the number back like 130429', async () => {
    const { N, threadId } = await thread();
    const { svc, sent, paced, scheduled, logs } = service([apiError(131000, 503, 1), apiError(80007, 400), { wamid: 'wamid.B', messageStatus: 'accepted' }], { maxBackoffMs: 1000 });
    const outcome = await svc.send(text(threadId));
    expect(outcome).toMatchObject({ status: 'sent', wamid: 'wamid.B', messageStatus: 'accepted' });
    expect(sent).toHaveLength(3);
    expect(scheduled).toEqual([]);
    expect(paced).toEqual([
      ['acquire', N.phoneNumberId, { ratePerSecond: 20 }],
      ['acquire', N.phoneNumberId, { ratePerSecond: 20 }],
      ['penalize', N.phoneNumberId, 0],
      ['acquire', N.phoneNumberId, { ratePerSecond: 20 }],
    ]);
    expect(logs.map(([o]) => [o.code, o.attempt, o.retry])).toEqual([
      [131000, 0, 'now'],
      [80007, 1, 'now'],
    ]);
  });

  it('the retry job gives up after maxDeferredAttempts (8) sends in all', async () => {
    const { threadId } = await thread();
    const first = service([apiError(131000, 503, 120)]);
    const id = ((await first.svc.send(text(threadId))) as { messageId: string }).messageId;
    // Six sends so far: the seventh fails again and is scheduled once more.
    await handle.db.updateTable('messages').set({ send_attempts: 6 }).where('id', '=', id).execute();
    const seventh = service([apiError(131000, 503, 120)]);
    expect(await seventh.svc.resend(id)).toMatchObject({ status: 'sent', messageStatus: 'retry_scheduled' });
    expect(seventh.scheduled).toEqual([[id, 120_000]]);
    expect(await row(id)).toMatchObject({ status: 'retry_scheduled', send_attempts: 7 });
    // The eighth is the last.
    const eighth = service([apiError(131000, 503, 120)]);
    expect(await eighth.svc.resend(id)).toBeNull();
    expect(eighth.scheduled).toEqual([]);
    expect(await row(id)).toMatchObject({ status: 'failed', send_attempts: 8, error: { code: 131000, kind: 'retry' } });
    expect(eighth.logs.map(([o]) => [o.attempt, o.retry])).toEqual([[7, 'no']]);
  });

  it('resend passes on an error that is not a refusal (the retry job failing to schedule)', async () => {
    const { threadId } = await thread();
    const first = service([apiError(131000, 503, 120)]);
    const id = ((await first.svc.send(text(threadId))) as { messageId: string }).messageId;
    const down = service([apiError(131000, 503, 120)], { scheduler: async () => Promise.reject(new Error('job queue down')) });
    await expect(down.svc.resend(id)).rejects.toThrow('job queue down');
  });
});
