import { sql, type Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { Database } from '../db/schema.js';
import type { LiveMessage } from '../store/apply.js';
import { setBotState } from '../store/bot.js';
import type { SendService } from '../outbound/send-service.js';
import { isWindowOpen } from '../outbound/window.js';
import { detectLanguage } from '../language/detect.js';
import { wantsHuman } from '../language/handoff-intent.js';
import { keywordIntent } from '../language/opt-out-keywords.js';
import { businessProfileSchema } from './offline-responder.js';
import type { AgentDecision, AgentProvider, AgentTools, BusinessProfile, ConversationItem } from './provider.js';

/** Message types the agent answers; reactions alone, statuses, system notices and the like are not. */
const ANSWERABLE = new Set(['text', 'audio', 'image', 'interactive', 'button', 'order', 'location', 'contacts', 'document', 'video']);

export interface AgentSettings {
  /** How long a voice-note turn waits for its transcript before handing off. */
  transcriptTimeoutSeconds: number;
  /** Messages of context given to the provider. */
  historyLimit: number;
}

export interface AgentOrchestratorDeps {
  db: Kysely<Database>;
  sender: SendService;
  logger: Logger;
  /** The provider for a tenant (Gemini when it has a key, the offline FAQ responder otherwise). */
  providerFor: (tenantId: string) => AgentProvider;
  toolsFor: (tenantId: string, threadId: string) => AgentTools;
  /** Enqueues an agent turn job (inside `trx` when given). */
  enqueueTurn: (turnId: string, opts: { trx?: Kysely<Database>; startAfterSeconds?: number }) => Promise<void>;
  settings?: Partial<AgentSettings>;
  now?: () => Date;
}

export type TurnResult =
  | { status: 'sent'; messageId: string; decision: AgentDecision['kind'] }
  | { status: 'cancelled'; reason: string }
  | { status: 'skipped'; reason: string }
  | { status: 'waiting'; reason: string }
  | { status: 'handoff'; reason: string };

/**
 * Decides when the agent answers and makes sure it never talks over a person. A turn is created for
 * each new live customer message (in the delivery's transaction). When it runs it re-reads the
 * thread: only an `active` bot, inside the 24-hour window, answering the customer's latest message,
 * with the voice note's transcript when there is one. It notes the thread's bot version before asking
 * the provider; the send path's compare-and-set refuses the reply if anything human happened since.
 */
export class AgentOrchestrator {
  private readonly settings: AgentSettings;
  private readonly now: () => Date;

  constructor(private readonly deps: AgentOrchestratorDeps) {
    this.settings = { transcriptTimeoutSeconds: 90, historyLimit: 30, ...deps.settings };
    this.now = deps.now ?? (() => new Date());
  }

  /** After-apply hook: one pending turn per new live customer message. */
  async onLiveMessages(live: LiveMessage[], trx: Kysely<Database>): Promise<void> {
    for (const m of live) {
      // A `standby` message belongs to the handler holding the thread (Meta's agent, another app).
      if (m.direction !== 'inbound' || m.origin !== 'customer' || m.standby || !ANSWERABLE.has(m.type)) continue;
      const row = await trx
        .insertInto('agent_turns')
        .values({ tenant_id: m.tenantId, thread_id: m.threadId, trigger_message_id: m.messageId, status: m.voice ? 'waiting_transcript' : 'pending' })
        .onConflict((oc) => oc.column('trigger_message_id').doNothing())
        .returning('id')
        .executeTakeFirst();
      if (!row) continue;
      // A voice note's turn runs when its transcript is ready; this delayed job is the timeout.
      await this.deps.enqueueTurn(row.id, { trx, ...(m.voice ? { startAfterSeconds: this.settings.transcriptTimeoutSeconds } : {}) });
    }
  }

  /**
   * Records, in the delivery's transaction, that these customer messages will get no answer and why
   * (e.g. no access token to send with): a `skipped` turn with the reason, visible on the thread in
   * the API and the console, and a log line — the agent never stays silent without saying so.
   */
  async recordNotAnswered(live: LiveMessage[], reason: string, trx: Kysely<Database>): Promise<void> {
    for (const m of live) {
      if (m.direction !== 'inbound' || m.origin !== 'customer' || !ANSWERABLE.has(m.type)) continue;
      await trx
        .insertInto('agent_turns')
        .values({ tenant_id: m.tenantId, thread_id: m.threadId, trigger_message_id: m.messageId, status: 'skipped', reason })
        .onConflict((oc) => oc.column('trigger_message_id').doNothing())
        .execute();
      this.deps.logger.warn({ tenantId: m.tenantId, threadId: m.threadId, messageId: m.messageId, phoneNumberId: m.phoneNumberId, reason }, `agent will not answer: ${reason}`);
    }
  }

  /** Called when a voice note's transcript is stored (or failed): wakes its turn now. */
  async onTranscriptSettled(messageId: string): Promise<void> {
    const turn = await this.deps.db.selectFrom('agent_turns').select('id').where('trigger_message_id', '=', messageId).executeTakeFirst();
    if (turn) await this.deps.enqueueTurn(turn.id, {});
  }

  async runTurn(turnId: string, signal?: AbortSignal): Promise<TurnResult> {
    const { db } = this.deps;
    const turn = await db.selectFrom('agent_turns').selectAll().where('id', '=', turnId).executeTakeFirst();
    if (!turn) return { status: 'skipped', reason: 'turn not found' };
    if (!['pending', 'waiting_transcript'].includes(turn.status)) return { status: 'skipped', reason: `already ${turn.status}` };
    const finish = async (result: TurnResult): Promise<TurnResult> => {
      if (result.status === 'skipped' || result.status === 'cancelled') this.deps.logger.info({ turnId, threadId: turn.thread_id, status: result.status, reason: result.reason }, `agent did not answer: ${result.reason}`);
      await db
        .updateTable('agent_turns')
        .set({ status: result.status, reason: 'reason' in result ? result.reason : null, reply_message_id: result.status === 'sent' ? result.messageId : null, updated_at: sql`now()` })
        .where('id', '=', turnId)
        .execute();
      return result;
    };

    // Start of generation: the bot version and a position in the activity order, read together.
    const start = await sql<{ bot_state: string; bot_paused_until: Date | null; bot_version: string; last_customer_message_at: Date | null; control_holder: string; seq: string }>`
      select bot_state, bot_paused_until, bot_version, last_customer_message_at, control_holder, nextval('activity_seq') as seq
      from threads where id = ${turn.thread_id}`.execute(db);
    const thread = start.rows[0];
    if (!thread) return finish({ status: 'skipped', reason: 'thread not found' });
    // Never answer over Meta's agent or another app holding the thread (Conversation Routing).
    if (thread.control_holder !== 'coex') return finish({ status: 'skipped', reason: `thread held by ${thread.control_holder}` });
    if (thread.bot_state !== 'active') return finish({ status: 'skipped', reason: `agent ${thread.bot_state}` });
    if (!isWindowOpen(thread.last_customer_message_at, this.now())) return finish({ status: 'skipped', reason: 'outside the 24-hour window' });

    const trigger = await db
      .selectFrom('messages')
      .select(['id', 'type', 'text', 'media_voice', 'transcript', 'transcript_state', 'transcript_error', 'provider_timestamp'])
      .where('id', '=', turn.trigger_message_id)
      .executeTakeFirstOrThrow();
    // Answer only the latest customer message: a burst gets one answer, from its last turn. Meta's
    // timestamps are whole seconds: within one, the order they were stored in (created_at, in
    // microseconds: compared in the database, a JavaScript Date has milliseconds) decides.
    const newer = await db
      .selectFrom('messages')
      .select('id')
      .where('thread_id', '=', turn.thread_id)
      .where('direction', '=', 'inbound')
      .where('origin', '=', 'customer')
      .where('type', 'in', [...ANSWERABLE])
      .where(sql<boolean>`(provider_timestamp, created_at, id) > (select t.provider_timestamp, t.created_at, t.id from messages t where t.id = ${trigger.id})`)
      .executeTakeFirst();
    if (newer) return finish({ status: 'skipped', reason: 'a newer customer message has its own turn' });

    let text = trigger.text ?? '';
    if (trigger.media_voice) {
      if (trigger.transcript_state === 'done' && trigger.transcript) text = trigger.transcript;
      else if (trigger.transcript_state === 'pending' || trigger.transcript_state === 'transcribing') {
        const waited = (this.now().getTime() - new Date(turn.created_at).getTime()) / 1000;
        if (waited < this.settings.transcriptTimeoutSeconds) return { status: 'waiting', reason: 'voice note not transcribed yet' };
        return this.handOff(turn, thread.bot_version, 'voice_note_transcript_timeout', finish);
      } else {
        return this.handOff(turn, thread.bot_version, `voice_note_not_transcribed${trigger.transcript_error ? `: ${trigger.transcript_error}` : ''}`, finish);
      }
    }

    // "STOP" / "baraka" is an instruction to us, not a question for the agent.
    const intent = keywordIntent(text);
    if (intent.optOut.optOut || intent.optIn.optIn) return finish({ status: 'skipped', reason: 'opt-out or opt-in keyword' });

    const provider = this.deps.providerFor(turn.tenant_id);
    await db.updateTable('agent_turns').set({ status: 'generating', bot_version_at_start: thread.bot_version, start_seq: thread.seq, provider: provider.name, updated_at: sql`now()` }).where('id', '=', turnId).execute();

    const language = detectLanguage(text);
    const human = wantsHuman(text);
    const context = await this.context(turn.tenant_id, turn.thread_id);
    let decision: AgentDecision;
    try {
      decision = await provider.decide(
        {
          tenantId: turn.tenant_id,
          threadId: turn.thread_id,
          profile: context.profile,
          history: context.history,
          latest: { text, language: language.tag },
          customer: context.customer,
        },
        this.deps.toolsFor(turn.tenant_id, turn.thread_id),
        signal,
      );
    } catch (error) {
      const retryable = (error as { retryable?: unknown }).retryable === true;
      this.deps.logger.warn({ turnId, provider: provider.name, retryable, err: error instanceof Error ? error.message : String(error) }, 'agent provider failed');
      if (retryable) {
        await db.updateTable('agent_turns').set({ status: 'pending', updated_at: sql`now()` }).where('id', '=', turnId).execute();
        throw error;
      }
      return this.handOff(turn, thread.bot_version, 'agent_provider_error', finish);
    }
    if (human.wants && decision.kind === 'reply') decision = { kind: 'handoff', reason: 'customer_requested_human', text: decision.text, toolCalls: decision.toolCalls };

    if (decision.text) {
      const outcome = await this.deps.sender.send({
        threadId: turn.thread_id,
        tenantId: turn.tenant_id,
        origin: 'agent',
        actor: provider.name,
        message: { type: 'text', body: decision.text },
        expectedBotVersion: thread.bot_version,
        clientRef: `agent-turn:${turnId}`,
      });
      if (outcome.status === 'cancelled') return finish({ status: 'cancelled', reason: outcome.reason });
      if (decision.kind === 'handoff') {
        await setBotState(db, turn.thread_id, turn.tenant_id, 'pause', `handoff:${decision.reason}`, provider.name).then(() => this.markHandoffRequested(turn.thread_id));
        await finish({ status: 'handoff', reason: decision.reason });
        return { status: 'sent', messageId: outcome.messageId, decision: 'handoff' };
      }
      return finish({ status: 'sent', messageId: outcome.messageId, decision: 'reply' });
    }
    return this.handOff(turn, thread.bot_version, decision.kind === 'handoff' ? decision.reason : 'empty_reply', finish);
  }

  private async handOff(turn: { id: string; thread_id: string; tenant_id: string }, expectedVersion: string, reason: string, finish: (r: TurnResult) => Promise<TurnResult>): Promise<TurnResult> {
    // Only if nothing human happened meanwhile: a person who already answered needs no hand-off.
    const changed = await this.deps.db
      .updateTable('threads')
      .set({ bot_state: 'handoff_requested', bot_paused_until: null, bot_version: sql`bot_version + 1`, updated_at: sql`now()` })
      .where('id', '=', turn.thread_id)
      .where('bot_state', '=', 'active')
      .where('bot_version', '=', expectedVersion)
      .returning('id')
      .executeTakeFirst();
    if (changed) {
      await this.deps.db.insertInto('bot_events').values({ thread_id: turn.thread_id, from_state: 'active', to_state: 'handoff_requested', cause: reason, actor: 'agent', seq: sql`nextval('activity_seq')` }).execute();
    }
    return finish({ status: 'handoff', reason });
  }

  private async markHandoffRequested(threadId: string): Promise<void> {
    await this.deps.db.updateTable('threads').set({ bot_state: 'handoff_requested', bot_paused_until: null, updated_at: sql`now()` }).where('id', '=', threadId).where('bot_state', '=', 'paused').execute();
  }

  private async context(tenantId: string, threadId: string): Promise<{ profile: BusinessProfile; history: ConversationItem[]; customer: { name: string | null; phone: string | null } }> {
    const { db } = this.deps;
    const tenant = await db.selectFrom('tenants').select(['name', 'settings']).where('id', '=', tenantId).executeTakeFirstOrThrow();
    const parsed = businessProfileSchema.safeParse((tenant.settings as { profile?: unknown } | null)?.profile);
    const profile: BusinessProfile = parsed.success ? parsed.data : { name: tenant.name, description: '' };
    const rows = await db
      .selectFrom('messages')
      .select(['direction', 'origin', 'text', 'transcript', 'provider_timestamp', 'revoked_at'])
      .where('thread_id', '=', threadId)
      .where('type', '!=', 'reaction')
      .orderBy('provider_timestamp', 'desc')
      .orderBy('created_at', 'desc')
      .orderBy('id', 'desc')
      .limit(this.settings.historyLimit)
      .execute();
    const history: ConversationItem[] = rows
      .reverse()
      .filter((r) => !r.revoked_at && (r.transcript ?? r.text))
      .map((r) => ({ role: r.direction === 'inbound' ? 'customer' : 'business', origin: r.origin, text: (r.transcript ?? r.text)!, timestamp: r.provider_timestamp.toISOString() }));
    const contact = await db
      .selectFrom('threads')
      .innerJoin('contacts', 'contacts.id', 'threads.contact_id')
      .select(['contacts.wa_id', 'contacts.phone_book_name', 'contacts.profile_name'])
      .where('threads.id', '=', threadId)
      .executeTakeFirstOrThrow();
    return { profile, history, customer: { name: contact.phone_book_name ?? contact.profile_name, phone: contact.wa_id ? `+${contact.wa_id}` : null } };
  }
}
