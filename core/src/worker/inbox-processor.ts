import { sql, type Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { Database } from '../db/schema.js';
import { applyEvents, emptyOutcome, EventStreamApplier, mergeOutcome, recordWabaIds, type ApplyOutcome } from '../store/apply.js';
import { ensureTenant } from '../store/tenants.js';
import { NUMBER_LOCK } from '../store/contact-identity.js';
import { envelopeSchema, GRAPH_ID, type WebhookEnvelope } from '../whatsapp/schemas.js';
import { normalizeDeliveryByPartition, partitionKeyOf, partitionParts, type DomainEvent } from '../whatsapp/normalize.js';
import { sanitizeParsed, sanitizePayload } from '../whatsapp/sanitize.js';

/**
 * A delivery that keeps failing even applied on its own, event by event, is set aside (visibly) after
 * this many attempts so it cannot hold its number back.
 */
export const MAX_INBOX_ATTEMPTS = 5;

/** Transient failures (the database went away, a deadlock) retry the batch after at most this. */
export const MAX_RETRY_DELAY_MS = 5_000;

/** Parsed bodies kept for the other numbers a delivery names (bytes of JSON text). */
const PARSE_CACHE_BYTES = 32 * 1024 * 1024;

/** Longest stretch of parsing before the worker lets other work (HTTP requests) run. */
const PARSE_SLICE_MS = 10;

/** Deliveries of one number applied in one transaction. */
export const DEFAULT_BATCH_SIZE = 200;

/**
 * Deliveries of a group of numbers applied in one transaction (drainMany): each number gets an equal
 * share, at least MIN_SHARE_PER_NUMBER and at most the batch size.
 */
const GROUP_DELIVERIES = 2_000;
const MIN_SHARE_PER_NUMBER = 20;

/** A number with due deliveries, and how many deliveries it has pending. */
export interface PendingWork {
  partitionKey: string;
  pending: number;
}

/**
 * Numbers in a worker lane's group: enough for about GROUP_DELIVERIES deliveries a transaction (each
 * number counted for at most `batchSize`), at most `maxNumbers`. Many numbers with a few deliveries
 * each go together, as before; numbers with a backlog go a few at a time, so that the lanes of one
 * worker process do not hold every number while a second process has nothing to take.
 */
export function numbersPerTransaction(work: readonly PendingWork[], maxNumbers: number, batchSize = DEFAULT_BATCH_SIZE): number {
  if (work.length === 0) return 1;
  const mean = work.reduce((sum, w) => sum + Math.min(Math.max(w.pending, 1), batchSize), 0) / work.length;
  return Math.max(1, Math.min(maxNumbers, Math.ceil(GROUP_DELIVERIES / mean)));
}

/** Called between two transactions of a drain with the time the last one took (the worker's pacing). */
export type Pace = (elapsedMs: number) => Promise<void>;

/** Runs inside the batch's transaction, after it was applied. */
export type AfterApplyHook = (outcome: ApplyOutcome, trx: Kysely<Database>) => Promise<void> | void;

export interface ProcessorMetrics {
  processed(outcome: 'ok' | 'error' | 'dead', count?: number): void;
  unknown(count: number): void;
  setAside?(kind: string): void;
}

interface PendingRow {
  id: string;
  partition_key: string;
  attempts: number;
  body_id: string | null;
  raw_body: string | null;
  due: boolean;
}

/**
 * A shared body parsed: its envelope, and its events by partition not yet taken by their partition
 * (`eventBytes` of the cache's budget while any are held).
 */
interface ParsedBody {
  envelope: WebhookEnvelope | null;
  size: number;
  events?: Map<string, DomainEvent[]>;
  eventBytes: number;
}

/**
 * Events held for a body's other partitions count this many times its text toward PARSE_CACHE_BYTES:
 * they keep the parsed trees they point into alive, several times the bytes of the JSON.
 */
const EVENTS_WEIGHT = 8;

/** A batch's outcome; `lastId`: the last delivery it applied, when it applied them in one go. */
type Step = { kind: 'done'; rows: number; lastId?: string } | { kind: 'empty' } | { kind: 'locked' } | { kind: 'waiting' };

/** SQLSTATE classes that say "try again later", not "this data cannot be stored". */
function isTransient(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === 'string') {
    if (/^(08|53|57|58)/.test(code)) return true; // connection, resources, operator intervention, system
    if (code === '40001' || code === '40P01' || code === '55P03') return true; // serialization, deadlock, lock timeout
    if (/^E[A-Z]+(?:_[A-Z]+)*$/.test(code)) return true; // ECONNREFUSED, ECONNRESET, ETIMEDOUT, EAI_AGAIN…
    return false;
  }
  const message = error instanceof Error ? error.message : String(error);
  return /Connection terminated|connection (?:error|closed)|timeout exceeded|Client has encountered a connection error|ECONN/i.test(message);
}

