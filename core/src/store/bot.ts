import { sql, type Kysely } from 'kysely';
import type { Database } from '../db/schema.js';

export type BotAction = 'pause' | 'resume' | 'off';

const targetState: Record<BotAction, 'paused' | 'active' | 'off'> = { pause: 'paused', resume: 'active', off: 'off' };

/**
 * A manual toggle from the API or a CRM card. Every change bumps the thread's bot version, so an
 * agent reply generated before the change can no longer be sent (compare-and-set in the send path),
 * and is recorded with its cause.
 */
export async function setBotState(
  db: Kysely<Database>,
  threadId: string,
  tenantId: string,
  action: BotAction,
  cause: string,
  actor: string | null,
  pausedUntil: Date | null = null,
): Promise<{ state: string; paused_until: string | null; version: number } | null> {
  return db.transaction().execute(async (trx) => {
    const thread = await trx.selectFrom('threads').select(['bot_state']).where('id', '=', threadId).where('tenant_id', '=', tenantId).forNoKeyUpdate().executeTakeFirst();
    if (!thread) return null;
    const to = targetState[action];
    const until = to === 'paused' ? pausedUntil : null;
    const row = await trx
      .updateTable('threads')
      .set({ bot_state: to, bot_paused_until: until, bot_version: sql`bot_version + 1`, updated_at: sql`now()` })
      .where('id', '=', threadId)
      .returning(['bot_state', 'bot_paused_until', 'bot_version'])
      .executeTakeFirstOrThrow();
    await trx.insertInto('bot_events').values({ thread_id: threadId, from_state: thread.bot_state, to_state: to, cause, actor, paused_until: until, seq: sql`nextval('activity_seq')` }).execute();
    return { state: row.bot_state, paused_until: row.bot_paused_until ? row.bot_paused_until.toISOString() : null, version: Number(row.bot_version) };
  });
}

/** Resumes agents whose human-activity pause ran out (the tenant's quiet period). */
export async function resumeExpiredPauses(db: Kysely<Database>, now: Date = new Date()): Promise<number> {
  return db.transaction().execute(async (trx) => {
    const rows = await trx
      .updateTable('threads')
      .set({ bot_state: 'active', bot_paused_until: null, bot_version: sql`bot_version + 1`, updated_at: sql`now()` })
      .where('bot_state', '=', 'paused')
      .where('bot_paused_until', 'is not', null)
      .where('bot_paused_until', '<=', now)
      .returning('id')
      .execute();
    if (rows.length > 0) {
      await trx
        .insertInto('bot_events')
        .values(rows.map((r) => ({ thread_id: r.id, from_state: 'paused', to_state: 'active', cause: 'quiet_period_elapsed', seq: sql`nextval('activity_seq')` })))
        .execute();
    }
    return rows.length;
  });
}

export async function botHistory(db: Kysely<Database>, threadId: string, limit = 50) {
  const rows = await db.selectFrom('bot_events').selectAll().where('thread_id', '=', threadId).orderBy('id', 'desc').limit(limit).execute();
  return rows.map((r) => ({ from: r.from_state, to: r.to_state, cause: r.cause, actor: r.actor, paused_until: r.paused_until?.toISOString() ?? null, at: r.at.toISOString() }));
}
