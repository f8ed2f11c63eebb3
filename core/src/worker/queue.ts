import { PgBoss, type Job } from 'pg-boss';
import type { Logger } from 'pino';
import type { DatabaseHandle } from '../db/index.js';
import type { InboxProcessor } from './inbox-processor.js';

export const INBOX_QUEUE = 'coex-inbox';
/** Pause before a follow-up wake of a busy number, so a burst of deliveries shares one job send. */
const WAKE_COALESCE_MS = 50;

interface InboxJob {
  partitionKey: string;
}

export function createBoss(handle: DatabaseHandle, logger: Logger): PgBoss {
  const boss =
    'connectionString' in handle.boss
      ? new PgBoss({ connectionString: handle.boss.connectionString, schema: 'pgboss', max: 4 })
      : new PgBoss({ db: handle.boss.db, backend: handle.boss.backend, schema: 'pgboss' });
  boss.on('error', (error: unknown) => logger.error({ err: error instanceof Error ? error.message : String(error) }, 'pg-boss error'));
  return boss;
}

/**
 * The inbox job queue (pg-boss). One "drain" job per phone number, `stately` policy keyed by the
 * number: at most one queued and one active drain per number across every process, so a burst of
 * webhooks for one number costs one job, and a worker pool of any size never drains one number twice
 * at once. The inbox table stays the source of truth; jobs only say "look at this number".
 */
export class InboxQueue {
  private readonly inFlightSends = new Set<string>();
  private readonly dirty = new Set<string>();
  private sweepTimer: NodeJS.Timeout | undefined;
  private workerId: string | undefined;

  private localProcessor: InboxProcessor | undefined;

  /**
   * `local` is for the embedded PGlite mode, which is one process by construction: the worker drains
   * in-process when told, instead of paying a pg-boss job round trip per webhook on the single PGlite
   * session (measured: it more than halved the acknowledgement rate). The sweep still recovers what a
   * crash left. `boss` (PostgreSQL) wakes workers in any process through pg-boss.
   */
  constructor(
    private readonly boss: PgBoss,
    private readonly logger: Logger,
    private readonly mode: 'boss' | 'local' = 'boss',
  ) {}

  async init(): Promise<void> {
    await this.boss.createQueue(INBOX_QUEUE, { policy: 'stately', retryLimit: 1000, retryDelay: 2, retryBackoff: true, retryDelayMax: 300, expireInSeconds: 900 }).catch((error: unknown) => {
      // Another process may have created it first.
      if (!(error instanceof Error && /exist/i.test(error.message))) throw error;
    });
  }

  /**
   * Says "number X has new deliveries". Called after every commit; coalesced per number: while a
   * send is in flight, later calls only mark the number dirty and one more send follows, after a
   * short pause that lets a burst share it. Every commit is thus followed by a send that starts after
   * it (so a job always sees it), and a burst of webhooks costs a few job sends, not one each —
   * which matters on PGlite, where job sends and inbox inserts share one session.
   */
  async wake(partitionKey: string): Promise<void> {
    if (this.inFlightSends.has(partitionKey)) {
      this.dirty.add(partitionKey);
      return;
    }
    this.inFlightSends.add(partitionKey);
    try {
      do {
        this.dirty.delete(partitionKey);
        if (this.mode === 'local') {
          // Nobody drains in this process (coex serve with COEX_WORKER=off): the next start's sweep will.
          if (!this.localProcessor) return;
          await this.localProcessor.drain(partitionKey).catch((error: unknown) => this.logger.warn({ partitionKey, err: String(error) }, 'inbox drain failed; the sweep retries'));
          continue;
        }
        await this.boss.send(INBOX_QUEUE, { partitionKey } satisfies InboxJob, { singletonKey: partitionKey });
        if (this.workerId) this.boss.notifyWorker(this.workerId);
        if (this.dirty.has(partitionKey)) await new Promise((r) => setTimeout(r, WAKE_COALESCE_MS));
      } while (this.dirty.has(partitionKey));
    } finally {
      this.inFlightSends.delete(partitionKey);
    }
  }

  /** Starts draining in this process. */
  async work(processor: InboxProcessor, options: { concurrency?: number; pollingIntervalSeconds?: number; sweepIntervalMs?: number } = {}): Promise<void> {
    if (this.mode === 'local') this.localProcessor = processor;
    this.workerId = await this.boss.work<InboxJob>(
      INBOX_QUEUE,
      { batchSize: 1, localConcurrency: options.concurrency ?? 2, pollingIntervalSeconds: options.pollingIntervalSeconds ?? 0.5 },
      async (jobs: Job<InboxJob>[]) => {
        for (const job of jobs) await processor.drain(job.data.partitionKey);
      },
    );
    await this.sweep(processor);
    const interval = options.sweepIntervalMs ?? 30_000;
    this.sweepTimer = setInterval(() => {
      this.sweep(processor).catch((error: unknown) => this.logger.error({ err: String(error) }, 'inbox sweep failed'));
    }, interval);
    this.sweepTimer.unref();
  }

  /**
   * Re-announces every number with unprocessed deliveries. This is what makes a crash between the
   * 200 and the job send harmless: the row is durable, the sweep finds it.
   */
  async sweep(processor: InboxProcessor): Promise<number> {
    const keys = await processor.pendingPartitions();
    for (const key of keys) await this.wake(key);
    return keys.length;
  }

  async stop(): Promise<void> {
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    if (this.workerId) await this.boss.offWork(INBOX_QUEUE, { id: this.workerId }).catch(() => undefined);
  }
}
