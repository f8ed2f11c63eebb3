import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.js';

/** The agent's recent turns on a thread, newest first: what it did with each customer message and why. */
export async function recentAgentTurns(db: Kysely<Database>, threadId: string, limit = 20) {
  const rows = await db
    .selectFrom('agent_turns')
    .select(['id', 'trigger_message_id', 'status', 'reason', 'provider', 'reply_message_id', 'created_at', 'updated_at'])
    .where('thread_id', '=', threadId)
    .orderBy('created_at', 'desc')
    .orderBy('id')
    .limit(limit)
    .execute();
  return rows.map((r) => ({ ...r, created_at: r.created_at.toISOString(), updated_at: r.updated_at.toISOString() }));
}
