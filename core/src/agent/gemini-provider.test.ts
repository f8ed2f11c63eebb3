import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  blockedCandidateResponse,
  blockedPromptResponse,
  functionCallResponse,
  startGeminiFake,
  textResponse,
  type GeminiFake,
  type RecordedRequest,
} from '../../../test/fakes/gemini.js';
import { AGENT_FUNCTION_DECLARATIONS, AgentProviderError, GeminiAgentProvider } from './gemini-provider.js';
import { buildSystemInstruction } from './prompt.js';
import type { AgentTools, AgentTurnInput } from './provider.js';

let fake: GeminiFake;
beforeAll(async () => {
  fake = await startGeminiFake({ apiKey: 'good-key' });
});
afterAll(async () => {
  await fake.close();
});
afterEach(() => {
  fake.requests.length = 0;
  fake.setDelay(0);
});

const MODEL = 'gemini-2.5-flash';

function provider(opts: Partial<ConstructorParameters<typeof GeminiAgentProvider>[0]> = {}): GeminiAgentProvider {
  return new GeminiAgentProvider({ apiKey: 'good-key', model: MODEL, baseUrl: fake.url, timeoutMs: 10_000, ...opts });
}

const turn: AgentTurnInput = {
  tenantId: 't1',
  threadId: 'th1',
  profile: { name: 'Hanout Zitoun', description: 'Olive oil 1L: 90 MAD. Delivery Casablanca 20 MAD.', instructions: 'Be brief.' },
  history: [
    { role: 'customer', origin: 'customer', text: 'salam', timestamp: '2026-05-01T10:00:00Z' },
    { role: 'business', origin: 'app', text: 'wa3alaykom salam, kifach n3awnek?', timestamp: '2026-05-01T10:01:00Z' },
  ],
  latest: { text: 'fin wslat la commande 1042?', language: 'darija_latin' },
  customer: { name: 'Youssef', phone: '+212612345678' },
};

/** A tiny shop the tools read from, and a log of what the provider asked of it. */
function shopTools(overrides: Partial<AgentTools> = {}) {
  const shop = {
    orders: { '1042': { id: '1042', status: 'shipped', carrier: 'Amana', total: '110 MAD', phone: '+212612345678' } } as Record<string, Record<string, unknown>>,
  };
  const calls: Array<{ tool: string; args: unknown }> = [];
  const tools: AgentTools = {
    async lookupOrder(args) {
      calls.push({ tool: 'lookupOrder', args });
      const order = args.orderId ? shop.orders[args.orderId] : Object.values(shop.orders).find((o) => o.phone === args.phone);
      return order ? { found: true, order } : { found: false };
    },
    async upsertLead(args) {
      calls.push({ tool: 'upsertLead', args });
      return { leadId: 'L-1', created: true };
    },
    ...overrides,
  };
  return { tools, calls, shop };
}

function lastUserParts(req: RecordedRequest | undefined) {
  const contents = req?.body?.contents ?? [];
  return contents[contents.length - 1]?.parts ?? [];
}

