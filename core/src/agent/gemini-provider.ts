/**
 * The production agent: Gemini through the real `@google/genai` SDK, with function calling for order
 * lookup, lead capture and hand-off. It only decides what to say; pausing, sending and the
 * human-activity check live outside providers.
 */
import { ApiError, FunctionCallingConfigMode, GoogleGenAI, type Content, type FunctionDeclaration, type Part } from '@google/genai';
import { samePhone } from '@coex/connectors';
import { z } from 'zod';
import { buildContents, buildSystemInstruction, stripOriginTag } from './prompt.js';
import type { AgentDecision, AgentProvider, AgentTools, AgentTurnInput } from './provider.js';

// ---------- shared Gemini plumbing (the transcriber uses it too) ----------

/**
 * Pinned because @google/genai 3.x defaults to `v1`, while `parametersJsonSchema` and
 * `responseJsonSchema` are documented on the `v1beta` surface.
 */
export const GEMINI_API_VERSION = 'v1beta';

export interface GeminiClientOptions {
  apiKey: string;
  /** Override of https://generativelanguage.googleapis.com (tests point it at a local fake). */
  baseUrl?: string;
}

/** A Gemini API client (never Vertex AI, whatever the environment says); no SDK-level retries. */
export function createGeminiClient({ apiKey, baseUrl }: GeminiClientOptions): GoogleGenAI {
  if (!apiKey || apiKey.trim() === '') throw new Error('Gemini: apiKey is required (set GEMINI_API_KEY)');
  return new GoogleGenAI({
    apiKey,
    vertexai: false,
    apiVersion: GEMINI_API_VERSION,
    httpOptions: { apiVersion: GEMINI_API_VERSION, ...(baseUrl ? { baseUrl } : {}) },
  });
}

const googleErrorBodySchema = z.object({
  error: z.looseObject({
    code: z.number().optional(),
    message: z.string().optional(),
    status: z.string().optional(),
    details: z.array(z.looseObject({ reason: z.string().optional() })).optional(),
  }),
});

export type GeminiFailureCode =
  | 'rate_limited'
  | 'unavailable'
  | 'timeout'
  | 'network'
  | 'auth'
  | 'bad_request'
  | 'not_found'
  | 'aborted'
  | 'bad_response'
  | 'unknown';

export interface GeminiFailure {
  code: GeminiFailureCode;
  retryable: boolean;
  /** HTTP status when Google answered, else null. */
  status: number | null;
  message: string;
}

/**
 * Classifies anything a Gemini call threw. `aborted`/`timedOut` say which of our signals fired, since
 * the SDK surfaces both as the same AbortError.
 */
export function classifyGeminiFailure(err: unknown, ctx: { aborted: boolean; timedOut: boolean }): GeminiFailure {
  if (ctx.aborted) return { code: 'aborted', retryable: false, status: null, message: 'Gemini call aborted by the caller' };
  if (ctx.timedOut) return { code: 'timeout', retryable: true, status: null, message: 'Gemini call timed out' };
  if (err instanceof ApiError) {
    const status = err.status;
    let googleStatus = '';
    let googleMessage = '';
    let reason = '';
    try {
      const body = googleErrorBodySchema.safeParse(JSON.parse(err.message));
      if (body.success) {
        googleStatus = body.data.error.status ?? '';
        googleMessage = body.data.error.message ?? '';
        reason = body.data.error.details?.find((d) => d.reason)?.reason ?? '';
      }
    } catch {
      // Not JSON: keep the bare status.
    }
    const message = `Gemini API ${status}${googleStatus ? ` ${googleStatus}` : ''}${googleMessage ? `: ${googleMessage}` : ''}`;
    if (status === 429) return { code: 'rate_limited', retryable: true, status, message };
    if (status === 408 || status === 504) return { code: 'timeout', retryable: true, status, message };
    if (status >= 500) return { code: 'unavailable', retryable: true, status, message };
    if (status === 401 || status === 403 || reason === 'API_KEY_INVALID') return { code: 'auth', retryable: false, status, message };
    if (status === 404) return { code: 'not_found', retryable: false, status, message };
    return { code: 'bad_request', retryable: false, status, message };
  }
  if (err instanceof Error && (err.name === 'AbortError' || err.name === 'TimeoutError')) {
    return { code: 'timeout', retryable: true, status: null, message: `Gemini call interrupted: ${err.message}` };
  }
  // fetch() rejects with a TypeError for connection failures (refused, reset, DNS).
  if (err instanceof TypeError) return { code: 'network', retryable: true, status: null, message: `Gemini unreachable: ${err.message}` };
  const text = err instanceof Error ? err.message : String(err);
  return { code: 'unknown', retryable: false, status: null, message: `Gemini call failed: ${text}` };
}

