/**
 * A local fake of Google's Gemini REST API (generativelanguage.googleapis.com), for running the real
 * `@google/genai` SDK against it: `new GoogleGenAI({ apiKey, httpOptions: { baseUrl: fake.url } })`.
 *
 * Modelled (wire format as Google documents and returns it):
 * - `POST /{v1|v1beta|v1alpha}/models/{model}:generateContent` → one GenerateContentResponse JSON
 *   (`candidates[].content.parts`, `finishReason`, `index`, `usageMetadata`, `modelVersion`, `responseId`).
 * - `POST …:streamGenerateContent?alt=sse` → `text/event-stream`, one `data: {json}\n\n` event per chunk,
 *   the last chunk carrying `finishReason` and `usageMetadata`; without `alt=sse`, a JSON array of chunks.
 * - API key in the `x-goog-api-key` header (or `?key=`): missing → 403 PERMISSION_DENIED, wrong →
 *   400 INVALID_ARGUMENT with the `API_KEY_INVALID` ErrorInfo detail, as Google answers.
 * - Google's error body `{ error: { code, message, status, details? } }` with `application/json`, for
 *   failNext(429 → RESOURCE_EXHAUSTED, 500 → INTERNAL, 503 → UNAVAILABLE, …) and for malformed requests
 *   (bad JSON, empty `contents`, a role other than user/model, a functionResponse turn that does not
 *   follow a functionCall turn), and 404 NOT_FOUND for unknown paths (and unknown models when
 *   `knownModels` is given).
 * - Blocked prompts (`promptFeedback.blockReason`, no candidates) and blocked candidates
 *   (`finishReason: "SAFETY"`, no content) through the helper builders below.
 * - Default answer when nothing is queued: deterministic echo of the last user turn
 *   ("echo: <text>", or "[fake transcript: N bytes of audio/ogg]" for inline audio); in JSON mode
 *   (`responseMimeType: application/json` + `responseJsonSchema`) an object shaped by the schema whose
 *   string fields carry that echo.
 *
 * NOT modelled: any real language understanding, safety classification, token counting (counts are
 * characters / 4), quotas over time (429s happen only when asked with failNext), thought signatures
 * validation, strict turn alternation, the Files API, caching, countTokens/embeddings/live endpoints,
 * Vertex AI paths, OAuth credentials.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { z } from 'zod';

// ---------- request wire format (only what the fake inspects; everything else passes through) ----------

const partSchema = z.looseObject({
  text: z.string().optional(),
  inlineData: z.object({ mimeType: z.string(), data: z.string() }).optional(),
  functionCall: z.looseObject({ name: z.string(), args: z.record(z.string(), z.unknown()).optional(), id: z.string().optional() }).optional(),
  functionResponse: z
    .looseObject({ name: z.string(), response: z.record(z.string(), z.unknown()), id: z.string().optional() })
    .optional(),
  thought: z.boolean().optional(),
  thoughtSignature: z.string().optional(),
});

const contentSchema = z.looseObject({
  role: z.string().optional(),
  parts: z.array(partSchema),
});

const functionDeclarationSchema = z.looseObject({
  name: z.string(),
  description: z.string().optional(),
  parametersJsonSchema: z.unknown().optional(),
  parameters: z.unknown().optional(),
});

export const geminiRequestBodySchema = z.looseObject({
  contents: z.array(contentSchema).optional(),
  systemInstruction: contentSchema.optional(),
  tools: z.array(z.looseObject({ functionDeclarations: z.array(functionDeclarationSchema).optional() })).optional(),
  toolConfig: z
    .looseObject({
      functionCallingConfig: z.looseObject({ mode: z.string().optional(), allowedFunctionNames: z.array(z.string()).optional() }).optional(),
    })
    .optional(),
  generationConfig: z
    .looseObject({
      responseMimeType: z.string().optional(),
      responseJsonSchema: z.unknown().optional(),
      temperature: z.number().optional(),
      maxOutputTokens: z.number().optional(),
    })
    .optional(),
});

export type GeminiRequestBody = z.infer<typeof geminiRequestBodySchema>;
export type GeminiPart = z.infer<typeof partSchema>;
export type GeminiContent = z.infer<typeof contentSchema>;

// ---------- response wire format ----------

export interface GeminiResponsePart {
  text?: string;
  functionCall?: { name: string; args: Record<string, unknown>; id?: string };
  thought?: boolean;
  thoughtSignature?: string;
}

export interface GeminiSafetyRating {
  category: string;
  probability: 'NEGLIGIBLE' | 'LOW' | 'MEDIUM' | 'HIGH';
  blocked?: boolean;
}

export interface GeminiCandidateJson {
  content?: { role: 'model'; parts: GeminiResponsePart[] };
  finishReason?: string;
  index?: number;
  safetyRatings?: GeminiSafetyRating[];
}

/** A GenerateContentResponse as Google serialises it. */
export interface GeminiResponseJson {
  candidates?: GeminiCandidateJson[];
  promptFeedback?: { blockReason: string; safetyRatings?: GeminiSafetyRating[] };
  usageMetadata?: {
    promptTokenCount: number;
    candidatesTokenCount?: number;
    totalTokenCount: number;
    promptTokensDetails?: Array<{ modality: string; tokenCount: number }>;
  };
  modelVersion?: string;
  responseId?: string;
}

