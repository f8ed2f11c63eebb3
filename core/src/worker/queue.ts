import pg from 'pg';
import { PgBoss } from 'pg-boss';
import type { Logger } from 'pino';
import type { DatabaseHandle } from '../db/index.js';
import { INBOX_CHANNEL } from '../webhooks/inbox-writer.js';
import { HISTORY_LANES, partitionParts } from '../whatsapp/normalize.js';
import { numbersPerTransaction, type InboxProcessor, type Pace, type PendingWork } from './inbox-processor.js';

/**
 * While acknowledgements are being served, the worker waits this many times as long as its last
 * transaction took (it works a quarter of the time). Measured on 2 cores, 10,000 deliveries
 * (docs/benchmarks.md): ×1 left acknowledgements at ~0.73 of the hand-rolled server, ×2 at ~0.75,
 * ×3 with a 3 s lag bound at ~0.8 — and everything was visible as soon or sooner: a worker that
 * competes with acknowledgements runs small, costly batches.
 */
const YIELD_FACTOR = 3;

/** Longest single wait of the worker for the acknowledgements. */
export const MAX_YIELD_MS = 100;

/** How far behind the worker may fall by yielding, unless told otherwise. */
export const DEFAULT_MAX_YIELD_LAG_MS = 3_000;

/** Whether the worker yields to acknowledgements: some are being served and it is less than `maxLagMs` behind. */
export function yielding(o: { ingressBusy: boolean; behindMs: number; maxLagMs: number }): boolean {
  return o.ingressBusy && o.behindMs <= o.maxLagMs;
}

/**
 * How long the lane holding the turn waits after a transaction that took `elapsedMs`: YIELD_FACTOR
 * times that, at most MAX_YIELD_MS — while the worker yields (one lane at a time applies then, so the
 * worker as a whole works a quarter of the time); otherwise not at all.
 */
export function yieldMs(o: { ingressBusy: boolean; behindMs: number; maxLagMs: number; elapsedMs: number }): number {
  if (!yielding(o)) return 0;
  return Math.min(o.elapsedMs * YIELD_FACTOR, MAX_YIELD_MS);
}

/** Most numbers applied in one transaction by one lane. */
const MAX_GROUP = 50;

/**
 * While a pass drains, every this many ms the worker looks for numbers with a small backlog — new
 * since the pass's look, or of its groups waiting for their turn (a pass applies the numbers of its
 * look until they are drained, and in a burst that lasts as long as the burst):
 * InboxWorker.applyLateArrivals.
 */
export const LATE_LOOK_MS = 250;

/**
 * A number found by that look is applied at once if it has at most this many due deliveries: a
 * conversation, not a burst — bursting numbers are left to the next pass's large transactions (which
 * is what lets acknowledgements keep pace), a customer of a quiet number is not held back by them.
 */
export const LATE_SMALL_BACKLOG = 5;

/** First wait of a pass that found every due number held by another worker (then doubled, up to the poll). */
const HELD_RETRY_MS = 25;

/**
 * Lanes of a worker that apply history partitions (`<number>/h<lane>`) apart from the pass: at most
 * this many, and always one lane fewer than the worker has, so live traffic keeps at least one.
 */
export const historyLanesOf = (concurrency: number): number => Math.max(0, Math.min(HISTORY_LANES, concurrency - 1));

const isHistoryPartition = (partitionKey: string): boolean => partitionParts(partitionKey).lane !== null;

/** `items` cut into consecutive groups of `size` (the last one shorter). */
function groupsOf<T>(items: T[], size: number): T[][] {
  const groups: T[][] = [];
  for (let i = 0; i < items.length; i += size) groups.push(items.slice(i, i + size));
  return groups;
}

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
  /**
   * Webhook requests of this process being acknowledged. While there are, the worker leaves them most
   * of the CPU (acknowledgements first), as long as it is less than `maxYieldLagMs` behind (3 s).
   */
  ingress?: IngressLoad;
  /** How far behind (since the inbox was last empty) the worker may fall by yielding (DEFAULT_MAX_YIELD_LAG_MS). */
  maxYieldLagMs?: number;
}

