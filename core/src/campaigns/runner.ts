import { randomUUID } from 'node:crypto';
import { sql, type Kysely } from 'kysely';
import type { Logger } from 'pino';
import { z } from 'zod';
import type { Database } from '../db/schema.js';
import { isBsuid, type GraphClient } from '../outbound/graph-client.js';
import { sleep } from '../outbound/pacer.js';
import { BusinessInitiatedHoldError, NumberNotConnectedError, RecipientUnknownError, SendFailedError, SendService, type SendOutcome, type SendRequest, type ThreadMessage } from '../outbound/send-service.js';
import { upsertContacts, upsertThreads } from '../store/apply.js';
import { contactKeyOf, currentUserIds } from '../store/contact-identity.js';
import { CampaignLanePacer, type CampaignLanePacerOptions } from './lane-pacer.js';
import { optOutSkipReason, recordOptOut, type OptOutListener } from './opt-outs.js';
import { resolveBodyParameters } from './recipients.js';

/**
 * Sends running campaigns, one recipient at a time per worker, restart-safe
 * (docs/decisions/campaign-restart-safety.md):
 * - a recipient is claimed in the database (queued → sending, FOR UPDATE SKIP LOCKED), so any
 *   number of runners in any number of processes never pick the same one;
 * - the send carries clientRef `campaign:<campaign>:<recipient>`: SendService records that key
 *   with the message before calling Meta and returns the existing message for a known key;
 * - a recipient left in `sending` by a runner that died is settled from that message: none → queued
 *   again; a wamid → sent; failed → failed; claimed but no answer recorded → failed
 *   "interrupted" (Meta may or may not have it; marketing is at-most-once, never sent twice).
 */

/** What the runner needs from the send path: SendService (built with the campaign lane pacer). */
export interface CampaignSender {
  send(req: SendRequest): Promise<SendOutcome>;
}

/** SendService paced through the campaign lane: at most `share` of each number's rate. */
export function createCampaignSender(db: Kysely<Database>, graph: GraphClient, logger: Logger, options: CampaignLanePacerOptions = {}): SendService {
  return new SendService(db, graph, new CampaignLanePacer(db, options), logger);
}

/** Meta errors that concern the whole campaign (template, account, token), not one recipient: pause. */
const CAMPAIGN_FATAL_CODES = new Set([132001, 132015, 132016, 132005, 132007, 190, 131031, 131048, 368, 133010]);
/** Meta asks not to retry 131049 (per-user marketing limit) soon; a day per its guidance. */
export const MARKETING_LIMIT_COOLDOWN_HOURS = 24;

export function clientRefFor(campaignId: string, recipientId: string, attempt: number): string {
  return attempt <= 1 ? `campaign:${campaignId}:${recipientId}` : `campaign:${campaignId}:${recipientId}:a${attempt}`;
}

export interface CampaignRunnerOptions {
  db: Kysely<Database>;
  sender: CampaignSender;
  logger: Logger;
  /** Recipients in flight at once per runner (pacing, not this, sets the rate). Default 4. */
  concurrency?: number;
  /** Idle polling and housekeeping period. Default 1000 ms. */
  pollIntervalMs?: number;
  /** A `sending` claim older than this is presumed abandoned by a dead runner. Default 5 min. */
  leaseMs?: number;
  runnerId?: string;
  /** Called in the transaction that records an opt-out from Meta's 131050. */
  onOptOut?: OptOutListener;
}

interface Claimed {
  id: string;
  campaign_id: string;
  wa_id: string;
  name: string | null;
  variables: unknown;
  attempts: number;
  tenant_id: string;
  phone_number_id: string;
  template_name: string;
  template_language: string;
  category: 'marketing' | 'utility';
  body_parameters: unknown;
}

const stringList = z.array(z.string());

export class CampaignRunner {
  readonly runnerId: string;
  private readonly concurrency: number;
  private readonly pollIntervalMs: number;
  private readonly leaseMs: number;
  private abort: AbortController | null = null;
  private loops: Promise<void>[] = [];

  constructor(private readonly opts: CampaignRunnerOptions) {
    this.runnerId = opts.runnerId ?? `runner-${randomUUID()}`;
    this.concurrency = opts.concurrency ?? 4;
    this.pollIntervalMs = opts.pollIntervalMs ?? 1000;
    this.leaseMs = opts.leaseMs ?? 5 * 60_000;
  }