/** Runs one SDK call with the caller's signal and a per-call timeout, mapping failures. */
export async function withGeminiDeadline<T>(
  timeoutMs: number,
  signal: AbortSignal | undefined,
  call: (abortSignal: AbortSignal) => Promise<T>,
): Promise<{ ok: true; value: T } | { ok: false; failure: GeminiFailure; cause: unknown }> {
  const timeout = AbortSignal.timeout(timeoutMs);
  const combined = signal ? AbortSignal.any([signal, timeout]) : timeout;
  try {
    return { ok: true, value: await call(combined) };
  } catch (err) {
    return { ok: false, failure: classifyGeminiFailure(err, { aborted: signal?.aborted ?? false, timedOut: timeout.aborted }), cause: err };
  }
}

// ---------- agent ----------

export class AgentProviderError extends Error {
  override readonly name = 'AgentProviderError';
  constructor(
    message: string,
    /** True when the same turn may succeed later (429, 5xx, timeouts, network). */
    readonly retryable: boolean,
    readonly code: GeminiFailureCode,
    readonly status: number | null = null,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

export const AGENT_FUNCTION_DECLARATIONS: FunctionDeclaration[] = [
  {
    name: 'lookup_order',
    description:
      "Look up the customer's order(s) in the shop/CRM. Use the order number when the customer gives one; otherwise the customer's own WhatsApp phone. Returns the order data; never state order details that this did not return.",
    parametersJsonSchema: {
      type: 'object',
      properties: {
        order_id: { type: 'string', description: 'Order number as the customer wrote it, e.g. "1042".' },
        phone: { type: 'string', description: "The customer's own phone number (their WhatsApp number)." },
      },
    },
  },
  {
    name: 'upsert_lead',
    description: 'Create or update a lead in the CRM when the customer shows buying interest or leaves contact details.',
    parametersJsonSchema: {
      type: 'object',
      properties: {
        name: { type: 'string', description: "Customer's name if they gave it." },
        phone: { type: 'string', description: 'Phone number to reach them; defaults to their WhatsApp number.' },
        note: { type: 'string', description: 'Short note for the sales team about what they want.' },
        interest: { type: 'string', description: 'Product or service they are interested in.' },
      },
    },
  },
  {
    name: 'handoff_to_human',
    description:
      'Hand the conversation to a human from the business. Use when the customer asks for a person, complains, needs something you cannot do, or you are unsure.',
    parametersJsonSchema: {
      type: 'object',
      properties: { reason: { type: 'string', description: 'Why a human is needed, in a few words.' } },
      required: ['reason'],
    },
  },
];

/** Strings from the model; numbers are accepted where people write numbers (order ids, phones). */
const looseText = (max: number) =>
  z
    .union([z.string(), z.number()])
    .transform((v) => String(v).trim())
    .pipe(z.string().max(max))
    .optional()
    .transform((v) => (v === '' ? undefined : v));

const lookupOrderArgs = z
  .object({ order_id: looseText(100), phone: looseText(40) })
  .refine((a) => a.order_id !== undefined || a.phone !== undefined, { message: 'give order_id or phone' });

const upsertLeadArgs = z.object({
  name: looseText(200),
  phone: looseText(40),
  note: looseText(2000),
  interest: looseText(500),
});

const handoffArgs = z.object({ reason: z.string().trim().min(1).max(500) });

// What we read from a GenerateContentResponse (unknown fields pass through untouched).
const responsePartSchema = z.looseObject({
  text: z.string().optional(),
  thought: z.boolean().optional(),
  functionCall: z
    .looseObject({ name: z.string().optional(), args: z.record(z.string(), z.unknown()).optional(), id: z.string().optional() })
    .optional(),
});
const generateResponseSchema = z.looseObject({
  candidates: z
    .array(
      z.looseObject({
        content: z.looseObject({ role: z.string().optional(), parts: z.array(responsePartSchema).optional() }).optional(),
        finishReason: z.string().optional(),
      }),
    )
    .optional(),
  promptFeedback: z.looseObject({ blockReason: z.string().optional() }).optional(),
});

export interface GeminiAgentProviderOptions {
  apiKey: string;
  /** e.g. 'gemini-2.5-flash' */
  model: string;
  baseUrl?: string;
  /** Rounds of tool calls before the model must answer in text. */
  maxToolRounds?: number;
  /** Bound on each Gemini request, in ms. */
  timeoutMs?: number;
  /** Characters of conversation history sent (see prompt.ts). */
  maxHistoryChars?: number;
  temperature?: number;
}

type ToolCallRecord = { name: string; args: Record<string, unknown> };

export class GeminiAgentProvider implements AgentProvider {
  readonly name: string;
  private readonly client: GoogleGenAI;
  private readonly model: string;
  private readonly maxToolRounds: number;
  private readonly timeoutMs: number;
  private readonly maxHistoryChars: number | undefined;
  private readonly temperature: number | undefined;

  constructor(opts: GeminiAgentProviderOptions) {
    if (!opts.model || opts.model.trim() === '') throw new Error('GeminiAgentProvider: model is required');
    const maxToolRounds = opts.maxToolRounds ?? 3;
    if (!Number.isInteger(maxToolRounds) || maxToolRounds < 0) throw new RangeError(`maxToolRounds must be an integer ≥ 0, got ${maxToolRounds}`);
    const timeoutMs = opts.timeoutMs ?? 30_000;
    if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) throw new RangeError(`timeoutMs must be > 0, got ${timeoutMs}`);
    this.client = createGeminiClient({ apiKey: opts.apiKey, ...(opts.baseUrl ? { baseUrl: opts.baseUrl } : {}) });
    this.model = opts.model.trim();
    this.name = `gemini:${this.model}`;
    this.maxToolRounds = maxToolRounds;
    this.timeoutMs = timeoutMs;
    this.maxHistoryChars = opts.maxHistoryChars;
    this.temperature = opts.temperature;
  }

  async decide(input: AgentTurnInput, tools: AgentTools, signal?: AbortSignal): Promise<AgentDecision> {
    const systemInstruction = buildSystemInstruction({ profile: input.profile, language: input.latest.language, customer: input.customer });
    const contents: Content[] = buildContents(input.history, input.latest, {
      ...(this.maxHistoryChars !== undefined ? { maxHistoryChars: this.maxHistoryChars } : {}),
    });
    const toolCalls: ToolCallRecord[] = [];

    for (let round = 0; ; round++) {
      this.throwIfAborted(signal);
      // The last allowed request forbids tools so the model has to answer in words.
      const mode = round < this.maxToolRounds ? FunctionCallingConfigMode.AUTO : FunctionCallingConfigMode.NONE;
      const result = await withGeminiDeadline(this.timeoutMs, signal, (abortSignal) =>
        this.client.models.generateContent({
          model: this.model,
          contents,
          config: {
            systemInstruction,
            tools: [{ functionDeclarations: AGENT_FUNCTION_DECLARATIONS }],
            toolConfig: { functionCallingConfig: { mode } },
            ...(this.temperature !== undefined ? { temperature: this.temperature } : {}),
            abortSignal,
          },
        }),
      );
      if (!result.ok) {
        const f = result.failure;
        throw new AgentProviderError(f.message, f.retryable, f.code, f.status, { cause: result.cause });
      }
      const parsed = generateResponseSchema.safeParse(result.value);
      if (!parsed.success) {
        throw new AgentProviderError(`Gemini answered an unexpected shape: ${parsed.error.message}`, false, 'bad_response');
      }
      const response = parsed.data;

      const blockReason = response.promptFeedback?.blockReason;
      if (blockReason) return handoff(`gemini: prompt blocked (${blockReason})`, null, toolCalls);
      const candidate = response.candidates?.[0];
      if (!candidate) return handoff('gemini: no answer (no candidates)', null, toolCalls);

      const parts = (candidate.content?.parts ?? []).filter((p) => p.thought !== true);
      const text = parts
        .map((p) => p.text ?? '')
        .join('')
        .trim();
      const calls = parts.flatMap((p) => (p.functionCall ? [p.functionCall] : []));

      if (calls.length === 0) {
        const reply = stripOriginTag(text);
        if (reply === '') return handoff(`gemini: empty answer (${candidate.finishReason ?? 'no finish reason'})`, null, toolCalls);
        return { kind: 'reply', text: reply, toolCalls };
      }
      if (round >= this.maxToolRounds) return handoff(`gemini: still calling tools after ${this.maxToolRounds} rounds`, null, toolCalls);

      // Echo the model's turn exactly (thought signatures included) as the API requires.
      const modelTurn = result.value.candidates?.[0]?.content;
      contents.push(modelTurn ?? { role: 'model', parts: [] });

      const responses: Part[] = [];
      let handoffReason: string | null = null;
      for (const call of calls) {
        const name = call.name ?? '';
        const args = call.args ?? {};
        toolCalls.push({ name, args });
        if (name === 'handoff_to_human') {
          const a = handoffArgs.safeParse(args);
          // A request for a person is honoured even when the reason is missing.
          handoffReason = a.success ? a.data.reason : 'model asked for a human (no reason given)';
          continue;
        }
        this.throwIfAborted(signal);
        const output = await this.runTool(name, args, input, tools);
        responses.push({ functionResponse: { ...(call.id ? { id: call.id } : {}), name, response: output } });
      }
      if (handoffReason !== null) return handoff(handoffReason, stripOriginTag(text) || null, toolCalls);
      contents.push({ role: 'user', parts: responses });
    }
  }

  /** Runs one tool; every failure becomes an `error` the model can read, never an exception. */
  private async runTool(name: string, args: Record<string, unknown>, input: AgentTurnInput, tools: AgentTools): Promise<Record<string, unknown>> {
    try {
      switch (name) {
        case 'lookup_order': {
          const a = lookupOrderArgs.safeParse(args);
          if (!a.success) return { error: `invalid arguments for lookup_order: ${z.prettifyError(a.error)}` };
          let phone: string | undefined;
          if (a.data.phone !== undefined) {
            // Orders are looked up only for the number the customer is writing from: no other people's orders.
            if (!input.customer.phone || !samePhone(a.data.phone, input.customer.phone)) {
              return { error: "lookup by phone is only allowed for the customer's own WhatsApp number" };
            }
            phone = input.customer.phone;
          }
          const output = await tools.lookupOrder({
            ...(a.data.order_id !== undefined ? { orderId: a.data.order_id } : {}),
            ...(phone !== undefined ? { phone } : {}),
          });
          return { output };
        }
        case 'upsert_lead': {
          const a = upsertLeadArgs.safeParse(args);
          if (!a.success) return { error: `invalid arguments for upsert_lead: ${z.prettifyError(a.error)}` };
          const phone = a.data.phone ?? input.customer.phone ?? undefined;
          const output = await tools.upsertLead({
            ...(a.data.name !== undefined ? { name: a.data.name } : {}),
            ...(phone !== undefined ? { phone } : {}),
            ...(a.data.note !== undefined ? { note: a.data.note } : {}),
            ...(a.data.interest !== undefined ? { interest: a.data.interest } : {}),
          });
          return { output };
        }
        default:
          return { error: `unknown function ${JSON.stringify(name)}; available: lookup_order, upsert_lead, handoff_to_human` };
      }
    } catch {
      // The tool's own message may carry internal URLs or credentials: the model gets a generic one.
      return { error: `${name} failed: the system could not be reached. Do not guess; offer a colleague instead.` };
    }
  }

  private throwIfAborted(signal: AbortSignal | undefined): void {
    if (signal?.aborted) throw new AgentProviderError('Gemini call aborted by the caller', false, 'aborted', null, { cause: signal.reason });
  }
}

function handoff(reason: string, text: string | null, toolCalls: ToolCallRecord[]): AgentDecision {
  return { kind: 'handoff', reason, text, toolCalls };
}
