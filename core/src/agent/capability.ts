import type { Kysely } from 'kysely';
import type { Capability, CapabilityContext } from '../capability.js';
import { NO_SEND_TOKEN_REASON } from '../config-report.js';
import type { Database } from '../db/schema.js';
import type { QueueSpec } from '../jobs.js';
import { resumeExpiredPauses } from '../store/bot.js';
import { GeminiAgentProvider } from './gemini-provider.js';
import { OfflineFaqResponder } from './offline-responder.js';
import { AgentOrchestrator } from './orchestrator.js';
import type { AgentProvider } from './provider.js';
import { agentToolsFor } from './tools.js';

export const AGENT_QUEUE: QueueSpec = { name: 'coex-agent', options: { retryLimit: 3, retryDelay: 5, retryBackoff: true, retryDelayMax: 120, expireInSeconds: 300 } };

/** How often agents paused by a person are looked at for a quiet period that has run out. */
const AUTO_RESUME_MS = 15_000;

export interface Agent extends Capability {
  readonly orchestrator: AgentOrchestrator;
}

/**
 * The agent: a turn per new customer message (COEX_AGENT=on), run as a job; Gemini when
 * GEMINI_API_KEY is set, the offline FAQ responder otherwise. Resumes agents whose human pause ran out.
 */
export function agentCapability(ctx: CapabilityContext): Agent {
  const { config, db, cipher, jobs, logger, sender } = ctx;
  const providers = new Map<string, AgentProvider>();
  const offline = new OfflineFaqResponder();
  const providerFor = (tenantId: string): AgentProvider => {
    if (!config.GEMINI_API_KEY) return offline;
    let p = providers.get(tenantId);
    if (!p) {
      p = new GeminiAgentProvider({ apiKey: config.GEMINI_API_KEY, model: config.GEMINI_MODEL, ...(config.GEMINI_BASE_URL ? { baseUrl: config.GEMINI_BASE_URL } : {}) });
      providers.set(tenantId, p);
    }
    return p;
  };
  const orchestrator = new AgentOrchestrator({
    db,
    sender,
    logger,
    providerFor,
    toolsFor: (tenantId, threadId) => agentToolsFor(db, cipher, tenantId, threadId),
    enqueueTurn: (turnId, o) => jobs.enqueue(AGENT_QUEUE, { turnId }, { ...(o.trx ? { trx: o.trx } : {}), ...(o.startAfterSeconds ? { startAfterSeconds: o.startAfterSeconds } : {}) }),
    settings: { transcriptTimeoutSeconds: config.TRANSCRIPT_TIMEOUT_SECONDS },
  });
  // Runs inside the delivery's transaction: reads through `trx` (what the batch wrote is visible there).
  const canSend = async (trx: Kysely<Database>, phoneNumberId: string): Promise<boolean> => {
    if (config.WHATSAPP_ACCESS_TOKEN) return true;
    const row = await trx.selectFrom('whatsapp_numbers').select('access_token_enc').where('phone_number_id', '=', phoneNumberId).executeTakeFirst();
    return Boolean(row?.access_token_enc);
  };

  return {
    name: 'agent',
    orchestrator,
    queues: [AGENT_QUEUE],
    onApplied:
      config.COEX_AGENT === 'on'
        ? [
            {
              // A 'follow-up': the batch's opt-out keywords were recorded before ('consent' stage).
              stage: 'follow-up',
              hook: async (outcome, trx) => {
                const sendable: typeof outcome.live = [];
                const unsendable: typeof outcome.live = [];
                const numberCanSend = new Map<string, boolean>();
                for (const m of outcome.live) {
                  if (!numberCanSend.has(m.phoneNumberId)) numberCanSend.set(m.phoneNumberId, await canSend(trx, m.phoneNumberId));
                  (numberCanSend.get(m.phoneNumberId) ? sendable : unsendable).push(m);
                }
                await orchestrator.onLiveMessages(sendable, trx);
                await orchestrator.recordNotAnswered(unsendable, NO_SEND_TOKEN_REASON, trx);
              },
            },
          ]
        : [],
    startWorker: async (scope) => {
      await jobs.work<{ turnId: string }>(AGENT_QUEUE, async (data) => {
        const result = await orchestrator.runTurn(data.turnId);
        logger.debug({ turnId: data.turnId, result }, 'agent turn');
      });
      scope.every(AUTO_RESUME_MS, 'auto-resume', () => resumeExpiredPauses(db));
    },
  };
}