  private get db(): Kysely<Database> {
    return this.opts.db;
  }

  /** Starts the housekeeping loop and `concurrency` workers. Idempotent. */
  start(): void {
    if (this.abort) return;
    const abort = new AbortController();
    this.abort = abort;
    const guard = (what: string, p: Promise<void>): Promise<void> =>
      p.catch((error: unknown) => {
        if (!abort.signal.aborted) this.opts.logger.error({ err: error instanceof Error ? error.message : String(error), what }, 'campaign runner loop stopped');
      });
    this.loops = [guard('housekeeping', this.housekeepingLoop(abort.signal))];
    for (let i = 0; i < this.concurrency; i++) this.loops.push(guard('worker', this.workerLoop(abort.signal)));
  }

  /** Stops claiming; waits for the sends in flight to be recorded. */
  async stop(): Promise<void> {
    if (!this.abort) return;
    this.abort.abort(new Error('campaign runner stopped'));
    await Promise.allSettled(this.loops);
    this.abort = null;
    this.loops = [];
  }

  /**
   * One housekeeping pass: due scheduled campaigns start, campaigns held by Meta's restriction of
   * business-initiated messaging resume once it is over, abandoned claims are settled, finished
   * campaigns complete, async failures are folded in.
   */
  async housekeeping(): Promise<void> {
    await this.promoteDue();
    await this.resumeAfterHold();
    await this.recoverAbandoned();
    await this.foldAsyncFailures();
    await this.completeFinished();
  }

  /** Processes recipients until none is claimable (tests, CLI). Returns how many were processed. */
  async runUntilIdle(): Promise<number> {
    await this.housekeeping();
    const counts = await Promise.all(
      Array.from({ length: this.concurrency }, async () => {
        let n = 0;
        while (await this.processOne()) n++;
        return n;
      }),
    );
    await this.housekeeping();
    return counts.reduce((a, b) => a + b, 0);
  }