/** Backoff before a failed delivery's next attempt: 0.5 s, 1 s, 2 s, 4 s, then MAX_RETRY_DELAY_MS. */
const retryDelayMs = (attempts: number): number => Math.min(MAX_RETRY_DELAY_MS, 250 * 2 ** attempts);
const retryAt = (delayMs: number) => sql<Date>`now() + ${`${delayMs} milliseconds`}::interval`;

/**
 * Takes the partitions' transaction-scoped advisory locks; returns the partitions no other worker
 * holds. With them, the numbers' shared locks (numberLock): a number's history lanes apply beside its
 * own partition, and a contact merge waits for them (store/contact-identity.ts).
 */
async function lockPartitions(trx: Kysely<Database>, partitionKeys: string[]): Promise<string[]> {
  const locked = await sql<{ key: string }>`
    select k as key from unnest(${partitionKeys}::text[]) as k
    where pg_try_advisory_xact_lock(hashtextextended('coex.inbox:' || k, 0))`.execute(trx);
  const keys = locked.rows.map((r) => r.key);
  const numbers = [...new Set(keys.map((k) => partitionParts(k).number).filter((n) => GRAPH_ID.test(n)))].sort();
  if (numbers.length > 0) await sql`select pg_advisory_xact_lock_shared(${NUMBER_LOCK}, hashtext(n)) from unnest(${numbers}::text[]) as n`.execute(trx);
  return keys;
}

/** The number's transaction-scoped advisory lock; false when another worker holds it. */
async function lockPartition(trx: Kysely<Database>, partitionKey: string): Promise<boolean> {
  return (await lockPartitions(trx, [partitionKey])).length === 1;
}

/**
 * Up to `limit` pending deliveries of each number, each number's in arrival order — past the delivery
 * `after` names for it, if any: the last one this drain applied. A delivery applied is updated out of
 * the pending index's predicate, but its entry stays there, dead, until vacuum (or until no snapshot
 * can still see the old row), and a scan from the number's first entry walked all of them again: the
 * batches of a long drain cost more the further it went (one number, 10,000 deliveries, 50 batches:
 * ~15 ms of PostgreSQL a batch for that alone). Deliveries committed late with a lower id (two group
 * commits in flight) are not lost: the next drain starts from the number's first entry again.
 */
async function pendingRows(
  trx: Kysely<Database>,
  partitionKeys: string[],
  limit: number,
  after?: ReadonlyMap<string, string>,
  /** Shared bodies this process has parsed already: not read again (a history chunk is read by each of its lanes). */
  parsedBodies: readonly string[] = [],
): Promise<PendingRow[]> {
  const pending = await sql<PendingRow>`
    select i.id, i.partition_key, i.attempts, i.body_id,
      coalesce(i.raw_body, case when b.id = any(${parsedBodies}::bigint[]) then null else b.raw_body end) as raw_body,
      i.next_attempt_at <= now() as due
    from unnest(${partitionKeys}::text[], ${partitionKeys.map((k) => after?.get(k) ?? '0')}::bigint[]) as k(key, after)
    cross join lateral (
      select id, partition_key, attempts, body_id, raw_body, next_attempt_at from webhook_inbox
      where partition_key = k.key and processed_at is null and id > k.after order by id limit ${limit}
    ) i
    left join webhook_bodies b on b.id = i.body_id
    order by i.partition_key, i.id`.execute(trx);
  return pending.rows;
}

/** Per-number order: a delivery waiting for its retry holds back the ones after it. */
function duePrefix(rows: PendingRow[]): PendingRow[] {
  const waiting = rows.findIndex((r) => !r.due);
  return waiting === -1 ? rows : rows.slice(0, waiting);
}

