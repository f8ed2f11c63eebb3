import { PgBoss, type Job } from 'pg-boss';
import type { Logger } from 'pino';
import type { DatabaseHandle } from '../db/index.js';
import type { InboxProcessor } from './inbox-processor.js';

export const INBOX_QUEUE = 'coex-inbox';

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
  private sweepTimer: NodeJS.Timeout | undefined;
  private workerId: string | undefined;

  constructor(private readonly boss: PgBoss, private readonly logger: Logger) {}

  async init(): Promise<void> {
    await this.boss.createQueue(INBOX_QUEUE, { policy: 'stately', retryLimit: 1000, retryDelay: 2, retryBackoff: true, retryDelayMax: 300, expireInSeconds: 900 }).catch((error: unknown) => {
      // Another process may have created it first.
      if (!(error instanceof Error && /exist/i.test(error.message))) throw error;
    });
  }

  /** Says "number X has new deliveries". Cheap to call often: duplicates are collapsed. */
  async wake(partitionKey: string): Promise<void> {
    if (this.inFlightSends.has(partitionKey)) return;
    this.inFlightSends.add(partitionKey);
    try {
      await this.boss.send(INBOX_QUEUE, { partitionKey } satisfies InboxJob, { singletonKey: partitionKey });
      if (this.workerId) this.boss.notifyWorker(this.workerId);
    } finally {
      this.inFlightSends.delete(partitionKey);
    }
  }

  /** Starts draining in this process. */
  async work(processor: InboxProcessor, options: { concurrency?: number; pollingIntervalSeconds?: number; sweepIntervalMs?: number } = {}): Promise<void> {
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