  private async housekeepingLoop(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      try {
        await this.housekeeping();
      } catch (error) {
        this.opts.logger.warn({ err: error instanceof Error ? error.message : String(error) }, 'campaign housekeeping failed');
      }
      await sleep(this.pollIntervalMs, signal).catch(() => undefined);
    }
  }

  private async workerLoop(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      let worked = false;
      try {
        worked = await this.processOne(signal);
      } catch (error) {
        this.opts.logger.warn({ err: error instanceof Error ? error.message : String(error) }, 'campaign worker step failed');
      }
      if (!worked) await sleep(this.pollIntervalMs, signal).catch(() => undefined);
    }
  }

  async promoteDue(): Promise<number> {
    const rows = await this.db
      .updateTable('campaigns')
      .set({ status: 'running', started_at: sql`coalesce(started_at, now())`, updated_at: sql`now()` })
      .where('status', '=', 'scheduled')
      .where('send_at', '<=', sql<Date>`now()`)
      .returning('id')
      .execute();
    return rows.length;
  }

  /**
   * Resumes the campaigns paused by Meta's hold on their number's business-initiated messaging once
   * the hold is over: its end passed (the database's clock), or Meta lifted it (a reconnection clears
   * it). If the number cannot send for another reason by then, the next send pauses the campaign
   * again with that reason, for a person to decide.
   */
  async resumeAfterHold(): Promise<number> {
    const rows = await sql<{ id: string }>`
      update campaigns c set status = 'running', paused_for_hold = false,
        status_reason = 'resumed: Meta’s hold on business-initiated messaging ended', updated_at = now()
        from whatsapp_numbers n
       where n.phone_number_id = c.phone_number_id and c.status = 'paused' and c.paused_for_hold
         and (n.business_initiated_blocked_until is null or n.business_initiated_blocked_until <= now())
      returning c.id`.execute(this.db);
    for (const { id } of rows.rows) this.opts.logger.info({ campaignId: id }, 'campaign resumed: the hold on business-initiated messaging ended');
    return rows.rows.length;
  }

  async completeFinished(): Promise<number> {
    const rows = await sql<{ id: string }>`
      update campaigns c set status = 'completed', completed_at = now(), updated_at = now()
       where c.status = 'running'
         and not exists (select 1 from campaign_recipients r where r.campaign_id = c.id and r.status in ('queued', 'sending'))
      returning c.id`.execute(this.db);
    return rows.rows.length;
  }

  /** Claims the next queued recipient of the oldest running campaign. */
  private async claim(): Promise<Claimed | null> {
    const res = await sql<Claimed>`
      with next as (
        select r.id from campaign_recipients r
          join campaigns c on c.id = r.campaign_id
         where c.status = 'running' and r.status = 'queued'
         order by c.started_at, r.id
         limit 1
         for update of r skip locked
      ), claimed as (
        update campaign_recipients r
           set status = 'sending', attempts = r.attempts + 1, claimed_by = ${this.runnerId}, claimed_at = now(), updated_at = now()
          from next where r.id = next.id
        returning r.id, r.campaign_id, r.wa_id, r.name, r.variables, r.attempts
      )
      select claimed.id::text as id, claimed.campaign_id, claimed.wa_id, claimed.name, claimed.variables, claimed.attempts,
             c.tenant_id, c.phone_number_id, c.template_name, c.template_language, c.category, c.body_parameters
        from claimed join campaigns c on c.id = claimed.campaign_id`.execute(this.db);
    return res.rows[0] ?? null;
  }

  /** Claims and sends one recipient; false when there was nothing to do. */
  async processOne(signal?: AbortSignal): Promise<boolean> {
    if (signal?.aborted) return false;
    const r = await this.claim();
    if (!r) return false;
    await this.deliver(r);
    return true;
  }

  private async settle(id: string, set: { status: 'sent' | 'failed' | 'skipped' | 'queued'; messageId?: string | null; wamid?: string | null; errorCode?: number | null; error?: string | null }): Promise<void> {
    await this.db
      .updateTable('campaign_recipients')
      .set({
        status: set.status,
        ...(set.messageId !== undefined ? { message_id: set.messageId } : {}),
        ...(set.wamid !== undefined ? { wamid: set.wamid } : {}),
        error_code: set.errorCode ?? null,
        error: set.error ?? null,
        ...(set.status === 'sent' ? { sent_at: sql`now()` } : {}),
        ...(set.status === 'queued' ? { claimed_by: null, claimed_at: null } : {}),
        updated_at: sql`now()`,
      })
      .where('id', '=', id)
      .execute();
  }

  /** Pauses a running campaign; `forHold`: by Meta's hold on business-initiated messaging, resumed by resumeAfterHold. */
  private async pauseCampaign(campaignId: string, reason: string, forHold = false): Promise<void> {
    await this.db
      .updateTable('campaigns')
      .set({ status: 'paused', status_reason: reason, paused_for_hold: forHold, updated_at: sql`now()` })
      .where('id', '=', campaignId)
      .where('status', '=', 'running')
      .execute();
    this.opts.logger.warn({ campaignId, reason }, 'campaign paused');
  }

  private message(r: Claimed): ThreadMessage {
    const spec = r.body_parameters === null ? null : stringList.parse(r.body_parameters);
    const params = resolveBodyParameters(spec, { name: r.name, variables: stringList.parse(r.variables) });
    return {
      type: 'template',
      name: r.template_name,
      languageCode: r.template_language,
      ...(params.length > 0 ? { components: [{ type: 'body' as const, parameters: params.map((text) => ({ type: 'text' as const, text })) }] } : {}),
      bizOpaqueCallbackData: `campaign:${r.campaign_id}`,
    };
  }

  private async deliver(r: Claimed): Promise<void> {
    const who = { tenantId: r.tenant_id, phoneNumberId: r.phone_number_id, waId: r.wa_id };
    // A recipient given by BSUID (no phone): the contact and opt-out follow the customer's current id.
    const identity = isBsuid(r.wa_id) ? { waId: null, userId: r.wa_id, username: null, countryCode: null, profileName: null } : { waId: r.wa_id, userId: null, username: null, countryCode: null, profileName: null };
    // Gate and thread in one short transaction (all queries through trx).
    const gate = await this.db.transaction().execute(async (trx) => {
      if (r.category === 'marketing') {
        const keys = identity.userId ? [...new Set([r.wa_id, (await currentUserIds(trx, r.phone_number_id, [r.wa_id])).get(r.wa_id)!])] : [r.wa_id];
        const opted = await trx.selectFrom('opt_outs').select('source').where('phone_number_id', '=', r.phone_number_id).where('wa_id', 'in', keys).executeTakeFirst();
        if (opted) return { skip: optOutSkipReason(opted.source) } as const;
        const limited = await sql<{ one: number }>`
          select 1 as one from campaign_recipients x join campaigns c on c.id = x.campaign_id
           where x.wa_id = ${r.wa_id} and c.phone_number_id = ${r.phone_number_id} and x.error_code = 131049
             and x.updated_at > now() - make_interval(hours => ${MARKETING_LIMIT_COOLDOWN_HOURS}) and x.id <> ${r.id}
           limit 1`.execute(trx);
        if (limited.rows.length > 0) return { skip: 'marketing_limit_24h' } as const;
      }
      const contacts = await upsertContacts(trx, r.tenant_id, r.phone_number_id, [identity]);
      const contactId = contacts.get(contactKeyOf(identity))!;
      const threads = await upsertThreads(trx, r.tenant_id, r.phone_number_id, [contactId]);
      const threadId = threads.get(contactId)!;
      await trx.updateTable('campaign_recipients').set({ thread_id: threadId }).where('id', '=', r.id).execute();
      return { threadId } as const;
    });
    if ('skip' in gate) return this.settle(r.id, { status: 'skipped', error: gate.skip });

    let message: ThreadMessage;
    try {
      message = this.message(r);
    } catch (error) {
      return this.settle(r.id, { status: 'failed', error: `bad parameters: ${error instanceof Error ? error.message : String(error)}` });
    }
    try {
      const outcome = await this.opts.sender.send({
        threadId: gate.threadId,
        tenantId: r.tenant_id,
        origin: 'campaign',
        actor: `campaign:${r.campaign_id}`,
        message,
        clientRef: clientRefFor(r.campaign_id, r.id, r.attempts),
      });
      if (outcome.status !== 'sent') return this.settle(r.id, { status: 'failed', error: `cancelled: ${outcome.reason}` });
      if (outcome.duplicate) {
        await this.settleFromMessage(r.id, r.phone_number_id, clientRefFor(r.campaign_id, r.id, r.attempts));
        return;
      }
      return this.settle(r.id, { status: 'sent', messageId: outcome.messageId, wamid: outcome.wamid });
    } catch (error) {
      if (error instanceof SendFailedError) {
        if (error.code !== null && CAMPAIGN_FATAL_CODES.has(error.code)) {
          // Meta refused synchronously, so nothing went out: the recipient waits for the resume (new clientRef then).
          await this.settle(r.id, { status: 'queued' });
          return this.pauseCampaign(r.campaign_id, `Meta error ${error.code} (${error.kind}): ${error.message.slice(0, 300)}`);
        }
        await this.settle(r.id, { status: 'failed', messageId: error.messageId, errorCode: error.code, error: error.message.slice(0, 500) });
        if (error.code === 131050) await this.db.transaction().execute((trx) => recordOptOut(trx, who, '131050', { messageId: error.messageId, detail: 'Meta 131050: user stopped marketing messages', onOptOut: this.opts.onOptOut }));
        return;
      }
      if (error instanceof BusinessInitiatedHoldError) {
        await this.settle(r.id, { status: 'queued' });
        const ends = error.until ? `when the hold ends (${error.until})` : 'when Meta lifts it';
        return this.pauseCampaign(r.campaign_id, `${error.message}; the campaign resumes by itself ${ends}`, true);
      }
      if (error instanceof NumberNotConnectedError) {
        await this.settle(r.id, { status: 'queued' });
        return this.pauseCampaign(r.campaign_id, error.message);
      }
      if (error instanceof RecipientUnknownError) return this.settle(r.id, { status: 'failed', error: error.message.slice(0, 500) });
      // Unknown failure (database, crash-like): leave it `sending`; recovery settles it from the message row.
      this.opts.logger.error({ recipientId: r.id, err: error instanceof Error ? error.message : String(error) }, 'campaign send failed unexpectedly; left for recovery');
    }
  }

  /** Settles a recipient from the message recorded under its clientRef. */
  private async settleFromMessage(recipientId: string, phoneNumberId: string, clientRef: string): Promise<'queued' | 'sent' | 'failed'> {
    const m = await this.db.selectFrom('messages').select(['id', 'wamid', 'status', 'error']).where('phone_number_id', '=', phoneNumberId).where('client_ref', '=', clientRef).executeTakeFirst();
    if (!m) {
      await this.settle(recipientId, { status: 'queued' });
      return 'queued';
    }
    if (m.status === 'failed') {
      const e = z.looseObject({ code: z.number().nullable().optional(), message: z.string().optional() }).safeParse(m.error);
      await this.settle(recipientId, { status: 'failed', messageId: m.id, errorCode: e.success ? (e.data.code ?? null) : null, error: e.success ? (e.data.message ?? 'failed') : 'failed' });
      return 'failed';
    }
    if (m.wamid.startsWith('pending:')) {
      await this.settle(recipientId, { status: 'failed', messageId: m.id, error: 'interrupted: the process stopped between claiming and recording Meta’s answer; not resent (at most once)' });
      return 'failed';
    }
    await this.settle(recipientId, { status: 'sent', messageId: m.id, wamid: m.wamid });
    return 'sent';
  }

  /** Settles `sending` claims older than the lease (their runner died). */
  async recoverAbandoned(leaseMs = this.leaseMs): Promise<{ queued: number; sent: number; failed: number }> {
    const stale = await sql<{ id: string; campaign_id: string; attempts: number; phone_number_id: string }>`
      select r.id::text as id, r.campaign_id, r.attempts, c.phone_number_id
        from campaign_recipients r join campaigns c on c.id = r.campaign_id
       where r.status = 'sending' and r.claimed_at < now() - make_interval(secs => ${leaseMs / 1000})
       order by r.id limit 1000`.execute(this.db);
    const result = { queued: 0, sent: 0, failed: 0 };
    for (const s of stale.rows) result[await this.settleFromMessage(s.id, s.phone_number_id, clientRefFor(s.campaign_id, s.id, s.attempts))]++;
    if (stale.rows.length > 0) this.opts.logger.warn({ ...result }, 'settled abandoned campaign claims');
    return result;
  }

  /**
   * Meta often reports 131049/131050 as a `failed` status webhook after accepting the send. Folds
   * those into the recipient (so the 24-hour rule sees them) and records 131050 opt-outs.
   */
  async foldAsyncFailures(): Promise<number> {
    const rows = await sql<{ id: string; code: string | null; tenant_id: string; phone_number_id: string; wa_id: string; message_id: string; title: string | null; failed_at: Date | null }>`
      select r.id::text as id, r.wa_id, r.message_id, c.tenant_id, c.phone_number_id, m.status_at as failed_at,
             case jsonb_typeof(m.error) when 'array' then m.error->0->>'code' when 'object' then m.error->>'code' end as code,
             case jsonb_typeof(m.error) when 'array' then m.error->0->>'title' when 'object' then m.error->>'message' end as title
        from campaign_recipients r
        join campaigns c on c.id = r.campaign_id
        join messages m on m.id = r.message_id
       where r.status = 'sent' and m.status = 'failed' and r.error_code is null
       limit 1000`.execute(this.db);
    for (const row of rows.rows) {
      const code = row.code !== null && /^\d+$/.test(row.code) ? Number(row.code) : null;
      await this.db.transaction().execute(async (trx) => {
        await trx.updateTable('campaign_recipients').set({ error_code: code ?? 0, error: row.title ?? 'failed after acceptance', updated_at: sql`now()` }).where('id', '=', row.id).execute();
        if (code === 131050) {
          await recordOptOut(trx, { tenantId: row.tenant_id, phoneNumberId: row.phone_number_id, waId: row.wa_id }, '131050', {
            messageId: row.message_id,
            detail: 'Meta 131050 (status webhook)',
            // Ordered by when Meta refused it, not when housekeeping noticed (a later "resume" must win).
            signalAt: row.failed_at ? new Date(row.failed_at) : null,
            onOptOut: this.opts.onOptOut,
          });
        }
      });
    }
    return rows.rows.length;
  }
}