describe('GeminiAgentProvider request', () => {
  it('sends the system instruction, the three tools, AUTO mode and the conversation with the API key', async () => {
    fake.enqueue(textResponse('Salam Youssef! 3tini chwiya nchouf l commande.'));
    const decision = await provider().decide(turn, shopTools().tools);

    expect(decision).toEqual({ kind: 'reply', text: 'Salam Youssef! 3tini chwiya nchouf l commande.', toolCalls: [] });
    expect(fake.requests).toHaveLength(1);
    const req = fake.requests[0];
    expect(req?.path).toBe(`/v1beta/models/${MODEL}:generateContent`);
    expect(req?.headers['x-goog-api-key']).toBe('good-key');
    expect(req?.body?.systemInstruction?.parts).toEqual([
      { text: buildSystemInstruction({ profile: turn.profile, language: 'darija_latin', customer: turn.customer }) },
    ]);
    expect(req?.body?.systemInstruction?.parts[0]?.text).toContain('Olive oil 1L: 90 MAD');
    expect(req?.body?.systemInstruction?.parts[0]?.text).toContain('detected as Moroccan Darija in Latin letters');
    expect(req?.body?.tools).toEqual([{ functionDeclarations: AGENT_FUNCTION_DECLARATIONS }]);
    expect(req?.body?.tools?.[0]?.functionDeclarations?.map((d) => d.name)).toEqual(['lookup_order', 'upsert_lead', 'handoff_to_human']);
    expect(req?.body?.toolConfig).toEqual({ functionCallingConfig: { mode: 'AUTO' } });
    expect(req?.body?.contents).toEqual([
      { role: 'user', parts: [{ text: 'salam' }] },
      { role: 'model', parts: [{ text: '[Owner replied from the phone] wa3alaykom salam, kifach n3awnek?' }] },
      { role: 'user', parts: [{ text: 'fin wslat la commande 1042?' }] },
    ]);
  });

  it('is named after its model and refuses bad configuration', () => {
    expect(provider().name).toBe('gemini:gemini-2.5-flash');
    expect(() => provider({ apiKey: '' })).toThrow(/apiKey is required/);
    expect(() => provider({ model: ' ' })).toThrow(/model is required/);
    expect(() => provider({ maxToolRounds: -1 })).toThrow(/maxToolRounds/);
    expect(() => provider({ timeoutMs: 0 })).toThrow(/timeoutMs/);
  });
});