/** Google's error envelope; the HTTP status is `error.code`. */
export interface GoogleErrorJson {
  error: { code: number; message: string; status: string; details?: unknown[] };
}

export type FakeAnswer = GeminiResponseJson | GoogleErrorJson;

export interface RecordedRequest {
  /** RPC method from the path: 'generateContent' | 'streamGenerateContent'. */
  method: string;
  /** Model id from the path, without the `models/` prefix. */
  model: string;
  /** API version segment of the path ('v1beta', 'v1', …). */
  apiVersion: string;
  httpMethod: string;
  path: string;
  query: Record<string, string>;
  /** Lower-cased header names. */
  headers: Record<string, string>;
  /** The JSON body parsed with geminiRequestBodySchema; null when it was not valid JSON of that shape. */
  body: GeminiRequestBody | null;
  rawBody: string;
}

export type AnswerFactory = (req: RecordedRequest) => FakeAnswer;

export interface GeminiFake {
  /** Base URL for `httpOptions.baseUrl`, e.g. http://127.0.0.1:40123 */
  url: string;
  /** The key the fake accepts. */
  apiKey: string;
  requests: RecordedRequest[];
  /** Answers, first in first out, for the next generate calls (after failNext is used up). */
  enqueue(...answers: Array<FakeAnswer | AnswerFactory>): void;
  /** Delay every answer by ms (the client may abort meanwhile). */
  setDelay(ms: number): void;
  /** The next `count` calls fail with Google's error body for `status` (queued answers stay queued). */
  failNext(status: number, count?: number): void;
  close(): Promise<void>;
}

export interface GeminiFakeOptions {
  apiKey?: string;
  /** When set, other models answer 404 NOT_FOUND like Google. */
  knownModels?: string[];
}

const DEFAULT_KEY = 'test-gemini-key';

const STATUS_TEXT: Record<number, { status: string; message: string }> = {
  400: { status: 'INVALID_ARGUMENT', message: 'Request contains an invalid argument.' },
  401: { status: 'UNAUTHENTICATED', message: 'Request had invalid authentication credentials.' },
  403: { status: 'PERMISSION_DENIED', message: 'The caller does not have permission' },
  404: { status: 'NOT_FOUND', message: 'Requested entity was not found.' },
  429: { status: 'RESOURCE_EXHAUSTED', message: 'Resource has been exhausted (e.g. check quota).' },
  500: {
    status: 'INTERNAL',
    message: 'An internal error has occurred. Please retry or report in https://developers.generativeai.google/guide/troubleshooting',
  },
  503: { status: 'UNAVAILABLE', message: 'The model is overloaded. Please try again later.' },
  504: { status: 'DEADLINE_EXCEEDED', message: 'Deadline expired before operation could complete.' },
};

/** Google's error body for an HTTP status. */
export function googleError(code: number, message?: string, details?: unknown[]): GoogleErrorJson {
  const known = STATUS_TEXT[code] ?? { status: 'UNKNOWN', message: 'Unknown error.' };
  return { error: { code, message: message ?? known.message, status: known.status, ...(details ? { details } : {}) } };
}

