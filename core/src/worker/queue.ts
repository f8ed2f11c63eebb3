import pg from 'pg';
import { PgBoss } from 'pg-boss';
import type { Logger } from 'pino';
import type { DatabaseHandle } from '../db/index.js';
import { INBOX_CHANNEL } from '../webhooks/inbox-writer.js';
import type { InboxProcessor } from './inbox-processor.js';

export function createBoss(handle: DatabaseHandle, logger: Logger): PgBoss {
  const boss = new PgBoss({ connectionString: handle.connectionString, schema: 'pgboss', max: 4, superviseIntervalSeconds: 10 });
  boss.on('error', (error: unknown) => logger.error({ err: error instanceof Error ? error.message : String(error) }, 'pg-boss error'));
  return boss;
}

export interface InboxWorkerOptions {
  /** Numbers applied at once by this process (each holds one pooled connection while it works). */
  concurrency?: number;
  /** Safety net poll; LISTEN/NOTIFY and in-process wakes make it rarely needed. */
  pollIntervalMs?: number;
}

/**
 * Runs the inbox processor over every number with due deliveries, `concurrency` numbers at a time.
 * No job queue in between: the inbox table is the queue. A worker is woken by an in-process call
 * (web and worker in one process), by a NOTIFY sent in the transaction that made a delivery durable
 * (any other process), and by a short poll; whichever comes first. Nothing is leased: the advisory
 * lock a batch takes dies with its connection, so after a crash (even kill -9) the next worker to
 * look applies everything pending at once — there is no expiry to wait out.
 */
export class InboxWorker {
  private running = false;
  private again = false;
  /** Until start(): a process that only serves HTTP (COEX_WORKER=off) leaves the inbox to workers. */
  private stopped = true;
  private listener: pg.Client | undefined;
  private poll: NodeJS.Timeout | undefined;
  private loop: Promise<void> = Promise.resolve();
  private readonly concurrency: number;

  constructor(
    private readonly processor: InboxProcessor,
    private readonly connectionString: string,
    private readonly logger: Logger,
    private readonly options: InboxWorkerOptions = {},
  ) {
    this.concurrency = Math.max(1, options.concurrency ?? 4);
  }

  async start(): Promise<void> {
    this.stopped = false;
    await this.listen();
    this.poll = setInterval(() => this.kick(), this.options.pollIntervalMs ?? 1000);
    this.poll.unref();
    this.kick();
  }

  private async listen(): Promise<void> {
    const client = new pg.Client({ connectionString: this.connectionString });
    // A failed connect can also emit 'error': whichever comes first gives the client up, once.
    let given = false;
    const giveUp = (message: string, what: string): void => {
      if (given) return;
      given = true;
      if (this.listener === client) this.listener = undefined;
      client.end().catch(() => undefined);
      this.logger.warn({ err: message }, what);
      if (!this.stopped) setTimeout(() => void this.listen(), 1000).unref();
    };
    client.on('notification', () => this.kick());
    client.on('error', (error) => giveUp(error.message, 'inbox LISTEN connection lost; polling until it is back'));
    try {
      await client.connect();
      await client.query(`listen ${INBOX_CHANNEL}`);
      if (!given) this.listener = client;
    } catch (error) {
      giveUp((error as Error).message, 'inbox LISTEN unavailable; polling');
    }
  }

  /** "There may be work": coalesced, at most one pass runs and one more follows. */
  kick(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = true;
    this.loop = this.pass()
      .catch((error: unknown) => this.logger.error({ err: error instanceof Error ? error.message : String(error) }, 'inbox worker pass failed; retrying on the next poll'))
      .finally(() => {
        this.running = false;
        if (this.again && !this.stopped) {
          this.again = false;
          this.kick();
        }
      });
  }

  /** Drains every due partition, `concurrency` at a time, until nothing due is left. */
  private async pass(): Promise<void> {
    for (;;) {
      this.again = false;
      const partitions = await this.processor.pendingPartitions();
      if (partitions.length === 0) return;
      // Start somewhere else than a sibling worker would, so two workers rarely race for one number.
      const offset = Math.floor(Math.random() * partitions.length);
      const order = [...partitions.slice(offset), ...partitions.slice(0, offset)];
      let next = 0;
      let progress = 0;
      const lane = async (): Promise<void> => {
        while (!this.stopped && next < order.length) {
          const key = order[next++]!;
          try {
            progress += await this.processor.drain(key);
          } catch (error) {
            this.logger.warn({ partitionKey: key, err: error instanceof Error ? error.message : String(error) }, 'inbox drain failed; retrying');
          }
        }
      };
      await Promise.all(Array.from({ length: Math.min(this.concurrency, order.length) }, lane));
      if (this.stopped) return;
      // Nothing moved (numbers locked elsewhere or waiting for a retry): let the poll or a wake call back.
      if (progress === 0) {
        if (!this.again) return;
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.poll) clearInterval(this.poll);
    await this.loop.catch(() => undefined);
    await this.listener?.end().catch(() => undefined);
    this.listener = undefined;
  }
}