const errorText = (error: unknown): string => (error instanceof Error ? error.message : String(error)).slice(0, 2000);

/**
 * Drains the webhook inbox of one partition (a phone number) in arrival order. Up to `batchSize`
 * pending deliveries are applied in one transaction, their events in one pass (consecutive messages
 * become multi-row statements), together with marking them processed and enqueuing the follow-ups,
 * under a transaction-scoped advisory lock on the partition: two workers never apply the same number
 * at once, and a lock dies with its connection, so a crashed worker blocks nobody.
 *
 * Failure is kept local. A transient error retries the batch within MAX_RETRY_DELAY_MS (the number
 * waits, others do not). Any other error splits the batch: each delivery alone, then each event of a
 * failing delivery alone in a savepoint; only the event that cannot be stored is set aside, with its
 * reason (table `webhook_set_aside`, metric, log), and everything else is applied.
 */
export class InboxProcessor {
  private readonly hooks: AfterApplyHook[] = [];
  /** Parsed bodies by id: a delivery naming many numbers is parsed once, not once per number. */
  private readonly parsed = new Map<string, ParsedBody>();
  private parsedBytes = 0;

  constructor(
    private readonly db: Kysely<Database>,
    private readonly logger: Logger,
    private readonly defaultTenantId: string,
    private readonly metrics?: ProcessorMetrics,
    /** Deliveries of one number applied in one transaction (the worker sizes its groups with it). */
    readonly batchSize = DEFAULT_BATCH_SIZE,
  ) {}

  onApplied(hook: AfterApplyHook): void {
    this.hooks.push(hook);
  }

  /**
   * The default tenant, committed once before any apply transaction. Created inside one (with the
   * first new number), its row stayed uncommitted for the whole of that transaction, and every other
   * transaction creating a number waited on it: on a fresh database every lane of every worker
   * stalled behind the first batch (measured: 3 of 4 lanes for ~1 s of a 5-s, 40,000-delivery run).
   */
  private defaultTenantReady: Promise<void> | undefined;
  private ensureDefaultTenant(): Promise<void> {
    this.defaultTenantReady ??= ensureTenant(this.db, this.defaultTenantId).then(
        () => undefined,
        (error: unknown) => {
          this.defaultTenantReady = undefined;
          throw error;
        },
      );
    return this.defaultTenantReady;
  }

  /** Processes pending rows of a partition; returns how many were handled. */
  async drain(partitionKey: string, maxRows = 10_000, pace?: Pace): Promise<number> {
    let handled = 0;
    let after: string | undefined;
    while (handled < maxRows) {
      const started = performance.now();
      const step = await this.step(partitionKey, this.batchSize, after);
      if (step.kind !== 'done') break;
      handled += step.rows;
      after = step.lastId;
      await pace?.(performance.now() - started);
    }
    return handled;
  }

  /**
   * Drains several numbers, applying them together: one transaction takes the due deliveries of every
   * number of the group that no other worker holds, in each number's arrival order. Many numbers with
   * a few deliveries each (the common load: one customer writes to one shop) cost one transaction, one
   * claim and one set of follow-up statements instead of one per number. If that transaction fails,
   * each of its numbers is drained alone (drain), where failures are retried and isolated per number,
   * so one bad delivery never holds back the other numbers of its group.
   */
  async drainMany(partitionKeys: string[], maxRows = 10_000, pace?: Pace): Promise<number> {
    if (partitionKeys.length === 1) return this.drain(partitionKeys[0]!, maxRows, pace);
    let keys = partitionKeys;
    let handled = 0;
    const after = new Map<string, string>();
    while (keys.length > 0 && handled < maxRows) {
      const started = performance.now();
      const step = await this.stepMany(keys, after);
      handled += step.rows;
      keys = step.more;
      if (step.rows > 0) await pace?.(performance.now() - started);
    }
    return handled;
  }