function apiKeyInvalid(): GoogleErrorJson {
  const message = 'API key not valid. Please pass a valid API key.';
  return googleError(400, message, [
    {
      '@type': 'type.googleapis.com/google.rpc.ErrorInfo',
      reason: 'API_KEY_INVALID',
      domain: 'googleapis.com',
      metadata: { service: 'generativelanguage.googleapis.com' },
    },
    { '@type': 'type.googleapis.com/google.rpc.LocalizedMessage', locale: 'en-US', message },
  ]);
}

function tokens(chars: number): number {
  return Math.max(1, Math.ceil(chars / 4));
}

/** A normal text answer. */
export function textResponse(text: string, opts: { model?: string; finishReason?: string } = {}): GeminiResponseJson {
  return {
    candidates: [{ content: { role: 'model', parts: [{ text }] }, finishReason: opts.finishReason ?? 'STOP', index: 0 }],
    usageMetadata: { promptTokenCount: 10, candidatesTokenCount: tokens(text.length), totalTokenCount: 10 + tokens(text.length) },
    modelVersion: opts.model ?? 'gemini-2.5-flash',
    responseId: 'fake-response',
  };
}

/** A turn where the model asks for one or more function calls (optionally with some text first). */
export function functionCallResponse(
  calls: Array<{ name: string; args: Record<string, unknown>; id?: string }>,
  opts: { text?: string; thoughtSignature?: string } = {},
): GeminiResponseJson {
  const parts: GeminiResponsePart[] = [];
  if (opts.text !== undefined) parts.push({ text: opts.text });
  calls.forEach((call, i) => {
    const part: GeminiResponsePart = { functionCall: { ...call } };
    // Gemini 2.5+/3 attach the signature to the first function call part.
    if (i === 0 && opts.thoughtSignature) part.thoughtSignature = opts.thoughtSignature;
    parts.push(part);
  });
  return {
    candidates: [{ content: { role: 'model', parts }, finishReason: 'STOP', index: 0 }],
    usageMetadata: { promptTokenCount: 10, candidatesTokenCount: 5, totalTokenCount: 15 },
    modelVersion: 'gemini-2.5-flash',
    responseId: 'fake-response',
  };
}

/** The prompt itself was blocked: no candidates, only promptFeedback. */
export function blockedPromptResponse(blockReason = 'SAFETY'): GeminiResponseJson {
  return {
    promptFeedback: {
      blockReason,
      safetyRatings: [
        { category: 'HARM_CATEGORY_SEXUALLY_EXPLICIT', probability: 'NEGLIGIBLE' },
        { category: 'HARM_CATEGORY_HATE_SPEECH', probability: 'NEGLIGIBLE' },
        { category: 'HARM_CATEGORY_HARASSMENT', probability: 'HIGH' },
        { category: 'HARM_CATEGORY_DANGEROUS_CONTENT', probability: 'NEGLIGIBLE' },
      ],
    },
    usageMetadata: { promptTokenCount: 10, totalTokenCount: 10 },
    modelVersion: 'gemini-2.5-flash',
    responseId: 'fake-response',
  };
}

/** The candidate was stopped by a safety filter: finishReason set, no content. */
export function blockedCandidateResponse(finishReason = 'SAFETY'): GeminiResponseJson {
  return {
    candidates: [
      {
        finishReason,
        index: 0,
        safetyRatings: [{ category: 'HARM_CATEGORY_HARASSMENT', probability: 'HIGH', blocked: true }],
      },
    ],
    usageMetadata: { promptTokenCount: 10, totalTokenCount: 10 },
    modelVersion: 'gemini-2.5-flash',
    responseId: 'fake-response',
  };
}

function isErrorAnswer(answer: FakeAnswer): answer is GoogleErrorJson {
  return 'error' in answer;
}

// ---------- default (echo) answer ----------