/**
 * Webhook requests in flight in this process, for the worker of the same process: acknowledging a
 * delivery (Meta waits for it, and retries what it does not get) comes before applying one (which
 * only has to follow closely).
 */
export class IngressLoad {
  private inFlight = 0;
  private lastStart = 0;

  begin(): void {
    this.inFlight += 1;
    this.lastStart = performance.now();
  }

  end(): void {
    this.inFlight -= 1;
  }

  /** A request is being served, or one arrived in the last few milliseconds (more are coming). */
  busy(): boolean {
    return this.inFlight > 0 || performance.now() - this.lastStart < INGRESS_QUIET_MS;
  }
}

/** Ingress counts as busy this long after its last request began. */
const INGRESS_QUIET_MS = 20;

/**
 * Runs the inbox processor over every number with due deliveries, in groups, `concurrency` at a time.
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
  /** The LISTEN connection's next attempt, a second after it was lost or refused. */
  private relisten: NodeJS.Timeout | undefined;
  private poll: NodeJS.Timeout | undefined;
  private loop: Promise<void> = Promise.resolve();
  private readonly concurrency: number;
  /** Ends the wait of a pass whose due numbers were all held elsewhere (set while it waits). */
  private interruptWait: (() => void) | undefined;
  /** Lanes applying a group right now (history lanes included). */
  private activeLanes = 0;
  /** History lanes at most (historyLanesOf: 0 with one lane, then history goes through the pass). */
  private readonly historyLanes: number;
  /** History partitions handed to the history lanes and not finished: queued, then being drained. */
  private readonly historyTaken = new Set<string>();
  private readonly historyQueue: string[] = [];
  /** Taken history partitions with deliveries acknowledged since (their lane looks again when it ends). */
  private readonly historyWoken = new Set<string>();
  /** History lanes running, and their ends (stop() waits for them). */
  private readonly historyRunning = new Set<Promise<void>>();
  /**
   * When the inbox was last seen empty (when idle, the one-second poll keeps this fresh): how far
   * behind the acknowledgements the worker is, at most.
   */
  private caughtUpAt = performance.now();
  /**
   * While the worker yields to acknowledgements, one lane at a time applies: the lane holding the turn,
   * through its transaction and its wait after it, then the lane that has waited longest. Each lane
   * used to yield on its own, and whether a burst was applied beside its acknowledgements or after it
   * depended on how many numbers the pass's first look happened to see: about one run in five to
   * eight, every lane applied a 100-number burst as it came and the acknowledgements fell to 0.6–0.84
   * of the hand-rolled server (docs/decisions/ingestion-worker.md, "One lane at a time while
   * acknowledging").
   */
  private turnHolder: object | undefined;
  private readonly turnQueue: Array<{ lane: object; take: () => void }> = [];

  private async takeTurn(lane: object): Promise<void> {
    if (this.turnHolder === lane) return;
    if (this.turnHolder === undefined) {
      this.turnHolder = lane;
      return;
    }
    await new Promise<void>((take) => this.turnQueue.push({ lane, take }));
  }

  private passTurn(lane: object): void {
    if (this.turnHolder !== lane) return;
    const next = this.turnQueue.shift();
    this.turnHolder = next?.lane;
    next?.take();
  }

  private yieldState() {
    return { ingressBusy: this.options.ingress?.busy() ?? false, behindMs: performance.now() - this.caughtUpAt, maxLagMs: this.options.maxYieldLagMs ?? DEFAULT_MAX_YIELD_LAG_MS };
  }

  /**
   * Before a lane's transaction (its first one included): while the worker yields, the lane takes the
   * turn — after the holder's transaction and wait — and the numbers with a small backlog are looked
   * at (applyLateArrivals, paced like a transaction); otherwise it hands the turn on and goes on.
   */
  private async beforeTransaction(lane: object): Promise<void> {
    if (this.stopped || !yielding(this.yieldState())) {
      this.passTurn(lane);
      if (!this.stopped) await this.applyLateArrivals();
      return;
    }
    await this.takeTurn(lane);
    const started = performance.now();
    await this.applyLateArrivals();
    await this.rest(performance.now() - started);
  }

  /**
   * The wait after work that took `elapsedMs` while the worker yields (held with the turn), times
   * `lanes` for lanes that take no turn, at most MAX_YIELD_MS; none once stopping.
   */
  private async rest(elapsedMs: number, lanes = 1): Promise<void> {
    if (this.stopped) return;
    const wait = Math.min(yieldMs({ ...this.yieldState(), elapsedMs }) * Math.max(1, lanes), MAX_YIELD_MS);
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
  }

  /**
   * Between two transactions of a history lane: no turn — an import's chunks were acknowledged
   * already, and its lanes (at most HISTORY_LANES) taking turns with the passes' cost the import a
   * fifth of its rate and the live messages beside it their latency (measured: 0.41–0.44 of the raw
   * INSERT instead of 0.53–0.57, live p90 0.3–2.1 s instead of 0.2 s) — but the same share of the
   * time while acknowledgements are served: the wait is multiplied by the lanes at work.
   */
  private readonly historyPace: Pace = async (elapsedMs) => {
    await this.rest(elapsedMs, this.activeLanes);
    await this.applyLateArrivals();
  };

  /**
   * Between two transactions of a lane: the wait after the one that ended (with the turn, while the
   * worker yields), then the turn to the lane that has waited longest, and this lane's next one.
   */
  private paceOf(lane: object): Pace {
    return async (elapsedMs: number): Promise<void> => {
      if (this.turnHolder === lane) {
        await this.rest(elapsedMs);
        if (this.turnQueue.length > 0) this.passTurn(lane);
      }
      await this.beforeTransaction(lane);
    };
  }

  /** A pass is draining (late looks happen only then: otherwise a wake starts a pass). */
  private passing = false;
  /** When the last late look began; the one under way (one at a time). */
  private lastLateLook = 0;
  private lateLook: Promise<void> | undefined;

  /**
   * At most every LATE_LOOK_MS during a pass, the due numbers with a small backlog
   * (LATE_SMALL_BACKLOG) are applied in one transaction: those that became due since the pass's look,
   * and those of its groups whose lane waits for the turn (a number whose lane is in a transaction is
   * skipped: its lock is held). Before, a customer of another number waited for the pass's whole
   * drain (measured: 1.8–2.6 s at the median during a 10,000-delivery burst;
   * docs/decisions/ingestion-worker.md). Done before a lane's transaction (with the turn while the
   * worker yields), or by a lane of its own when the pass leaves one free and the worker does not yield.
   */
  private applyLateArrivals(minGapMs = LATE_LOOK_MS): Promise<void> {
    if (!this.passing || this.lateLook || this.stopped || performance.now() - this.lastLateLook < minGapMs) return Promise.resolve();
    this.lastLateLook = performance.now();
    this.lateLook = this.lookLate().finally(() => (this.lateLook = undefined));
    return this.lateLook;
  }

  private async lookLate(): Promise<void> {
    try {
      const late = (await this.processor.pendingWork()).filter(
        // History partitions are their lanes' (when the worker has history lanes).
        (w) => !(this.historyLanes > 0 && isHistoryPartition(w.partitionKey)) && w.pending <= LATE_SMALL_BACKLOG,
      );
      if (late.length > 0) await this.processor.drainMany(late.map((w) => w.partitionKey), late.length * LATE_SMALL_BACKLOG);
    } catch (error) {
      // Nothing lost: what it did not apply stays pending for the next pass.
      this.logger.warn({ err: error instanceof Error ? error.message : String(error) }, 'inbox late look failed');
    }
  }

  constructor(
    private readonly processor: InboxProcessor,
    private readonly connectionString: string,
    private readonly logger: Logger,
    private readonly options: InboxWorkerOptions = {},
  ) {
    this.concurrency = Math.max(1, options.concurrency ?? 4);
    this.historyLanes = historyLanesOf(this.concurrency);
  }

  async start(): Promise<void> {
    this.stopped = false;
    await this.listen();
    // stop() came while LISTEN was being set up: no poll to leave behind.
    if (this.stopped) return;
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
      // Not once stopped (stop() also cancels an attempt already scheduled): a connection opened then
      // would never be closed.
      if (!this.stopped) {
        this.relisten = setTimeout(() => void this.listen(), 1000);
        this.relisten.unref();
      }
    };
    client.on('notification', (message) => this.kick(message.payload ? [message.payload] : undefined));
    client.on('error', (error) => giveUp(error.message, 'inbox LISTEN connection lost; polling until it is back'));
    try {
      await client.connect();
      await client.query(`listen ${INBOX_CHANNEL}`);
      if (this.stopped) {
        // stop() came while this connection was being opened.
        given = true;
        await client.end().catch(() => undefined);
      } else if (!given) this.listener = client;
    } catch (error) {
      giveUp((error as Error).message, 'inbox LISTEN unavailable; polling');
    }
  }

  /**
   * "There may be work" (in `partitionKeys`, when the caller knows): coalesced, at most one pass runs
   * and one more follows. Deliveries only for history partitions a history lane holds wake no pass:
   * that lane's drain takes them (it drains until nothing is pending), or looks again once it ends —
   * every acknowledgement of an import made a pass look at the whole inbox for nothing.
   */
  kick(partitionKeys?: readonly string[]): void {
    if (this.stopped) return;
    if (partitionKeys !== undefined && partitionKeys.length > 0 && partitionKeys.every((key) => this.historyTaken.has(key))) {
      for (const key of partitionKeys) this.historyWoken.add(key);
      return;
    }
    if (this.running) {
      this.again = true;
      this.interruptWait?.();
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

  /**
   * Drains every due partition, `concurrency` at a time, until nothing due is left. History partitions
   * are handed to the history lanes, which drain them beside the passes: a pass waits for every lane
   * it started, and one that drained a number's history (seconds, for an import) held back every other
   * number's live messages until it was done (measured: a live message of another number visible
   * 1.1–1.3 s after its acknowledgement at the median, 2.6–3.2 s at worst, during a 50,000-message
   * import; 74–140 ms and 200–288 ms since: docs/decisions/ingestion-worker.md).
   */
  private async pass(): Promise<void> {
    let held = 0;
    for (;;) {
      this.again = false;
      const due = await this.processor.pendingWork();
      if (due.length === 0) {
        this.caughtUpAt = performance.now();
        return;
      }
      let work = due;
      if (this.historyLanes > 0) {
        this.handToHistoryLanes(due);
        work = due.filter((w) => !isHistoryPartition(w.partitionKey));
        // Only history is due: its lanes have it and wake the worker when they are done (or another
        // process holds it, and the poll looks again).
        if (work.length === 0) return;
      }
      // Start somewhere else than a sibling worker would, so two workers rarely race for one number.
      const offset = Math.floor(Math.random() * work.length);
      const order = [...work.slice(offset), ...work.slice(0, offset)];
      // Numbers in groups, one group per lane and transaction: many numbers with a few deliveries each
      // are applied together (InboxProcessor.drainMany), and all lanes stay busy. Numbers with a
      // backlog go a few at a time (numbersPerTransaction): a lane keeps its group until it is drained,
      // and groups of every number would leave a second worker process nothing to take.
      const size = numbersPerTransaction(order, Math.min(MAX_GROUP, Math.ceil(order.length / this.concurrency)), this.processor.batchSize);
      const groups = groupsOf(order.map((w) => w.partitionKey), size);
      this.passing = true;
      this.lastLateLook = performance.now();
      let next = 0;
      let progress = 0;
      const lane = async (): Promise<void> => {
        while (!this.stopped && next < groups.length) {
          progress += await this.drain(groups[next++]!);
        }
      };
      // The history lanes at work count against the worker's connections (one a lane).
      // A lane the pass leaves free (fewer groups than lanes) takes the late looks, so that a long
      // transaction of the pass's lanes does not hold them back — not while this process is
      // acknowledging deliveries: one more lane applying beside them cost the acknowledgements of a
      // 100-number burst a third of their rate (measured: 0.67–0.84 of the hand-rolled server instead of
      // 1.2–1.3; p99 over 100 ms); then the pass's lanes take them between their transactions.
      const ticker = setInterval(() => {
        if (this.activeLanes >= this.concurrency || this.lateLook || yielding(this.yieldState())) return;
        this.activeLanes += 1;
        // Half a period: a timer may fire a little before performance.now() says the period is over.
        void this.applyLateArrivals(LATE_LOOK_MS / 2).finally(() => (this.activeLanes -= 1));
      }, LATE_LOOK_MS);
      try {
        await Promise.all(Array.from({ length: Math.min(this.concurrency - this.historyRunning.size, groups.length) }, lane));
      } finally {
        clearInterval(ticker);
        this.passing = false;
      }
      if (this.stopped) return;
      if (progress > 0) {
        held = 0;
        continue;
      }
      // Nothing moved: every due number is held by another worker process (or its group failed). Look
      // again soon — the holder lets a number go after each transaction — backing off to the poll's
      // interval; a wake (a NOTIFY, a delivery of this process) or stop() ends the wait at once.
      held += 1;
      const wait = this.again ? HELD_RETRY_MS : Math.min(HELD_RETRY_MS * 2 ** held, this.options.pollIntervalMs ?? 1000);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, wait);
        this.interruptWait = () => (clearTimeout(timer), resolve());
      });
      this.interruptWait = undefined;
      if (this.stopped) return;
    }
  }

  /**
   * Drains a group as a lane at work (counted in activeLanes: history lanes' waits and the pass's free
   * lane read it), a pass's group taking the turn while the worker yields; a failure is
   * logged and moves nothing (the deliveries stay pending for the next pass).
   */
  private async drain(group: string[], history = false): Promise<number> {
    this.activeLanes += 1;
    const lane = {};
    try {
      if (history) return await this.processor.drainMany(group, undefined, this.historyPace);
      await this.beforeTransaction(lane);
      return await this.processor.drainMany(group, undefined, this.paceOf(lane));
    } catch (error) {
      this.logger.warn({ partitionKeys: group.length, first: group[0], err: error instanceof Error ? error.message : String(error) }, 'inbox drain failed; retrying');
      return 0;
    } finally {
      this.passTurn(lane);
      this.activeLanes -= 1;
    }
  }

  /** Queues the due history partitions not taken yet, and starts history lanes for them (up to historyLanes). */
  private handToHistoryLanes(due: PendingWork[]): void {
    for (const { partitionKey } of due) {
      if (!isHistoryPartition(partitionKey) || this.historyTaken.has(partitionKey)) continue;
      this.historyTaken.add(partitionKey);
      this.historyQueue.push(partitionKey);
    }
    while (this.historyRunning.size < this.historyLanes && this.historyQueue.length > 0) {
      const running: Promise<void> = this.historyLane().finally(() => this.historyRunning.delete(running));
      this.historyRunning.add(running);
    }
  }

  /** A history lane: drains queued history partitions one at a time until none is left. */
  private async historyLane(): Promise<void> {
    let progress = 0;
    let woken = false;
    while (!this.stopped) {
      const key = this.historyQueue.shift();
      if (key === undefined) break;
      progress += await this.drain([key], true);
      this.historyTaken.delete(key);
      if (this.historyWoken.delete(key)) woken = true;
    }
    // Deliveries may have come meanwhile (and a drain stops at its maxRows): a pass looks again — not
    // after a lane that moved nothing and was told of nothing new (its partition is held by another
    // process: the poll looks again, no busy loop).
    if (progress > 0 || woken) this.kick();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.interruptWait?.();
    if (this.poll) clearInterval(this.poll);
    clearTimeout(this.relisten);
    await this.loop.catch(() => undefined);
    await this.lateLook;
    await Promise.all(this.historyRunning);
    // Left queued by a stop: a later start() looks at them afresh.
    this.historyQueue.length = 0;
    this.historyTaken.clear();
    this.historyWoken.clear();
    await this.listener?.end().catch(() => undefined);
    this.listener = undefined;
  }
}
