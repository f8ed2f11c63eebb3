import { sql, type Kysely, type RawBuilder, type Transaction } from 'kysely';
import type { Database } from '../db/schema.js';
import type { ControlHolder } from '../whatsapp/routing.js';

type Trx = Transaction<Database> | Kysely<Database>;

/**
 * Who answers a thread under Meta's Conversation Routing (coex-spec.md §11,
 * docs/decisions/meta-2026-changes.md). Meta tells it three ways, in any order:
 *  - `messaging_handovers` events (`control_passed` to CoEx, `control_taken` by someone else);
 *  - the field a customer message arrives on: `messages` when CoEx is the active handler, `standby`
 *    when another one is (a release sends no handover, so this is the only signal of it);
 *  - CoEx sending a service message takes the thread (Meta: "sending … takes over as active handler").
 * Each signal carries a time; an older one never overrides a newer one (`control_event_at`).
 * Losing the thread bumps `bot_version`, so an agent reply being generated at that moment is refused
 * by the send path's compare-and-set.
 */

/** `elsewhere`: someone other than CoEx (keeps a known other holder, else Meta's agent). */
export type ControlSignal = ControlHolder | 'elsewhere';

export async function setControl(trx: Trx, threadId: string, signal: ControlSignal, at: Date, appId: string | null = null): Promise<void> {
  const holder =
    signal === 'elsewhere' ? sql<ControlHolder>`case when threads.control_holder = 'coex' then 'meta_agent' else threads.control_holder end` : sql<ControlHolder>`${signal}::text`;
  const app = signal === 'elsewhere' ? sql<string | null>`case when threads.control_holder = 'coex' then null else threads.control_app_id end` : sql<string | null>`${appId}::text`;
  const losing = signal !== 'coex';
  await trx
    .updateTable('threads')
    .set({
      control_holder: holder,
      control_app_id: app,
      control_event_at: at,
      ...(losing ? { bot_version: sql`case when threads.control_holder = 'coex' then bot_version + 1 else bot_version end` } : {}),
      updated_at: sql`now()`,
    })
    .where('id', '=', threadId)
    .where((eb) => eb.or([eb('control_event_at', 'is', null), eb('control_event_at', '<=', at)]))
    .execute();
}

/**
 * The assignments that apply a control signal to thread `t`, for an UPDATE whose `from` list has
 * `v.signal` ('coex' | 'elsewhere', or NULL for "no signal for this thread") and `v.control_at`. A
 * signal older than the thread's last one changes nothing; losing the thread bumps `bot_version`.
 * The inbox's per-batch thread update (store/apply.ts) folds the thread clocks and the control signal
 * of its customer messages into one statement with these (one row version per thread and batch).
 */
export function controlAssignments(): RawBuilder<unknown> {
  const applies = sql`(v.signal is not null and (t.control_event_at is null or t.control_event_at <= v.control_at))`;
  return sql`
    control_holder = case when not ${applies} then t.control_holder when v.signal = 'coex' then 'coex' when t.control_holder = 'coex' then 'meta_agent' else t.control_holder end,
    control_app_id = case when not ${applies} then t.control_app_id when v.signal = 'coex' or t.control_holder = 'coex' then null else t.control_app_id end,
    control_event_at = case when not ${applies} then t.control_event_at else v.control_at end,
    bot_version = case when ${applies} and v.signal <> 'coex' and t.control_holder = 'coex' then t.bot_version + 1 else t.bot_version end`;
}

/**
 * After a person's service message went out through CoEx (not a template, not the agent — the agent
 * never sends while another handler holds the thread): CoEx holds the thread now.
 */
export async function takeControlAfterSend(trx: Trx, messageId: string, at: Date): Promise<void> {
  const m = await trx.selectFrom('messages').select(['thread_id', 'origin', 'type']).where('id', '=', messageId).executeTakeFirst();
  if (!m || m.origin !== 'api' || m.type === 'template') return;
  await setControl(trx, m.thread_id, 'coex', at);
}

/** The holder of a thread (for the agent's checks). */
export async function controlHolderOf(trx: Trx, threadId: string): Promise<string | null> {
  const row = await trx.selectFrom('threads').select('control_holder').where('id', '=', threadId).executeTakeFirst();
  return row?.control_holder ?? null;
}