function echoText(body: GeminiRequestBody): string {
  const lastUser = [...(body.contents ?? [])].reverse().find((c) => (c.role ?? 'user') === 'user');
  if (!lastUser) return 'echo: ';
  const audio = lastUser.parts.find((p) => p.inlineData);
  if (audio?.inlineData) {
    const bytes = Buffer.from(audio.inlineData.data, 'base64').length;
    return `[fake transcript: ${bytes} bytes of ${audio.inlineData.mimeType}]`;
  }
  const text = lastUser.parts
    .map((p) => p.text ?? (p.functionResponse ? `functionResponse ${p.functionResponse.name}` : ''))
    .filter((t) => t !== '')
    .join('\n');
  return `echo: ${text}`;
}

/** A value shaped by a (JSON-mode) schema: strings carry the echo, other scalars are zero-ish. */
function instanceOf(schema: unknown, echo: string): unknown {
  if (typeof schema !== 'object' || schema === null) return echo;
  const s = schema as Record<string, unknown>;
  if (Array.isArray(s.enum) && s.enum.length > 0) return s.enum[0];
  const types = Array.isArray(s.type) ? s.type : [s.type];
  const type = types.find((t) => t !== 'null') ?? 'null';
  switch (type) {
    case 'object': {
      const props = (s.properties ?? {}) as Record<string, unknown>;
      return Object.fromEntries(Object.entries(props).map(([k, v]) => [k, instanceOf(v, echo)]));
    }
    case 'array':
      return [];
    case 'number':
    case 'integer':
      return 0;
    case 'boolean':
      return false;
    case 'null':
      return null;
    default:
      return echo;
  }
}

function defaultAnswer(req: RecordedRequest): GeminiResponseJson {
  const body = req.body ?? {};
  const echo = echoText(body);
  const gen = body.generationConfig;
  const text =
    gen?.responseMimeType === 'application/json' ? JSON.stringify(instanceOf(gen.responseJsonSchema ?? { type: 'string' }, echo)) : echo;
  const answer = textResponse(text, { model: req.model });
  const promptChars = JSON.stringify(body.contents ?? []).length;
  answer.usageMetadata = {
    promptTokenCount: tokens(promptChars),
    candidatesTokenCount: tokens(text.length),
    totalTokenCount: tokens(promptChars) + tokens(text.length),
    promptTokensDetails: [{ modality: 'TEXT', tokenCount: tokens(promptChars) }],
  };
  return answer;
}

// ---------- request validation the real API performs ----------

function validate(body: GeminiRequestBody): GoogleErrorJson | null {
  const contents = body.contents ?? [];
  if (contents.length === 0) return googleError(400, '* GenerateContentRequest.contents: contents is not specified\n');
  for (const [i, c] of contents.entries()) {
    if (c.role !== undefined && c.role !== 'user' && c.role !== 'model') {
      return googleError(400, 'Please use a valid role: user, model.');
    }
    if (c.parts.length === 0) return googleError(400, `* GenerateContentRequest.contents[${i}].parts: contents.parts must not be empty.\n`);
    const hasResponse = c.parts.some((p) => p.functionResponse);
    const prev = contents[i - 1];
    if (hasResponse && !(prev?.role === 'model' && prev.parts.some((p) => p.functionCall))) {
      return googleError(
        400,
        'Please ensure that function response turn comes immediately after a function call turn.',
      );
    }
  }
  return null;
}

// ---------- server ----------

const PATH_RE = /^\/(v1|v1beta|v1alpha)\/models\/([^/:]+):(generateContent|streamGenerateContent)$/;

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  if (res.destroyed) return;
  res.writeHead(status, { 'content-type': 'application/json; charset=UTF-8' });
  res.end(JSON.stringify(body));
}

