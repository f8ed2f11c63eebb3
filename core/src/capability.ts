import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Router } from 'express';
import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { Config } from './config.js';
import type { ConfigurationGap } from './config-report.js';
import type { TokenCipher } from './crypto.js';
import type { DatabaseHandle } from './db/index.js';
import type { Database } from './db/schema.js';
import type { Jobs, QueueSpec } from './jobs.js';
import type { Metrics } from './metrics.js';
import type { GraphClient } from './outbound/graph-client.js';
import type { SendService } from './outbound/send-service.js';
import type { AfterApplyHook } from './worker/inbox-processor.js';

/**
 * A capability of the server (ingestion, outbound, transcription, CRM, campaigns, agent, extension
 * API, admin): what it adds to one process, declared in its own folder (`<folder>/capability.ts`)
 * and composed by `runtime.ts`. Everything is optional: a capability declares only what it has.
 * See docs/decisions/capability-modules.md.
 */
export interface Capability {
  readonly name: string;
  /** Its pg-boss queues, created at start-up before anything can enqueue a job. */
  readonly queues?: readonly QueueSpec[];
  /** Its HTTP routes; called only when the process serves HTTP. */
  routes?(http: HttpContext): CapabilityRoutes;
  /** Hooks run in the transaction that applied a batch of the inbox (see `AppliedStage`). */
  readonly onApplied?: readonly StagedHook[];
  /** Starts its job handlers and timers (a worker process, or an inline worker). */
  startWorker?(scope: WorkerScope): Promise<void>;
  /** Stops what `startWorker` started; called after the HTTP server closed, before the job queue stops. */
  stop?(): Promise<void>;
}

/** The shared services every capability may use, built once by the root. */
export interface CapabilityContext {
  config: Config;
  logger: Logger;
  handle: DatabaseHandle;
  db: Kysely<Database>;
  metrics: Metrics;
  cipher: TokenCipher;
  jobs: Jobs;
  graph: GraphClient;
  sender: SendService;
  /** A throwaway runtime (tests): media in a temporary folder, no generated files in DATA_DIR. */
  ephemeral: boolean;
}

/** What the HTTP shell knows when routes are built. */
export interface HttpContext {
  /** The admin token the API accepts (COEX_API_TOKEN, or generated in DATA_DIR), if any. */
  adminToken: string | undefined;
  /** What is not configured and what that disables (logged at start-up, /readyz, console). */
  gaps: ConfigurationGap[];
}

/**
 * Routers in three tiers, mounted tier by tier (every capability's `rawBody`, then every `routes`,
 * then every `fallback`), so an order that matters does not depend on the list in the root:
 * - `rawBody`: routers that read the raw request bytes (signatures): before any body parser.
 * - `routes`: routers that bring their own parser and auth on their own paths (`/api/v1/campaigns`
 *   takes 8 MB bodies, `/api/v1/tenants` 64 KB JSON).
 * - `fallback`: routers that claim a whole prefix (`/api/v1`'s 256 KB JSON parser and bearer auth)
 *   or answer for what nothing else served ("not configured"): after the specific ones.
 * Every router is mounted at the root (`app.use(router)`) and names its full paths.
 */
export interface CapabilityRoutes {
  rawBody?: Router[];
  routes?: Router[];
  fallback?: Router[];
  /**
   * Handlers of the bare node:http request, tried before Express (the webhook POST, which every
   * delivery hits): each answers the requests it takes and returns true, else false and leaves it to
   * the routers.
   */
  direct?: DirectHandler[];
}

export type DirectHandler = (req: IncomingMessage, res: ServerResponse) => boolean;

/**
 * When an applied-batch hook runs, stage by stage (within a stage, in the root's list order):
 * - `consent`: marketing consent signals are recorded first (an opt-out keyword, WhatsApp's own
 *   "Stop promotions"), before anything acts on the batch's messages;
 * - `observe`: logs and metrics of what the batch says (account notices, unknown echo types);
 * - `follow-up`: work queued for the batch (media downloads, CRM archive, the agent's turns).
 */
export type AppliedStage = 'consent' | 'observe' | 'follow-up';
export const APPLIED_STAGES: readonly AppliedStage[] = ['consent', 'observe', 'follow-up'];

export interface StagedHook {
  stage: AppliedStage;
  hook: AfterApplyHook;
}

/** Given to `startWorker`: timers the root clears first on close. */
export interface WorkerScope {
  /** Runs `task` every `ms` without keeping the process alive; a failure is logged as "<what> failed". */
  every(ms: number, what: string, task: () => Promise<unknown>): void;
}

/** The root's order of applied-batch hooks: stage by stage, the capabilities' order within a stage. */
export function hooksInOrder(capabilities: readonly Capability[]): AfterApplyHook[] {
  return APPLIED_STAGES.flatMap((stage) => capabilities.flatMap((c) => (c.onApplied ?? []).filter((h) => h.stage === stage).map((h) => h.hook)));
}

/** The root's order of routers: every `rawBody` router, then every `routes`, then every `fallback`. */
export function routersInOrder(tiers: readonly CapabilityRoutes[]): Router[] {
  return [...tiers.flatMap((t) => t.rawBody ?? []), ...tiers.flatMap((t) => t.routes ?? []), ...tiers.flatMap((t) => t.fallback ?? [])];
}
