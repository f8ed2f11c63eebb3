import { fromKysely, type Job, type JobWithMetadata, type PgBoss } from 'pg-boss';
import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { Database } from './db/schema.js';

/**
 * Follow-up work after a delivery is applied, on pg-boss queues. Jobs are enqueued inside the
 * transaction that applied the delivery (`trx`), so they exist exactly when the data they refer to
 * does. Handlers are idempotent: pg-boss delivers at least once.
 */
export const QUEUES = {
  media: 'coex-media',
  transcribe: 'coex-transcribe',
  agent: 'coex-agent',
  crm: 'coex-crm',
  sendRetry: 'coex-send-retry',
} as const;
export type QueueName = (typeof QUEUES)[keyof typeof QUEUES];

export interface EnqueueOptions {
  trx?: Kysely<Database>;
  startAfterSeconds?: number;
  singletonKey?: string;
}

/** How soon a job of a dead worker is noticed (pg-boss's minimum is 10). */
export const JOB_HEARTBEAT_SECONDS = 15;

export class Jobs {
  constructor(private readonly boss: PgBoss, private readonly logger: Logger) {}

  async init(): Promise<void> {
    const defs: Array<[QueueName, Record<string, unknown>]> = [
      [QUEUES.media, { retryLimit: 6, retryDelay: 5, retryBackoff: true, retryDelayMax: 600, expireInSeconds: 300 }],
      [QUEUES.transcribe, { retryLimit: 4, retryDelay: 10, retryBackoff: true, retryDelayMax: 900, expireInSeconds: 600 }],
      [QUEUES.agent, { retryLimit: 3, retryDelay: 5, retryBackoff: true, retryDelayMax: 120, expireInSeconds: 300 }],
      [QUEUES.sendRetry, { retryLimit: 3, retryDelay: 30, retryBackoff: true, expireInSeconds: 120 }],
      [QUEUES.crm, { policy: 'stately', retryLimit: 1000, retryDelay: 5, retryBackoff: true, retryDelayMax: 900, expireInSeconds: 900 }],
    ];
    for (const [name, options] of defs) {
      // Heartbeats: a job held by a process that died (kill -9) is retried within about a
      // heartbeat, instead of blocking its singleton key (CRM connection) until expireInSeconds.
      const withHeartbeat = { ...options, heartbeatSeconds: JOB_HEARTBEAT_SECONDS };
      await this.boss.createQueue(name, withHeartbeat).catch(async (error: unknown) => {
        if (!(error instanceof Error && /exist/i.test(error.message))) throw error;
        await this.boss.updateQueue(name, { heartbeatSeconds: JOB_HEARTBEAT_SECONDS }).catch(() => undefined);
      });
    }
  }

  async enqueue(name: QueueName, data: object, opts: EnqueueOptions = {}): Promise<void> {
    await this.boss.send(name, data, {
      ...(opts.trx ? { db: fromKysely(opts.trx) } : {}),
      ...(opts.startAfterSeconds ? { startAfter: opts.startAfterSeconds } : {}),
      ...(opts.singletonKey ? { singletonKey: opts.singletonKey } : {}),
    });
  }

  /**
   * Runs a handler per job. `lastAttempt` tells the handler this is its final try, so it can record a
   * visible failure instead of leaving the item pending forever.
   */
  async work<T extends object>(name: QueueName, handler: (data: T, ctx: { lastAttempt: boolean; jobId: string }) => Promise<void>, concurrency = 2): Promise<string> {
    return this.boss.work<T>(name, { batchSize: 1, localConcurrency: concurrency, pollingIntervalSeconds: 0.5, includeMetadata: true }, async (jobs: JobWithMetadata<T>[] | Job<T>[]) => {
      for (const job of jobs as JobWithMetadata<T>[]) {
        const lastAttempt = job.retryCount >= job.retryLimit;
        try {
          await handler(job.data, { lastAttempt, jobId: job.id });
        } catch (error) {
          this.logger.warn({ queue: name, jobId: job.id, retry: job.retryCount, lastAttempt, err: error instanceof Error ? error.message : String(error) }, 'job failed');
          throw error;
        }
      }
    });
  }
}