  /**
   * One transaction over a group of numbers; `more`: the numbers that may have deliveries left.
   * `after` (each number's last delivery applied by this drain) is read and advanced.
   */
  private async stepMany(keys: string[], after: Map<string, string>): Promise<{ rows: number; more: string[] }> {
    const share = Math.min(this.batchSize, Math.max(MIN_SHARE_PER_NUMBER, Math.ceil(GROUP_DELIVERIES / keys.length)));
    await this.ensureDefaultTenant();
    let claimed: PendingRow[] = [];
    try {
      const step = await this.db.transaction().execute(async (trx) => {
        const locked = await lockPartitions(trx, keys);
        if (locked.length === 0) return { rows: 0, more: [] };
        const byKey = new Map<string, PendingRow[]>();
        for (const row of await pendingRows(trx, locked, share, after, [...this.parsed.keys()])) {
          const rows = byKey.get(row.partition_key);
          if (rows) rows.push(row);
          else byKey.set(row.partition_key, [row]);
        }
        const batches: Array<{ partitionKey: string; rows: PendingRow[] }> = [];
        const more: string[] = [];
        for (const [partitionKey, rows] of byKey) {
          const take = duePrefix(rows);
          if (take.length > 0) batches.push({ partitionKey, rows: take });
          if (take.length === share) more.push(partitionKey);
        }
        claimed = batches.flatMap((b) => b.rows);
        if (claimed.length === 0) return { rows: 0, more: [] };
        const outcome = await this.applyRows(trx, batches);
        await this.markProcessed(trx, claimed, outcome);
        for (const hook of this.hooks) await hook(outcome, trx);
        return { rows: claimed.length, more };
      });
      // Only once committed (a transaction rolled back applied nothing): each number's claimed rows
      // are in its arrival order, so the last one set is the last it applied.
      for (const row of claimed) after.set(row.partition_key, row.id);
      if (step.rows > 0) this.metrics?.processed('ok', step.rows);
      return step;
    } catch (error) {
      if (claimed.length === 0) throw error;
      const failed = [...new Set(claimed.map((r) => r.partition_key))];
      this.logger.warn({ partitionKeys: failed.length, deliveries: claimed.length, err: errorText(error) }, 'inbox group failed; applying its numbers one by one');
      let rows = 0;
      for (const key of failed) {
        try {
          rows += await this.drain(key);
        } catch (single) {
          this.logger.warn({ partitionKey: key, err: errorText(single) }, 'inbox drain failed; retrying');
        }
      }
      return { rows, more: [] };
    }
  }

  /**
   * The worker loop's view: partitions with a due delivery, oldest first, each with its pending
   * deliveries counted (to size a group by deliveries, not only by numbers).
   */
  async pendingWork(limit = 1000): Promise<PendingWork[]> {
    const rows = await sql<{ partition_key: string; pending: string }>`
      select partition_key, count(*) as pending from webhook_inbox
      where processed_at is null and next_attempt_at <= now()
      group by partition_key order by min(id) limit ${limit}`.execute(this.db);
    return rows.rows.map((r) => ({ partitionKey: r.partition_key, pending: Number(r.pending) }));
  }

  async pendingCount(): Promise<number> {
    const row = await this.db.selectFrom('webhook_inbox').select((eb) => eb.fn.countAll<string>().as('n')).where('processed_at', 'is', null).executeTakeFirstOrThrow();
    return Number(row.n);
  }

  /** One batch of a partition. Errors end up recorded on the rows; only a lost database throws. */
  private async step(partitionKey: string, limit: number, after?: string): Promise<Step> {
    await this.ensureDefaultTenant();
    let claimed: PendingRow[] = [];
    try {
      return await this.db.transaction().execute(async (trx) => {
        if (!(await lockPartition(trx, partitionKey))) return { kind: 'locked' } as const;
        const rows = await pendingRows(trx, [partitionKey], limit, after === undefined ? undefined : new Map([[partitionKey, after]]), [...this.parsed.keys()]);
        if (rows.length === 0) return { kind: 'empty' } as const;
        claimed = duePrefix(rows);
        if (claimed.length === 0) return { kind: 'waiting' } as const;
        const outcome = await this.applyRows(trx, [{ partitionKey, rows: claimed }]);
        await this.markProcessed(trx, claimed, outcome);
        for (const hook of this.hooks) await hook(outcome, trx);
        return { kind: 'done', rows: claimed.length, lastId: claimed.at(-1)!.id } as const;
      }).then((step) => {
        if (step.kind === 'done') {
          this.metrics?.processed('ok', step.rows);
        }
        return step;
      });
    } catch (error) {
      if (claimed.length === 0) throw error;
      return this.recover(partitionKey, claimed, error);
    }
  }