/** Splits an answer's text into a few chunks the way streamGenerateContent delivers it. */
function streamChunks(answer: GeminiResponseJson): GeminiResponseJson[] {
  const candidate = answer.candidates?.[0];
  const parts = candidate?.content?.parts ?? [];
  const onlyText = parts.length === 1 && parts[0]?.text !== undefined && !parts[0].functionCall;
  if (!candidate || !onlyText) return [answer];
  const text = parts[0]?.text ?? '';
  const size = Math.max(1, Math.ceil(text.length / 3));
  const pieces: string[] = [];
  for (let i = 0; i < text.length; i += size) pieces.push(text.slice(i, i + size));
  if (pieces.length === 0) pieces.push('');
  return pieces.map((piece, i) => {
    const last = i === pieces.length - 1;
    const chunk: GeminiResponseJson = {
      candidates: [
        {
          content: { role: 'model', parts: [{ text: piece }] },
          index: 0,
          ...(last && candidate.finishReason ? { finishReason: candidate.finishReason } : {}),
        },
      ],
      modelVersion: answer.modelVersion ?? 'gemini-2.5-flash',
      responseId: answer.responseId ?? 'fake-response',
    };
    if (last && answer.usageMetadata) chunk.usageMetadata = answer.usageMetadata;
    return chunk;
  });
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

export async function startGeminiFake(options: GeminiFakeOptions = {}): Promise<GeminiFake> {
  const apiKey = options.apiKey ?? DEFAULT_KEY;
  const requests: RecordedRequest[] = [];
  const queue: Array<FakeAnswer | AnswerFactory> = [];
  let delayMs = 0;
  let failures: { status: number; remaining: number } | null = null;

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://fake');
    const rawBody = await readBody(req);
    const match = PATH_RE.exec(url.pathname);
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.headers)) if (v !== undefined) headers[k] = Array.isArray(v) ? v.join(', ') : v;

    let body: GeminiRequestBody | null = null;
    let jsonError = false;
    if (rawBody !== '') {
      try {
        const parsed = geminiRequestBodySchema.safeParse(JSON.parse(rawBody));
        body = parsed.success ? parsed.data : null;
      } catch {
        jsonError = true;
      }
    }
    const recorded: RecordedRequest = {
      method: match?.[3] ?? '',
      model: match?.[2] ?? '',
      apiVersion: match?.[1] ?? '',
      httpMethod: req.method ?? '',
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      headers,
      body,
      rawBody,
    };
    requests.push(recorded);

    if (!match) return sendJson(res, 404, googleError(404, `Method not found: ${url.pathname}`));
    if (req.method !== 'POST') return sendJson(res, 404, googleError(404, 'Method not found.'));

    const key = headers['x-goog-api-key'] ?? url.searchParams.get('key');
    if (!key) {
      return sendJson(
        res,
        403,
        googleError(
          403,
          "Method doesn't allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API.",
        ),
      );
    }
    if (key !== apiKey) return sendJson(res, 400, apiKeyInvalid());

    if (jsonError) return sendJson(res, 400, googleError(400, 'Invalid JSON payload received.'));
    if (!body) return sendJson(res, 400, googleError(400, 'Invalid JSON payload received. Unknown name or wrong type.'));
    const model = match[2] ?? '';
    if (options.knownModels && !options.knownModels.includes(model)) {
      return sendJson(res, 404, googleError(404, `models/${model} is not found for API version ${match[1]}, or is not supported for ${match[3]}.`));
    }
    const invalid = validate(body);
    if (invalid) return sendJson(res, 400, invalid);

    if (delayMs > 0) {
      // unref: a pending delay must not keep the test process alive after close().
      await new Promise((r) => setTimeout(r, delayMs).unref());
      if (res.destroyed || req.socket.destroyed) return;
    }

    let answer: FakeAnswer;
    if (failures && failures.remaining > 0) {
      failures.remaining -= 1;
      answer = googleError(failures.status);
    } else {
      const next = queue.shift();
      answer = next === undefined ? defaultAnswer(recorded) : typeof next === 'function' ? next(recorded) : next;
    }

    if (isErrorAnswer(answer)) return sendJson(res, answer.error.code, answer);

    if (match[3] === 'generateContent') return sendJson(res, 200, answer);

    const chunks = streamChunks(answer);
    if (url.searchParams.get('alt') !== 'sse') return sendJson(res, 200, chunks);
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    for (const chunk of chunks) {
      if (res.destroyed) return;
      res.write(`data: ${JSON.stringify(chunk)}\n\n`);
    }
    res.end();
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      sendJson(res, 500, googleError(500, `fake failure: ${err instanceof Error ? err.message : String(err)}`));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    apiKey,
    requests,
    enqueue: (...answers) => {
      queue.push(...answers);
    },
    setDelay: (ms) => {
      delayMs = ms;
    },
    failNext: (status, count = 1) => {
      failures = { status, remaining: count };
    },
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((err) => (err ? reject(err) : resolve()));
      }),
  };
}
