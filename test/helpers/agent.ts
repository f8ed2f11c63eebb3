import { AgentOrchestrator } from '../../core/src/agent/orchestrator.js';
import type { AgentProvider } from '../../core/src/agent/provider.js';
import { createLogger } from '../../core/src/logger.js';
import type { TestServer } from './runtime.js';

/**
 * An agent orchestrator on a test server's database and send path, answering with `model`; its tools
 * answer nothing and its turns are run by the test itself (nothing is enqueued).
 */
export function orchestratorWith(s: TestServer, model: AgentProvider): AgentOrchestrator {
  return new AgentOrchestrator({
    db: s.runtime.db,
    sender: s.runtime.sender,
    logger: createLogger('silent'),
    providerFor: () => model,
    toolsFor: () => ({ lookupOrder: async () => ({}), upsertLead: async () => ({}) }),
    enqueueTurn: async () => undefined,
  });
}