  private async recover(partitionKey: string, rows: PendingRow[], error: unknown): Promise<Step> {
    const attempts = Math.max(...rows.map((r) => r.attempts)) + 1;
    if (isTransient(error) && attempts < MAX_INBOX_ATTEMPTS) {
      const delayMs = retryDelayMs(attempts);
      await this.db
        .updateTable('webhook_inbox')
        .set({ attempts: sql`attempts + 1`, last_error: errorText(error), next_attempt_at: retryAt(delayMs) })
        .where(sql<boolean>`id = any(${rows.map((r) => r.id)}::bigint[])`)
        .execute();
      this.logger.warn({ partitionKey, deliveries: rows.length, attempts, retryInMs: delayMs, err: errorText(error) }, 'inbox batch failed (transient); retrying soon');
      this.metrics?.processed('error', rows.length);
      return { kind: 'waiting' };
    }
    if (rows.length > 1) {
      // Which delivery is it? Each one alone, in order.
      this.logger.warn({ partitionKey, deliveries: rows.length, err: errorText(error) }, 'inbox batch failed; applying its deliveries one by one');
      let handled = 0;
      for (let i = 0; i < rows.length; i++) {
        const step = await this.step(partitionKey, 1);
        if (step.kind !== 'done') return handled > 0 ? { kind: 'done', rows: handled } : step;
        handled += step.rows;
      }
      return { kind: 'done', rows: handled };
    }
    return this.applyIsolated(partitionKey, rows[0]!, error);
  }

  /** One delivery that fails as a whole: each event in its own savepoint; the failing ones set aside. */
  private async applyIsolated(partitionKey: string, row: PendingRow, firstError: unknown): Promise<Step> {
    try {
      const applied = await this.db.transaction().execute(async (trx) => {
        // Another worker took the number meanwhile: it owns the row now; record nothing on it.
        if (!(await lockPartition(trx, partitionKey))) return false;
        const { events, envelope } = this.eventsOf(row, partitionKey, await this.bodyOf(trx, row));
        const outcome = emptyOutcome();
        for (const event of events) {
          await sql`savepoint coex_event`.execute(trx);
          try {
            mergeOutcome(outcome, await applyEvents(trx, [event], this.applyOptions(row)));
            await sql`release savepoint coex_event`.execute(trx);
          } catch (error) {
            if (isTransient(error)) throw error;
            await sql`rollback to savepoint coex_event`.execute(trx);
            await this.setAside(trx, row, partitionKey, event.kind, errorText(error), describe(event));
          }
        }
        if (envelope) await this.learnWabas(trx, new Map([[partitionKey, envelope]]));
        await this.markProcessed(trx, [row], outcome);
        for (const hook of this.hooks) await hook(outcome, trx);
        return true;
      });
      if (!applied) return { kind: 'locked' };
      this.metrics?.processed('ok');
      return { kind: 'done', rows: 1 };
    } catch (error) {
      // Even event by event it does not go through (a follow-up hook fails, the database is gone).
      const attempts = row.attempts + 1;
      const transient = isTransient(error);
      const dead = !transient && attempts >= MAX_INBOX_ATTEMPTS;
      const delayMs = retryDelayMs(attempts);
      try {
        await this.db.transaction().execute(async (trx) => {
          await trx
            .updateTable('webhook_inbox')
            .set({
              attempts,
              last_error: errorText(error),
              next_attempt_at: retryAt(delayMs),
              ...(dead ? { processed_at: sql`now()`, outcome: JSON.stringify({ dead: true }) } : {}),
            })
            .where('id', '=', row.id)
            .execute();
          if (dead) await this.setAside(trx, row, partitionKey, 'delivery', `${errorText(firstError)} | ${errorText(error)}`, null);
        });
      } catch (recordError) {
        this.logger.error({ inboxId: row.id, partitionKey, err: errorText(recordError) }, 'could not record an inbox failure');
        throw recordError;
      }
      this.logger.error({ inboxId: row.id, partitionKey, attempts, dead, err: errorText(error) }, dead ? 'webhook delivery set aside after repeated failures' : 'webhook delivery failed; will retry');
      this.metrics?.processed(dead ? 'dead' : 'error');
      return dead ? { kind: 'done', rows: 1 } : { kind: 'waiting' };
    }
  }

