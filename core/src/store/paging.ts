import { sql, type Kysely } from 'kysely';
import { z } from 'zod';
import type { Database } from '../db/schema.js';
import { getThread, threadSelect, toMessageView, toThreadView, type MessageView, type TenantScope, type ThreadView } from './queries.js';

/**
 * Keyset (cursor) paging of the admin API's thread and message lists. A cursor is the sort key of
 * the last row served, opaque to clients (base64url JSON). Timestamps are compared in microseconds
 * as PostgreSQL stores them: a JavaScript Date (milliseconds) would skip or repeat rows that share a
 * millisecond.
 */

const threadCursor = z.object({ t: z.string().regex(/^\d+$/).nullable(), id: z.string().uuid() });
const messageCursor = z.object({ p: z.string().regex(/^\d+$/), c: z.string().regex(/^\d+$/), id: z.string().uuid() });

export class InvalidCursorError extends Error {
  constructor() {
    super('invalid cursor: pass back the next_cursor of the previous page as it was');
    this.name = 'InvalidCursorError';
  }
}

function encode(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

function decode<T>(cursor: string, schema: z.ZodType<T>): T {
  try {
    const parsed = schema.safeParse(JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')));
    if (parsed.success) return parsed.data;
  } catch {
    // fall through
  }
  throw new InvalidCursorError();
}

/** Microseconds since the epoch: as text for the cursor, as bigint to compare. */
const micros = (column: string) => sql<string | null>`(extract(epoch from ${sql.ref(column)}) * 1000000)::bigint::text`;
const us = (column: string) => sql<string>`(extract(epoch from ${sql.ref(column)}) * 1000000)::bigint`;

/** Threads, most recent activity first (never-active threads last), `limit` at a time. */
export async function pageThreads(
  db: Kysely<Database>,
  scope: TenantScope,
  filter: { phoneNumberId?: string | undefined; waId?: string | undefined; userId?: string | undefined; limit: number; cursor?: string | undefined },
): Promise<{ threads: ThreadView[]; next_cursor: string | null }> {
  let q = threadSelect(db).select(micros('threads.last_message_at').as('sort_t'));
  if (scope !== null) q = q.where('threads.tenant_id', '=', scope);
  if (filter.phoneNumberId) q = q.where('threads.phone_number_id', '=', filter.phoneNumberId);
  if (filter.waId) q = q.where('contacts.wa_id', '=', filter.waId.replace(/\D/g, ''));
  if (filter.userId) q = q.where('contacts.user_id', '=', filter.userId);
  if (filter.cursor) {
    const after = decode(filter.cursor, threadCursor);
    const t = us('threads.last_message_at');
    q =
      after.t === null
        ? q.where(sql<boolean>`threads.last_message_at is null and threads.id > ${after.id}`)
        : q.where(sql<boolean>`(${t} < ${after.t}::bigint or (${t} = ${after.t}::bigint and threads.id > ${after.id}) or threads.last_message_at is null)`);
  }
  const rows = await q.orderBy(sql`threads.last_message_at desc nulls last`).orderBy('threads.id').limit(filter.limit + 1).execute();
  const page = rows.slice(0, filter.limit);
  const last = page[page.length - 1];
  return { threads: page.map(toThreadView), next_cursor: rows.length > filter.limit && last ? encode({ t: last.sort_t, id: last.id }) : null };
}

/** A thread's messages oldest first, `limit` at a time; null when the thread is not the caller's. */
export async function pageMessages(
  db: Kysely<Database>,
  scope: TenantScope,
  threadId: string,
  page: { limit: number; cursor?: string | undefined },
): Promise<{ messages: MessageView[]; next_cursor: string | null } | null> {
  const thread = await getThread(db, scope, threadId);
  if (!thread) return null;
  let q = db
    .selectFrom('messages')
    .selectAll()
    .select([micros('messages.provider_timestamp').as('sort_p'), micros('messages.created_at').as('sort_c')])
    .where('thread_id', '=', threadId)
    .where('tenant_id', '=', thread.tenant_id);
  if (page.cursor) {
    const after = decode(page.cursor, messageCursor);
    const p = us('messages.provider_timestamp');
    const c = us('messages.created_at');
    q = q.where(sql<boolean>`(${p}, ${c}, messages.id) > (${after.p}::bigint, ${after.c}::bigint, ${after.id}::uuid)`);
  }
  const rows = await q.orderBy('provider_timestamp').orderBy('created_at').orderBy('id').limit(page.limit + 1).execute();
  const served = rows.slice(0, page.limit);
  const last = served[served.length - 1];
  return {
    messages: served.map(({ sort_p: _p, sort_c: _c, ...m }) => toMessageView(m)),
    next_cursor: rows.length > page.limit && last ? encode({ p: last.sort_p, c: last.sort_c, id: last.id }) : null,
  };
}
