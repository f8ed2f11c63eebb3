import { sql, type Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { Database } from '../db/schema.js';
import { applyEvents, emptyOutcome, recordWabaId, type ApplyOutcome } from '../store/apply.js';
import { envelopeSchema } from '../whatsapp/schemas.js';
import { normalizeDelivery, partitionKeyOf } from '../whatsapp/normalize.js';

/** After this many failed attempts a delivery is set aside (dead) so it cannot block its number. */
export const MAX_INBOX_ATTEMPTS = 5;

/** Runs inside the delivery's transaction, after it was applied. */
export type AfterApplyHook = (outcome: ApplyOutcome, trx: Kysely<Database>) => Promise<void> | void;

export interface ProcessorMetrics {
  processed(outcome: 'ok' | 'error' | 'dead'): void;
  unknown(count: number): void;
}

/**
 * Drains the webhook inbox of one partition (a phone number) in arrival order. Each delivery is
 * parsed, normalized and applied in one transaction together with marking it processed, under a
 * transaction-scoped advisory lock on the partition: two workers never process the same number at
 * once, so no delivery is applied twice and order holds even if the job queue misbehaves.
 */
export class InboxProcessor {
  private readonly hooks: AfterApplyHook[] = [];

  constructor(
    private readonly db: Kysely<Database>,
    private readonly logger: Logger,
    private readonly defaultTenantId: string,
    private readonly metrics?: ProcessorMetrics,
  ) {}

  onApplied(hook: AfterApplyHook): void {
    this.hooks.push(hook);
  }

  /** Processes pending rows of a partition; returns how many were handled. */
  async drain(partitionKey: string, maxRows = 10_000): Promise<number> {
    let handled = 0;
    while (handled < maxRows) {
      const step = await this.processNext(partitionKey);
      if (step === 'empty' || step === 'locked') break;
      handled += 1;
    }
    return handled;
  }

  /** Partitions with pending rows (for the startup and periodic sweep). */
  async pendingPartitions(): Promise<string[]> {
    const rows = await this.db.selectFrom('webhook_inbox').select('partition_key').distinct().where('processed_at', 'is', null).execute();
    return rows.map((r) => r.partition_key);
  }

  async pendingCount(): Promise<number> {
    const row = await this.db.selectFrom('webhook_inbox').select((eb) => eb.fn.countAll<string>().as('n')).where('processed_at', 'is', null).executeTakeFirstOrThrow();
    return Number(row.n);
  }

  private async processNext(partitionKey: string): Promise<'done' | 'failed' | 'empty' | 'locked'> {
    let claimed: { id: string; attempts: number } | null = null;
    try {
      const result = await this.db.transaction().execute(async (trx) => {
        const lock = await sql<{ ok: boolean }>`select pg_try_advisory_xact_lock(hashtextextended(${`coex.inbox:${partitionKey}`}, 0)) as ok`.execute(trx);
        if (!lock.rows[0]?.ok) return 'locked' as const;
        const row = await trx
          .selectFrom('webhook_inbox')
          .select(['id', 'raw_body', 'attempts'])
          .where('partition_key', '=', partitionKey)
          .where('processed_at', 'is', null)
          .orderBy('id')
          .limit(1)
          .executeTakeFirst();
        if (!row) return 'empty' as const;
        claimed = { id: row.id, attempts: row.attempts };
        const outcome = await this.applyRow(trx, row.id, row.raw_body, partitionKey);
        // Follow-up work (agent turn, media download, CRM archive) is enqueued inside the same
        // transaction: it exists if and only if the delivery was applied.
        for (const hook of this.hooks) await hook(outcome, trx);
        return outcome;
      });
      if (typeof result === 'string') return result;
      this.metrics?.processed('ok');
      if (result.unknown > 0) this.metrics?.unknown(result.unknown);
      return 'done';
    } catch (error) {
      const row = claimed as { id: string; attempts: number } | null;
      if (!row) throw error;
      const attempts = row.attempts + 1;
      const dead = attempts >= MAX_INBOX_ATTEMPTS;
      const message = error instanceof Error ? error.message : String(error);
      await this.db
        .updateTable('webhook_inbox')
        .set({
          attempts,
          last_error: message.slice(0, 2000),
          ...(dead ? { processed_at: sql`now()`, outcome: JSON.stringify({ dead: true }) } : {}),
        })
        .where('id', '=', row.id)
        .execute();
      this.logger.error({ inboxId: row.id, partitionKey, attempts, dead, err: message }, dead ? 'webhook delivery set aside after repeated failures' : 'webhook delivery failed; will retry');
      this.metrics?.processed(dead ? 'dead' : 'error');
      if (!dead) throw error;
      return 'failed';
    }
  }

  /** Parses, normalizes and applies one delivery; marks it processed. */
  private async applyRow(trx: Kysely<Database>, id: string, rawBody: string, partitionKey: string): Promise<ApplyOutcome> {
    let outcome = emptyOutcome();
    let parsed: unknown;
    try {
      parsed = JSON.parse(rawBody);
    } catch {
      parsed = undefined;
    }
    const envelope = envelopeSchema.safeParse(parsed);
    if (!envelope.success) {
      await trx.insertInto('unknown_events').values({ inbox_id: id, field: '(envelope)', detail: 'delivery is not a WhatsApp webhook envelope', payload: JSON.stringify(parsed ?? rawBody.slice(0, 10_000)) }).execute();
      outcome.unknown = 1;
    } else {
      outcome = await applyEvents(trx, normalizeDelivery(envelope.data, partitionKey), { defaultTenantId: this.defaultTenantId, inboxId: id });
      // The entry id of a number's change is its WABA: numbers first seen in a webhook learn it here
      // (template listing needs it), without a Graph call.
      const entry = envelope.data.entry.find((e) => e.changes.some((c) => partitionKeyOf(e.id, c.value) === partitionKey));
      if (entry && !partitionKey.startsWith('waba:')) await recordWabaId(trx, partitionKey, entry.id);
    }
    await trx
      .updateTable('webhook_inbox')
      .set({ processed_at: sql`now()`, attempts: sql`attempts + 1`, last_error: null, outcome: JSON.stringify(summarize(outcome)) })
      .where('id', '=', id)
      .execute();
    return outcome;
  }
}

function summarize(o: ApplyOutcome): Record<string, number> {
  return {
    inserted: o.messagesInserted,
    merged: o.messagesMerged,
    statuses: o.statusesRecorded,
    mutations: o.mutations,
    historyChunks: o.historyChunks,
    contacts: o.contactsSynced,
    account: o.accountEvents,
    unknown: o.unknown,
  };
}