  private async setAside(trx: Kysely<Database>, row: PendingRow, partitionKey: string, kind: string, reason: string, payload: unknown): Promise<void> {
    await trx
      .insertInto('webhook_set_aside')
      .values({ inbox_id: row.id, partition_key: partitionKey, kind, reason, payload: payload === null ? null : JSON.stringify(payload) })
      .execute();
    this.metrics?.setAside?.(kind);
    this.logger.error({ inboxId: row.id, partitionKey, kind, reason }, 'webhook item set aside: it cannot be stored (the rest of its delivery was)');
  }

  private applyOptions(row: PendingRow, inboxIdOf?: (e: DomainEvent) => string | null) {
    return { defaultTenantId: this.defaultTenantId, inboxId: row.id, outside: this.db, ...(inboxIdOf ? { inboxIdOf } : {}) };
  }

  /**
   * Parses and applies batches of deliveries (each of one number, in its arrival order) as one stream
   * of events: each delivery is parsed while the database writes the ones before it.
   */
  private async applyRows(trx: Kysely<Database>, batches: Array<{ partitionKey: string; rows: PendingRow[] }>): Promise<ApplyOutcome> {
    const inboxOf = new WeakMap<DomainEvent, string>();
    const lastEnvelope = new Map<string, WebhookEnvelope>();
    const first = batches[0]!.rows[0]!.id;
    const stream = new EventStreamApplier(trx, { defaultTenantId: this.defaultTenantId, inboxId: first, inboxIdOf: (e) => inboxOf.get(e) ?? null, outside: this.db });
    let sliceStart = performance.now();
    for (const { partitionKey, rows } of batches) {
      for (const row of rows) {
        const { events, envelope } = this.eventsOf(row, partitionKey, await this.bodyOf(trx, row));
        for (const e of events) inboxOf.set(e, row.id);
        if (envelope) lastEnvelope.set(partitionKey, envelope);
        await stream.add(events);
        // Parsing is synchronous, and a hostile body (deep nesting, huge arrays) costs milliseconds: a
        // batch of them held the event loop — acknowledgements, /healthz — for hundreds of ms.
        if (performance.now() - sliceStart > PARSE_SLICE_MS) {
          await new Promise<void>((resolve) => setImmediate(resolve));
          sliceStart = performance.now();
        }
      }
    }
    const outcome = await stream.finish();
    await this.learnWabas(trx, lastEnvelope);
    return outcome;
  }

  /**
   * A shared body parsed already (held for the call: other lanes of this process may push it out of
   * the cache meanwhile); else the row's body, read again if pendingRows left it out as parsed and it
   * has left the cache since — a missing body is never parsed as empty.
   */
  private async bodyOf(trx: Kysely<Database>, row: PendingRow): Promise<ParsedBody | undefined> {
    const cached = row.body_id === null ? undefined : this.parsed.get(row.body_id);
    if (cached || row.raw_body !== null || row.body_id === null) return cached;
    const body = await trx.selectFrom('webhook_bodies').select('raw_body').where('id', '=', row.body_id).executeTakeFirst();
    row.raw_body = body?.raw_body ?? null;
    return undefined;
  }

  /** The events of one delivery for this partition; an unreadable body becomes one `unknown` event. */
  private eventsOf(row: PendingRow, partitionKey: string, parsed?: ParsedBody): { events: DomainEvent[]; envelope: WebhookEnvelope | null } {
    const envelope = parsed ? parsed.envelope : this.envelopeOf(row);
    if (!envelope) {
      const raw = row.raw_body ?? '';
      let payload: unknown = raw.slice(0, 10_000);
      try {
        payload = sanitizePayload(JSON.parse(raw)).value;
      } catch {
        // not JSON: keep the text
      }
      return { events: [{ kind: 'unknown', phoneNumberId: null, field: '(envelope)', detail: 'delivery is not a WhatsApp webhook envelope', raw: payload }], envelope: null };
    }
    // A shared body (several numbers, or a number's history lanes) is normalized once for all its
    // partitions; each takes its events (once: a retry normalizes again).
    const cached = parsed ?? (row.body_id === null ? undefined : this.parsed.get(row.body_id));
    if (cached?.events?.has(partitionKey)) {
      const events = cached.events.get(partitionKey)!;
      cached.events.delete(partitionKey);
      if (cached.events.size === 0) this.releaseEvents(cached);
      return { events, envelope };
    }
    const byPartition = normalizeDeliveryByPartition(envelope);
    const events = byPartition.get(partitionKey) ?? [];
    byPartition.delete(partitionKey);
    if (cached && !cached.events && byPartition.size > 0 && this.parsed.get(row.body_id!) === cached) {
      cached.events = byPartition;
      cached.eventBytes = cached.size * EVENTS_WEIGHT;
      this.parsedBytes += cached.eventBytes;
      this.evictBeyondBudget(0, cached);
    }
    return { events, envelope };
  }

