import { randomUUID } from 'node:crypto';
import { sql, type Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { Database } from '../db/schema.js';
import { pauseForHuman, reconcileStatuses, STATUS_RANK } from '../store/apply.js';
import type { GraphClient, OutboundMessage } from './graph-client.js';
import { classifyError, GraphTransportError } from './graph-errors.js';
import type { DbPacer } from './pacer.js';
import { sleep } from './pacer.js';
import { assertCanSendFreeForm } from './window.js';
import { takeControlAfterSend } from '../store/thread-control.js';
import { templatesHeldUntil, templatesHold } from '../store/queries.js';

/** Outbound message without its recipient: the thread decides who receives it. */
export type ThreadMessage = OutboundMessage extends infer M ? (M extends { to: string } ? Omit<M, 'to'> : never) : never;

export interface SendRequest {
  threadId: string;
  tenantId: string;
  /** api = a person (CRM card, API client); agent = the AI agent; campaign = a template broadcast
   *  (stored with origin 'api', but it is not a person answering: it does not pause the agent). */
  origin: 'api' | 'agent' | 'campaign';
  actor: string | null;
  message: ThreadMessage;
  /** Agent only: the thread's bot version when generation started (compare-and-set). */
  expectedBotVersion?: string;
  /** Idempotency key: a second request with the same key returns the first message. */
  clientRef?: string;
}

export type SendOutcome =
  | { status: 'sent'; messageId: string; wamid: string; messageStatus: string; duplicate: boolean }
  | { status: 'cancelled'; reason: 'human_activity' | 'bot_not_active' | 'another_handler' };

export class NumberNotConnectedError extends Error {
  constructor(readonly phoneNumberId: string, readonly connectionStatus: string, readonly reason: string | null) {
    super(`number ${phoneNumberId} cannot send: ${connectionStatus}${reason ? ` (${reason})` : ''}`);
    this.name = 'NumberNotConnectedError';
  }
}

/**
 * A template while Meta restricts the messaging the business starts: the number can still reply, so
 * this is a hold, not a disconnection. `until` is Meta's end of it (ISO), null when Meta gave none.
 */
export class BusinessInitiatedHoldError extends NumberNotConnectedError {
  constructor(phoneNumberId: string, readonly until: string | null) {
    super(phoneNumberId, 'restricted', `Meta restricted business-initiated messaging${until ? ` until ${until}` : ''}: templates are held; replies inside the 24-hour window go out`);
    this.name = 'BusinessInitiatedHoldError';
  }
}

export class SendFailedError extends Error {
  constructor(message: string, readonly messageId: string, readonly code: number | null, readonly kind: string) {
    super(message);
    this.name = 'SendFailedError';
  }
}

export class RecipientUnknownError extends Error {}

/**
 * Who a thread's messages go to: the phone when known (sent in `to`), else the business-scoped user
 * id (BSUID, sent in `recipient` by buildMessageRequest). Null when the contact has neither.
 */
export function addressOf(contact: { wa_id: string | null; user_id: string | null }): string | null {
  return contact.wa_id || contact.user_id || null;
}

/** Meta's reason for a refusal, in words an agent in a CRM can act on (kept with the message). */
function explainRefusal(code: number | null, detail: string): string {
  if (code === 131062) {
    return `authentication templates cannot be sent to a customer known only by a business-scoped user id (WhatsApp username); Meta needs their phone number (131062): ${detail}`;
  }
  return detail;
}

/** Types that are free-form (need the 24-hour window); only templates may be sent outside it. */
const FREE_FORM = new Set(['text', 'image', 'audio', 'video', 'document', 'sticker', 'interactive', 'reaction']);

export interface SendServiceOptions {
  now?: () => Date;
  /** In-request retries for transient errors before the message is marked failed. */
  maxAttempts?: number;
  /** Longest single backoff waited in-request. */
  maxBackoffMs?: number;
  random?: () => number;
  /** Retries whose backoff exceeds maxBackoffMs (pair rate 4^X s, Retry-After minutes) run later as a job. */
  maxDeferredAttempts?: number;
}

/** Schedules `resend(messageId)` after `delayMs` (a pg-boss job in the runtime). */
export type RetryScheduler = (messageId: string, delayMs: number) => Promise<void>;

function textOf(m: ThreadMessage): string | null {
  switch (m.type) {
    case 'text':
      return m.body;
    case 'template':
      return `[template ${m.name}]`;
    case 'reaction':
      return m.emoji;
    case 'interactive':
      return m.interactive.body;
    default:
      return 'caption' in m && typeof m.caption === 'string' ? m.caption : null;
  }
}

/**
 * The one send path. Order matters: (1) refuse early what cannot go (number disconnected, window
 * closed for free-form), (2) wait for the number's pacer slot, (3) claim the message in a
 * transaction that re-checks everything — for agent replies a compare-and-set on the thread's bot
 * version, so a reply generated before a human acted is never sent — (4) call the Graph API right
 * away, retrying transient errors with backoff, (5) record the wamid and fold in any status that
 * raced ahead of the response.
 */
export class SendService {
  private readonly now: () => Date;
  private scheduleRetry: RetryScheduler | undefined;

  /** Wires the deferred-retry job (set once the job queue exists). */
  setRetryScheduler(scheduler: RetryScheduler): void {
    this.scheduleRetry = scheduler;
  }

  constructor(
    private readonly db: Kysely<Database>,
    private readonly graph: GraphClient,
    private readonly pacer: DbPacer,
    private readonly logger: Logger,
    private readonly options: SendServiceOptions = {},
  ) {
    this.now = options.now ?? (() => new Date());
  }

  async send(req: SendRequest): Promise<SendOutcome> {
    const target = await this.db
      .selectFrom('threads')
      .innerJoin('contacts', 'contacts.id', 'threads.contact_id')
      .innerJoin('whatsapp_numbers', 'whatsapp_numbers.phone_number_id', 'threads.phone_number_id')
      .select([
        'threads.phone_number_id',
        'threads.last_customer_message_at',
        'contacts.wa_id',
        'contacts.user_id',
        'whatsapp_numbers.connection_status',
        'whatsapp_numbers.connection_reason',
        'whatsapp_numbers.throughput_mps',
        templatesHeldUntil,
      ])
      .where('threads.id', '=', req.threadId)
      .where('threads.tenant_id', '=', req.tenantId)
      .executeTakeFirst();
    if (!target) throw new RecipientUnknownError(`thread ${req.threadId} not found for this tenant`);
    if (target.connection_status !== 'connected') throw new NumberNotConnectedError(target.phone_number_id, target.connection_status, target.connection_reason);
    this.assertBusinessInitiatedAllowed(target.phone_number_id, req.message, target.templates_held_until);
    const address = addressOf(target);
    if (!address) throw new RecipientUnknownError('this customer has neither a phone number nor a business-scoped user id to send to');
    if (req.clientRef) {
      const existing = await this.findByClientRef(target.phone_number_id, req.clientRef);
      if (existing) return existing;
    }
    this.assertWindow(req.message, target.last_customer_message_at);

    await this.pacer.acquire(target.phone_number_id, { ratePerSecond: target.throughput_mps });

    const claimed = await this.claim(req, target.phone_number_id);
    if (claimed.status !== 'claimed') return claimed.outcome;

    const message = { ...req.message, to: address } as OutboundMessage;
    return this.deliver(claimed.messageId, target.phone_number_id, target.throughput_mps, message, 0, req.threadId);
  }

  /**
   * Sends a claimed message, retrying transient errors in-request while the backoff is short; a
   * longer one (pair rate, Retry-After) is handed to the retry job and the message shows
   * `retry_scheduled` meanwhile. Permanent errors mark it failed and throw SendFailedError.
   */
  private async deliver(messageId: string, phoneNumberId: string, mps: number, message: OutboundMessage, firstAttempt: number, threadId: string): Promise<SendOutcome> {
    const maxAttempts = this.options.maxAttempts ?? 5;
    for (let attempt = firstAttempt; ; attempt++) {
      try {
        const result = await this.graph.sendMessage(phoneNumberId, message);
        await this.db.transaction().execute(async (trx) => {
          await trx
            .updateTable('messages')
            .set({ wamid: result.wamid, status: result.messageStatus, status_rank: STATUS_RANK[result.messageStatus] ?? 1, status_at: this.now(), send_attempts: attempt + 1, error: null, updated_at: sql`now()` })
            .where('id', '=', messageId)
            .execute();
          await reconcileStatuses(trx, phoneNumberId, [result.wamid]);
          // A person's service message takes the thread back from Meta's agent / another app.
          await takeControlAfterSend(trx, messageId, this.now());
        });
        return { status: 'sent', messageId, wamid: result.wamid, messageStatus: result.messageStatus, duplicate: false };
      } catch (error) {
        const c = classifyError(error, this.options.random ? { random: this.options.random } : {});
        const code = (error as { code?: unknown }).code;
        const numericCode = typeof code === 'number' ? code : null;
        const backoff = c.backoffMs(attempt);
        const detail = explainRefusal(numericCode, error instanceof Error ? error.message : String(error));
        // Meta unreachable (network, timeout): one quick retry in the request, then the retry job —
        // the caller is not held for the whole backoff series while nothing answers.
        const transport = error instanceof GraphTransportError;
        const inRequest = c.retryable && attempt + 1 < firstAttempt + maxAttempts && backoff <= (this.options.maxBackoffMs ?? 30_000) && (!transport || attempt === firstAttempt);
        const deferred = !inRequest && c.retryable && Number.isFinite(backoff) && this.scheduleRetry !== undefined && attempt + 1 < (this.options.maxDeferredAttempts ?? 8);
        this.logger.warn({ threadId, messageId, code: numericCode, kind: c.kind, attempt, retry: inRequest ? 'now' : deferred ? 'deferred' : 'no', reason: detail }, `send failed: ${detail}`);
        if (inRequest) {
          if (numericCode === 130429 || numericCode === 80007) await this.pacer.penalize(phoneNumberId, backoff);
          await sleep(backoff);
          await this.pacer.acquire(phoneNumberId, { ratePerSecond: mps });
          continue;
        }
        if (deferred) {
          await this.db
            .updateTable('messages')
            .set({ status: 'retry_scheduled', send_attempts: attempt + 1, error: JSON.stringify({ code: numericCode, kind: c.kind, message: detail, retry_in_ms: Math.round(backoff) }), updated_at: sql`now()` })
            .where('id', '=', messageId)
            .execute();
          await this.scheduleRetry!(messageId, backoff);
          const row = await this.db.selectFrom('messages').select('wamid').where('id', '=', messageId).executeTakeFirstOrThrow();
          return { status: 'sent', messageId, wamid: row.wamid, messageStatus: 'retry_scheduled', duplicate: false };
        }
        await this.db
          .updateTable('messages')
          .set({ status: 'failed', status_rank: STATUS_RANK.failed!, status_at: this.now(), send_attempts: attempt + 1, error: JSON.stringify({ code: numericCode, kind: c.kind, message: detail }), updated_at: sql`now()` })
          .where('id', '=', messageId)
          .execute();
        throw new SendFailedError(`WhatsApp refused the message (${c.kind}${numericCode !== null ? `, code ${numericCode}` : ''}): ${detail}`, messageId, numericCode, c.kind);
      }
    }
  }

  /** The retry job: sends a `retry_scheduled` message again (same claim, same idempotency). */
  async resend(messageId: string): Promise<SendOutcome | null> {
    const row = await this.db
      .selectFrom('messages')
      .innerJoin('threads', 'threads.id', 'messages.thread_id')
      .innerJoin('contacts', 'contacts.id', 'threads.contact_id')
      .innerJoin('whatsapp_numbers', 'whatsapp_numbers.phone_number_id', 'messages.phone_number_id')
      .select(['messages.id', 'messages.status', 'messages.payload', 'messages.send_attempts', 'messages.phone_number_id', 'messages.thread_id', 'threads.last_customer_message_at', 'contacts.wa_id', 'contacts.user_id', 'whatsapp_numbers.connection_status', 'whatsapp_numbers.throughput_mps', templatesHeldUntil])
      .where('messages.id', '=', messageId)
      .executeTakeFirst();
    const address = row ? addressOf(row) : null;
    if (!row || row.status !== 'retry_scheduled' || !address) return null;
    const fail = async (reason: string): Promise<null> => {
      await this.db.updateTable('messages').set({ status: 'failed', status_rank: STATUS_RANK.failed!, status_at: this.now(), error: JSON.stringify({ message: reason }), updated_at: sql`now()` }).where('id', '=', messageId).execute();
      return null;
    };
    if (row.connection_status !== 'connected') return fail(`number not connected (${row.connection_status})`);
    const message = { ...(row.payload as ThreadMessage), to: address } as OutboundMessage;
    try {
      this.assertBusinessInitiatedAllowed(row.phone_number_id, message as ThreadMessage, row.templates_held_until);
      this.assertWindow(message as ThreadMessage, row.last_customer_message_at);
    } catch (error) {
      return fail(error instanceof Error ? error.message : String(error));
    }
    await this.pacer.acquire(row.phone_number_id, { ratePerSecond: row.throughput_mps });
    try {
      return await this.deliver(messageId, row.phone_number_id, row.throughput_mps, message, row.send_attempts, row.thread_id);
    } catch (error) {
      if (error instanceof SendFailedError) return null;
      throw error;
    }
  }

  /**
   * A template while Meta restricts the messaging the business starts: held, as a number that cannot
   * send (409 to the API; a campaign pauses with the reason and its recipient waits). Replies inside
   * the 24-hour window are not business-initiated and go on.
   */
  private assertBusinessInitiatedAllowed(phoneNumberId: string, message: ThreadMessage, heldUntilEpoch: number | null): void {
    const hold = templatesHold(heldUntilEpoch, this.now());
    if (FREE_FORM.has(message.type) || hold === null) return;
    throw new BusinessInitiatedHoldError(phoneNumberId, hold.until);
  }

  private assertWindow(message: ThreadMessage, lastCustomerMessageAt: Date | null): void {
    if (FREE_FORM.has(message.type)) assertCanSendFreeForm(lastCustomerMessageAt, this.now());
  }

  private async findByClientRef(phoneNumberId: string, clientRef: string): Promise<SendOutcome | null> {
    const row = await this.db.selectFrom('messages').select(['id', 'wamid', 'status']).where('phone_number_id', '=', phoneNumberId).where('client_ref', '=', clientRef).executeTakeFirst();
    return row ? { status: 'sent', messageId: row.id, wamid: row.wamid, messageStatus: row.status ?? 'pending', duplicate: true } : null;
  }

  private async claim(req: SendRequest, phoneNumberId: string): Promise<{ status: 'claimed'; messageId: string } | { status: 'refused'; outcome: SendOutcome }> {
    return this.db.transaction().execute(async (trx) => {
      const thread = await trx
        .selectFrom('threads')
        .select(['id', 'tenant_id', 'bot_state', 'bot_version', 'last_customer_message_at', 'control_holder'])
        .where('id', '=', req.threadId)
        // Not FOR UPDATE: that also conflicts with the foreign-key share lock every message insert
        // takes on its thread (the inbox applying a batch), a deadlock waiting to happen.
        .forNoKeyUpdate()
        .executeTakeFirstOrThrow();
      if (req.origin === 'agent') {
        if (thread.bot_state !== 'active') return { status: 'refused', outcome: { status: 'cancelled', reason: 'bot_not_active' } } as const;
        if (thread.control_holder !== 'coex') return { status: 'refused', outcome: { status: 'cancelled', reason: 'another_handler' } } as const;
        if (req.expectedBotVersion === undefined || String(thread.bot_version) !== String(req.expectedBotVersion)) {
          return { status: 'refused', outcome: { status: 'cancelled', reason: 'human_activity' } } as const;
        }
      } else if (req.origin === 'api') {
        // A person replying from a CRM or the API: the agent steps aside, and any reply it is
        // generating right now loses its compare-and-set.
        await pauseForHuman(trx, req.threadId, 'crm_reply', this.now(), req.actor ?? null);
      }
      this.assertWindow(req.message, thread.last_customer_message_at);
      const inserted = await trx
        .insertInto('messages')
        .values({
          tenant_id: thread.tenant_id,
          phone_number_id: phoneNumberId,
          thread_id: thread.id,
          wamid: `pending:${randomUUID()}`,
          direction: 'outbound',
          origin: req.origin === 'campaign' ? 'api' : req.origin,
          type: req.message.type,
          text: textOf(req.message),
          provider_timestamp: this.now(),
          status: 'pending',
          context_wamid: 'replyTo' in req.message && typeof req.message.replyTo === 'string' ? req.message.replyTo : req.message.type === 'reaction' ? req.message.messageId : null,
          payload: JSON.stringify(req.message),
          actor: req.actor,
          client_ref: req.clientRef ?? null,
          claim_seq: sql`nextval('activity_seq')`,
        })
        .returning('id')
        .executeTakeFirstOrThrow();
      await trx
        .updateTable('threads')
        .set({ last_message_at: sql`greatest(last_message_at, ${this.now()})`, updated_at: sql`now()` })
        .where('id', '=', thread.id)
        .execute();
      return { status: 'claimed', messageId: inserted.id } as const;
    });
  }
}