describe('GeminiAgentProvider function calling', () => {
  it('runs lookup_order, sends the functionResponse back and returns the final answer', async () => {
    const { tools, calls } = shopTools();
    fake.enqueue(functionCallResponse([{ name: 'lookup_order', args: { order_id: '1042' }, id: 'call-1' }], { thoughtSignature: 'sig-abc' }), (req) => {
      const response = lastUserParts(req)[0]?.functionResponse?.response as { output?: { order?: { status?: string } } } | undefined;
      return textResponse(`L commande 1042 rah ${response?.output?.order?.status ?? '???'} m3a Amana.`);
    });

    const decision = await provider().decide(turn, tools);

    expect(decision).toEqual({
      kind: 'reply',
      text: 'L commande 1042 rah shipped m3a Amana.',
      toolCalls: [{ name: 'lookup_order', args: { order_id: '1042' } }],
    });
    expect(calls).toEqual([{ tool: 'lookupOrder', args: { orderId: '1042' } }]);
    expect(fake.requests).toHaveLength(2);
    const second = fake.requests[1]?.body?.contents ?? [];
    // Same conversation, then the model's call echoed verbatim (thought signature kept), then our answer.
    expect(second.slice(0, 3)).toEqual(fake.requests[0]?.body?.contents);
    expect(second[3]).toEqual({
      role: 'model',
      parts: [{ functionCall: { name: 'lookup_order', args: { order_id: '1042' }, id: 'call-1' }, thoughtSignature: 'sig-abc' }],
    });
    expect(second[4]).toEqual({
      role: 'user',
      parts: [
        {
          functionResponse: {
            id: 'call-1',
            name: 'lookup_order',
            response: { output: { found: true, order: { id: '1042', status: 'shipped', carrier: 'Amana', total: '110 MAD', phone: '+212612345678' } } },
          },
        },
      ],
    });
  });

  it('hands off when the model calls handoff_to_human, keeping its message for the customer', async () => {
    fake.enqueue(functionCallResponse([{ name: 'handoff_to_human', args: { reason: 'customer wants a refund' } }], { text: 'Ghadi nwasslek b wa7d men l équipe.' }));
    const { tools, calls } = shopTools();
    const decision = await provider().decide(turn, tools);
    expect(decision).toEqual({
      kind: 'handoff',
      reason: 'customer wants a refund',
      text: 'Ghadi nwasslek b wa7d men l équipe.',
      toolCalls: [{ name: 'handoff_to_human', args: { reason: 'customer wants a refund' } }],
    });
    expect(calls).toEqual([]);
    expect(fake.requests).toHaveLength(1);
  });

  it('runs the other tools of the same turn before handing off, and hands off even without a reason', async () => {
    fake.enqueue(
      functionCallResponse([
        { name: 'handoff_to_human', args: {} },
        { name: 'upsert_lead', args: { name: 'Youssef', interest: '5L olive oil', note: 'restaurant' } },
      ]),
    );
    const { tools, calls } = shopTools();
    const decision = await provider().decide(turn, tools);
    expect(decision).toMatchObject({ kind: 'handoff', reason: 'model asked for a human (no reason given)', text: null });
    // The lead gets the customer's WhatsApp number when the model gave none.
    expect(calls).toEqual([{ tool: 'upsertLead', args: { name: 'Youssef', phone: '+212612345678', note: 'restaurant', interest: '5L olive oil' } }]);
  });

  it('answers bad arguments, unknown functions and failing tools with an error the model can read', async () => {
    const { tools, calls } = shopTools({
      async upsertLead() {
        throw new Error('connect ECONNREFUSED https://crm.internal/?token=SECRET');
      },
    });
    fake.enqueue(
      functionCallResponse([
        { name: 'lookup_order', args: {} },
        { name: 'lookup_order', args: { order_id: { nested: true } } },
        { name: 'delete_everything', args: {} },
        { name: 'upsert_lead', args: { name: 'Y' } },
      ]),
      textResponse('Smeh lia, ma9dertch nchouf. Wach bghiti nwasslek b chi wa7ed?'),
    );
    const decision = await provider().decide(turn, tools);

    expect(decision.kind).toBe('reply');
    expect(decision.toolCalls.map((c) => c.name)).toEqual(['lookup_order', 'lookup_order', 'delete_everything', 'upsert_lead']);
    expect(calls.map((c) => c.tool)).toEqual([]);
    const responses = lastUserParts(fake.requests[1]).map((p) => p.functionResponse);
    expect(responses.map((r) => r?.name)).toEqual(['lookup_order', 'lookup_order', 'delete_everything', 'upsert_lead']);
    expect(String(responses[0]?.response.error)).toMatch(/invalid arguments for lookup_order: .*give order_id or phone/s);
    expect(String(responses[1]?.response.error)).toMatch(/invalid arguments for lookup_order/);
    expect(String(responses[2]?.response.error)).toMatch(/unknown function "delete_everything"/);
    expect(String(responses[3]?.response.error)).toMatch(/upsert_lead failed/);
    expect(JSON.stringify(fake.requests[1]?.body)).not.toContain('SECRET');
  });

  it("looks orders up by phone only for the customer's own number", async () => {
    const { tools, calls } = shopTools();
    fake.enqueue(
      functionCallResponse([
        { name: 'lookup_order', args: { phone: '+212 699 999 999' } },
        { name: 'lookup_order', args: { phone: '06 12 34 56 78' } },
      ]),
      textResponse('ok'),
    );
    await provider().decide(turn, tools);
    const responses = lastUserParts(fake.requests[1]).map((p) => p.functionResponse?.response);
    expect(String(responses[0]?.error)).toMatch(/only allowed for the customer's own WhatsApp number/);
    expect(responses[1]).toEqual({ output: { found: true, order: expect.objectContaining({ id: '1042' }) } });
    // The shop is asked with the number the customer writes from, not the model's spelling.
    expect(calls).toEqual([{ tool: 'lookupOrder', args: { phone: '+212612345678' } }]);
  });

  it('stops offering tools after maxToolRounds and hands off if the model still calls them', async () => {
    const looping = functionCallResponse([{ name: 'lookup_order', args: { order_id: '1042' } }]);
    fake.enqueue(looping, looping, looping);
    const decision = await provider({ maxToolRounds: 2 }).decide(turn, shopTools().tools);
    expect(decision).toMatchObject({ kind: 'handoff', reason: 'gemini: still calling tools after 2 rounds' });
    expect(decision.toolCalls).toHaveLength(2);
    expect(fake.requests.map((r) => r.body?.toolConfig?.functionCallingConfig?.mode)).toEqual(['AUTO', 'AUTO', 'NONE']);
  });
});

describe('GeminiAgentProvider empty and blocked answers', () => {
  it.each([
    ['a blocked prompt', blockedPromptResponse('SAFETY'), 'gemini: prompt blocked (SAFETY)'],
    ['a blocked candidate', blockedCandidateResponse('SAFETY'), 'gemini: empty answer (SAFETY)'],
    ['no candidates', { usageMetadata: { promptTokenCount: 3, totalTokenCount: 3 } }, 'gemini: no answer (no candidates)'],
    ['an empty text', textResponse('   ', { finishReason: 'MAX_TOKENS' }), 'gemini: empty answer (MAX_TOKENS)'],
  ])('hands off on %s', async (_label, answer, reason) => {
    fake.enqueue(answer);
    const decision = await provider().decide(turn, shopTools().tools);
    expect(decision).toEqual({ kind: 'handoff', reason, text: null, toolCalls: [] });
  });

  it('removes an origin tag the model copied from the history', async () => {
    fake.enqueue(textResponse('[Owner replied from the phone] Merci!'));
    const decision = await provider().decide(turn, shopTools().tools);
    expect(decision).toMatchObject({ kind: 'reply', text: 'Merci!' });
  });
});

describe('GeminiAgentProvider errors', () => {
  it.each([
    [429, 'rate_limited', /429 RESOURCE_EXHAUSTED/],
    [500, 'unavailable', /500 INTERNAL/],
    [503, 'unavailable', /503 UNAVAILABLE/],
  ] as const)('%i → retryable AgentProviderError', async (status, code, message) => {
    fake.failNext(status, 1);
    const err = await provider()
      .decide(turn, shopTools().tools)
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AgentProviderError);
    expect(err).toMatchObject({ retryable: true, status, code });
    expect((err as Error).message).toMatch(message);
    expect(fake.requests).toHaveLength(1); // no hidden SDK retries: the job queue owns retrying
  });

  it('a wrong API key is not retryable and the key is not in the message', async () => {
    const err = await provider({ apiKey: 'wrong-key-123' })
      .decide(turn, shopTools().tools)
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AgentProviderError);
    expect(err).toMatchObject({ retryable: false, status: 400, code: 'auth' });
    expect((err as Error).message).toMatch(/API key not valid/);
    expect((err as Error).message).not.toContain('wrong-key-123');
  });

  it('403 and unknown 4xx are not retryable', async () => {
    fake.failNext(403, 1);
    await expect(provider().decide(turn, shopTools().tools)).rejects.toMatchObject({ retryable: false, code: 'auth', status: 403 });
    fake.enqueue({ error: { code: 400, message: 'Please use a valid role: user, model.', status: 'INVALID_ARGUMENT' } });
    await expect(provider().decide(turn, shopTools().tools)).rejects.toMatchObject({ retryable: false, code: 'bad_request', status: 400 });
  });

  it('honours the AbortSignal while the request is in flight', async () => {
    fake.setDelay(30_000);
    const controller = new AbortController();
    const pending = provider().decide(turn, shopTools().tools, controller.signal);
    while (fake.requests.length === 0) await new Promise((r) => setTimeout(r, 5));
    controller.abort();
    await expect(pending).rejects.toMatchObject({ name: 'AgentProviderError', code: 'aborted', retryable: false });
  });

  it('does not call Gemini at all with an already aborted signal', async () => {
    await expect(provider().decide(turn, shopTools().tools, AbortSignal.abort())).rejects.toMatchObject({ code: 'aborted' });
    expect(fake.requests).toHaveLength(0);
  });

  it('a request over timeoutMs is a retryable timeout', async () => {
    fake.setDelay(30_000);
    await expect(provider({ timeoutMs: 100 }).decide(turn, shopTools().tools)).rejects.toMatchObject({ code: 'timeout', retryable: true });
  });

  it('an unreachable endpoint is a retryable network error', async () => {
    const gone = await startGeminiFake();
    const url = gone.url;
    await gone.close();
    await expect(provider({ baseUrl: url }).decide(turn, shopTools().tools)).rejects.toMatchObject({ code: 'network', retryable: true });
  });
});
