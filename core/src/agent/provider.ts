/**
 * The agent's provider interface. Gemini (production) and the offline rules-and-FAQ responder
 * implement it; the hand-off state machine and the send path live outside providers, so a provider
 * only decides what to say.
 */

import type { LanguageTag } from '../language/detect.js';

// Defined beside the detector that produces it (core/src/language/); re-exported for providers.
export type { LanguageTag };

export interface ConversationItem {
  role: 'customer' | 'business';
  /** customer | app (owner on the phone) | api | agent | history */
  origin: string;
  text: string;
  timestamp: string;
}

/** What the tenant edits: a profile the agent must stay within. */
export interface BusinessProfile {
  name: string;
  /** Free text: hours, delivery zones, prices, policies. Goes into the system instructions. */
  description: string;
  /** Optional FAQ entries; the offline responder answers only from these. */
  faq?: Array<{ id: string; questions: string[]; answer: Partial<Record<LanguageTag, string>> & { default: string } }>;
  /** Extra instructions the tenant wants the model to follow. */
  instructions?: string;
}

export interface AgentTurnInput {
  tenantId: string;
  threadId: string;
  profile: BusinessProfile;
  /** Oldest first; includes history imports and the owner's own replies from the phone. */
  history: ConversationItem[];
  /** The customer message (or voice-note transcript) being answered. */
  latest: { text: string; language: LanguageTag };
  customer: { name: string | null; phone: string | null };
}

/** Tools the model may call; implemented by core over the connected CRM/shop. */
export interface AgentTools {
  lookupOrder(args: { orderId?: string; phone?: string }): Promise<Record<string, unknown>>;
  upsertLead(args: { name?: string; phone?: string; note?: string; interest?: string }): Promise<Record<string, unknown>>;
}

export type AgentDecision =
  | { kind: 'reply'; text: string; toolCalls: Array<{ name: string; args: Record<string, unknown> }> }
  | { kind: 'handoff'; reason: string; text: string | null; toolCalls: Array<{ name: string; args: Record<string, unknown> }> };

export interface AgentProvider {
  /** Shown to admins and in the CRM cards, e.g. "gemini:gemini-2.5-flash" or "offline-faq". */
  readonly name: string;
  decide(input: AgentTurnInput, tools: AgentTools, signal?: AbortSignal): Promise<AgentDecision>;
}