  private envelopeOf(row: PendingRow): WebhookEnvelope | null {
    // Only a shared body (one naming several numbers) is read again, for its other numbers. Keeping
    // every delivery's tree as well (up to the byte bound) held tens of MB of parsed history chunks
    // alive for nothing: old-generation garbage collection for the whole import.
    const cacheKey = row.body_id;
    const cached = cacheKey === null ? undefined : this.parsed.get(cacheKey);
    if (cached !== undefined) return cached.envelope;
    let parsed: unknown;
    try {
      parsed = JSON.parse(row.raw_body ?? '');
    } catch {
      parsed = undefined;
    }
    const result = envelopeSchema.safeParse(sanitizeParsed(row.raw_body ?? '', parsed));
    const envelope = result.success ? result.data : null;
    if (cacheKey === null) return envelope;
    const size = row.raw_body?.length ?? 0;
    this.evictBeyondBudget(size);
    this.parsed.set(cacheKey, { envelope, size, eventBytes: 0 });
    this.parsedBytes += size;
    return envelope;
  }

  /** Bounded by bytes (`incoming` more to come): oldest bodies leave first, `keep` stays. */
  private evictBeyondBudget(incoming: number, keep?: ParsedBody): void {
    for (const [key, body] of this.parsed) {
      if (this.parsedBytes + incoming <= PARSE_CACHE_BYTES) return;
      if (body === keep) continue;
      this.parsedBytes -= body.size + body.eventBytes;
      body.eventBytes = 0;
      this.parsed.delete(key);
    }
  }

  /** A body's events all taken: they no longer count (the empty map says "normalize again" to a retry). */
  private releaseEvents(body: ParsedBody): void {
    this.parsedBytes -= body.eventBytes;
    body.eventBytes = 0;
  }

  /**
   * The entry id of a number's change is its WABA: numbers first seen in a webhook learn it here
   * (template listing needs it), without a Graph call.
   */
  private async learnWabas(trx: Kysely<Database>, envelopeOf: Map<string, WebhookEnvelope>): Promise<void> {
    const wabaOf = new Map<string, string>();
    for (const [partitionKey, envelope] of envelopeOf) {
      if (partitionKey.startsWith('waba:') || partitionKey === 'unparsed') continue;
      const number = partitionParts(partitionKey).number;
      const entry = envelope.entry.find((e) => e.changes.some((c) => partitionKeyOf(e.id, c.value) === number));
      if (entry) wabaOf.set(number, entry.id);
    }
    await recordWabaIds(trx, wabaOf);
  }

  private async markProcessed(trx: Kysely<Database>, rows: PendingRow[], outcome: ApplyOutcome): Promise<void> {
    await trx
      .updateTable('webhook_inbox')
      .set({ processed_at: sql`now()`, attempts: sql`attempts + 1`, last_error: null, outcome: JSON.stringify({ batch: rows.length, ...summarize(outcome) }) })
      .where(sql<boolean>`id = any(${rows.map((r) => r.id)}::bigint[])`)
      .execute();
    if (outcome.unknown > 0) this.metrics?.unknown(outcome.unknown);
  }
}

/** What a set-aside event was, without the parts that could not be stored. */
function describe(event: DomainEvent): unknown {
  const { raw, ...rest } = event as DomainEvent & { raw?: unknown };
  return { ...rest, raw: sanitizePayload(raw).value };
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
