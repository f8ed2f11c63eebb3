import type { z } from 'zod';
import { campaignsResponseSchema, errorBodySchema, templatesResponseSchema, threadResponseSchema, type CampaignsResponse, type TemplatesResponse, type ThreadResponse } from './contract.js';
import { ENGLISH, type BotAction, type CardLanguage } from './thread-logic.js';

/*
 * Requests to the CoEx extension API, independent of how they travel. In HubSpot they go through
 * `hubspot.fetch` (HTTPS only, URL listed in permittedUrls.fetch, JSON object bodies, ≤ 15 s, one
 * automatic retry on 5xx or connection failure); HubSpot signs them (v3) and appends portalId,
 * userId, userEmail and appId, so the card never sends who it is: the server trusts only those.
 */

export interface CoexFetchOptions {
  method: 'GET' | 'POST';
  body?: Record<string, unknown>;
  timeout: number;
}
/** The part of `Response` the client reads. */
export interface CoexFetchResponse {
  ok: boolean;
  status: number;
  json(): Promise<unknown>;
}
/** `hubspot.fetch` fits this type; tests pass an emulation of it. */
export type CoexFetch = (url: string, options: CoexFetchOptions) => Promise<CoexFetchResponse>;

export interface CoexRequest {
  url: string;
  options: CoexFetchOptions;
}

const READ_TIMEOUT_MS = 10_000;
/** HubSpot's ceiling; a send may wait on the Graph API. */
const WRITE_TIMEOUT_MS = 15_000;
/** WhatsApp's limit for a text message body. */
export const MAX_TEXT_LENGTH = 4096;

const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]']);

/**
 * The server's base URL without a trailing slash. HTTPS is required (hubspot.fetch refuses
 * anything else); plain HTTP is accepted for loopback only, for local development and tests.
 */
export function normalizeServerUrl(raw: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new Error(`CoEx server URL is not a valid URL: "${raw}"`);
  }
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && LOOPBACK.has(url.hostname))) {
    throw new Error(`CoEx server URL must use https (hubspot.fetch only calls HTTPS URLs): "${raw}"`);
  }
  if (url.search || url.hash || url.username || url.password) throw new Error(`CoEx server URL must not carry a query, fragment or credentials: "${raw}"`);
  return `${url.origin}${url.pathname.replace(/\/+$/, '')}`;
}

/**
 * The server URL: a config-profile variable `COEX_SERVER_URL` (HubSpot passes profile variables in
 * `context.variables`) wins over the URL compiled into the card, so one build serves staging and
 * production. Either must also be listed in permittedUrls.fetch.
 */
export function resolveServerUrl(variables: Readonly<Record<string, unknown>> | undefined, compiledDefault: string): string {
  const fromProfile = variables?.['COEX_SERVER_URL'];
  return normalizeServerUrl(typeof fromProfile === 'string' && fromProfile.trim() !== '' ? fromProfile.trim() : compiledDefault);
}

export function threadRequest(serverUrl: string, phone: string): CoexRequest {
  if (phone.trim() === '') throw new Error('a phone number is required to look up a thread');
  return {
    url: `${normalizeServerUrl(serverUrl)}/ext/v1/hubspot/thread?phone=${encodeURIComponent(phone)}`,
    options: { method: 'GET', timeout: READ_TIMEOUT_MS },
  };
}

/** Approved templates of the thread's business number (of every number of the tenant without one). */
export function templatesRequest(serverUrl: string, phoneNumberId: string | null): CoexRequest {
  if (phoneNumberId !== null && !/^\d+$/.test(phoneNumberId)) throw new Error(`not a WhatsApp phone number id: "${phoneNumberId}"`);
  const query = phoneNumberId === null ? '' : `?phone_number_id=${phoneNumberId}`;
  return { url: `${normalizeServerUrl(serverUrl)}/ext/v1/hubspot/templates${query}`, options: { method: 'GET', timeout: READ_TIMEOUT_MS } };
}

/** How many campaigns the card shows: it is narrow, and the newest say the most. */
export const CAMPAIGNS_SHOWN = 5;

/** The campaigns that included this phone, newest first, and the customer's marketing opt-out. */
export function campaignsRequest(serverUrl: string, phone: string, limit = CAMPAIGNS_SHOWN): CoexRequest {
  if (phone.trim() === '') throw new Error('a phone number is required to look up campaigns');
  return {
    url: `${normalizeServerUrl(serverUrl)}/ext/v1/hubspot/campaigns?phone=${encodeURIComponent(phone)}&limit=${limit}`,
    options: { method: 'GET', timeout: READ_TIMEOUT_MS },
  };
}

function threadPath(serverUrl: string, threadId: string): string {
  if (threadId === '') throw new Error('a thread id is required');
  return `${normalizeServerUrl(serverUrl)}/ext/v1/hubspot/threads/${encodeURIComponent(threadId)}`;
}

export function botRequest(serverUrl: string, threadId: string, action: BotAction): CoexRequest {
  return { url: `${threadPath(serverUrl, threadId)}/bot`, options: { method: 'POST', body: { action }, timeout: WRITE_TIMEOUT_MS } };
}

/** Positional values in order (`["v1", "v2"]`), or named ones (`{ "first_name": "Youssef" }`). */
export type BodyParameters = readonly string[] | Readonly<Record<string, string>>;

export type Reply = { kind: 'text'; text: string } | { kind: 'template'; name: string; language: string; bodyParameters?: BodyParameters };

const hasParameters = (p: BodyParameters | undefined): p is BodyParameters => p !== undefined && (Array.isArray(p) ? p.length > 0 : Object.keys(p).length > 0);

/**
 * `clientRef` makes the send idempotent on the server: the same reference again answers with the
 * first message instead of sending a second one (see `sendReply` for when the card repeats it).
 */
export function replyRequest(serverUrl: string, threadId: string, reply: Reply, clientRef: string): CoexRequest {
  let body: Record<string, unknown>;
  if (reply.kind === 'text') {
    const text = reply.text.trim();
    if (text === '') throw new Error('the reply is empty');
    if (text.length > MAX_TEXT_LENGTH) throw new Error(`the reply is ${text.length} characters; WhatsApp allows ${MAX_TEXT_LENGTH}`);
    body = { text };
  } else {
    if (reply.name.trim() === '' || reply.language.trim() === '') throw new Error('choose a template');
    const parameters = hasParameters(reply.bodyParameters) ? { body_parameters: Array.isArray(reply.bodyParameters) ? [...reply.bodyParameters] : { ...reply.bodyParameters } } : {};
    body = { template: { name: reply.name, language: reply.language, ...parameters } };
  }
  return { url: `${threadPath(serverUrl, threadId)}/messages`, options: { method: 'POST', body: { ...body, client_ref: clientRef }, timeout: WRITE_TIMEOUT_MS } };
}

export type CoexErrorKind = 'network' | 'http' | 'bad_response';

export class CoexApiError extends Error {
  constructor(
    message: string,
    readonly kind: CoexErrorKind,
    readonly status: number | null,
    readonly code: string | null,
  ) {
    super(message);
    this.name = 'CoexApiError';
  }
}

/** Stable `code`s of the extension API (docs/extension-api.md) → what the person can do about it (catalogue keys). */
const CODE_MESSAGES: Record<string, string> = {
  window_closed: 'card_err_window_closed',
  number_not_connected: 'card_err_number_not_connected',
  recipient_unknown: 'card_err_recipient_unknown',
  invalid_message: 'card_err_invalid_message',
  send_failed: 'card_err_send_failed',
  invalid_phone: 'card_err_invalid_phone',
  unknown_account: 'card_err_unknown_account',
  not_configured: 'card_err_not_configured',
  bad_signature: 'card_err_bad_signature',
  expired: 'card_err_expired',
  // HubSpot's own automatic retry of a request CoEx had already accepted.
  replayed: 'card_err_replayed',
  not_found: 'card_err_not_found',
  no_number: 'card_err_no_number',
  templates_unavailable: 'card_err_templates_unavailable',
};

/** A sentence for the person looking at the card. The server's own words (`error`), when added, stay as it wrote them. */
export function describeError(error: unknown, { t }: CardLanguage = ENGLISH): string {
  if (!(error instanceof CoexApiError)) return error instanceof Error ? error.message : String(error);
  if (error.kind === 'network') return t('card_err_network');
  if (error.kind === 'bad_response') return t('card_err_bad_response');
  // A feature this server was started without (e.g. templates_not_configured).
  if (error.status === 501) return t('card_err_not_offered', { message: error.message });
  const known = error.code ? CODE_MESSAGES[error.code] : undefined;
  if (known) return t(known);
  switch (error.status) {
    case 401:
    case 403:
      return t('card_err_refused_auth');
    case 404:
      return t('card_err_not_found');
    case 429:
      return t('card_err_rate_limited');
    default:
      return error.status !== null && error.status >= 500 ? t('card_err_server', { status: error.status }) : t('card_err_refused', { status: error.status ?? '?', message: error.message });
  }
}

/** For GET …/templates, where a 404 is about the business number, not the conversation. */
export function describeTemplatesError(error: unknown, lang: CardLanguage = ENGLISH): string {
  if (error instanceof CoexApiError && error.kind === 'http' && error.status === 404) return lang.t('card_err_templates_not_found');
  return describeError(error, lang);
}

/** For GET …/campaigns, which has no 404 of its own: one means a server without the route. */
export function describeCampaignsError(error: unknown, lang: CardLanguage = ENGLISH): string {
  if (error instanceof CoexApiError && error.kind === 'http' && error.status === 404) return lang.t('card_err_campaigns_not_found');
  return describeError(error, lang);
}

async function send(fetcher: CoexFetch, req: CoexRequest): Promise<CoexFetchResponse> {
  let res: CoexFetchResponse;
  try {
    res = await fetcher(req.url, req.options);
  } catch (error) {
    throw new CoexApiError(`request failed: ${error instanceof Error ? error.message : String(error)}`, 'network', null, null);
  }
  if (res.ok) return res;
  let body: unknown = null;
  try {
    body = await res.json();
  } catch {
    // Non-JSON error pages (a proxy's 502) carry nothing more than the status.
  }
  const parsed = errorBodySchema.safeParse(body);
  throw new CoexApiError(parsed.success ? parsed.data.error : `HTTP ${res.status}`, 'http', res.status, parsed.success ? (parsed.data.code ?? null) : null);
}

async function parse<T>(res: CoexFetchResponse, schema: z.ZodType<T>, what: string): Promise<T> {
  let json: unknown;
  try {
    json = await res.json();
  } catch {
    throw new CoexApiError('response is not JSON', 'bad_response', res.status, null);
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) {
    const first = parsed.error.issues[0];
    throw new CoexApiError(`unexpected ${what} response${first ? ` at ${first.path.join('.') || '(root)'}: ${first.message}` : ''}`, 'bad_response', res.status, null);
  }
  return parsed.data;
}

/**
 * A 401 `replayed` means CoEx had already accepted this exact signature: hubspot.fetch retried by
 * itself (after a 5xx or a lost connection) with the signature of the first attempt. A new call
 * of hubspot.fetch is signed afresh, so asking again once is safe for reads, and for sends too
 * because they repeat the same client_ref.
 */
const isReplayed = (error: unknown): boolean => error instanceof CoexApiError && error.status === 401 && error.code === 'replayed';

async function sendRetryingOnce(fetcher: CoexFetch, req: CoexRequest, retryWhen: (error: unknown) => boolean): Promise<CoexFetchResponse> {
  try {
    return await send(fetcher, req);
  } catch (error) {
    if (!retryWhen(error)) throw error;
    return send(fetcher, req);
  }
}

function newClientRef(): string {
  const c = (globalThis as { crypto?: { randomUUID?: () => string } }).crypto;
  return c?.randomUUID ? c.randomUUID() : `coex-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 12)}`;
}

export interface CoexClient {
  loadThread(phone: string): Promise<ThreadResponse>;
  loadTemplates(phoneNumberId: string | null): Promise<TemplatesResponse>;
  loadCampaigns(phone: string): Promise<CampaignsResponse>;
  setBot(threadId: string, action: BotAction): Promise<void>;
  sendReply(threadId: string, reply: Reply): Promise<void>;
}

export function createCoexClient(opts: { serverUrl: string; fetch: CoexFetch; clientRef?: () => string }): CoexClient {
  const serverUrl = normalizeServerUrl(opts.serverUrl);
  const clientRef = opts.clientRef ?? newClientRef;
  const read = async <T>(req: CoexRequest, schema: z.ZodType<T>, what: string): Promise<T> => parse(await sendRetryingOnce(opts.fetch, req, isReplayed), schema, what);
  return {
    loadThread: (phone) => read(threadRequest(serverUrl, phone), threadResponseSchema, 'thread'),
    loadTemplates: (phoneNumberId) => read(templatesRequest(serverUrl, phoneNumberId), templatesResponseSchema, 'templates'),
    loadCampaigns: (phone) => read(campaignsRequest(serverUrl, phone), campaignsResponseSchema, 'campaigns'),
    async setBot(threadId, action) {
      await send(opts.fetch, botRequest(serverUrl, threadId, action));
    },
    async sendReply(threadId, reply) {
      // One client_ref for both attempts: if the first reached WhatsApp, the server answers the
      // second with that message (duplicate: true) instead of sending it again. A network failure
      // is retried too (hubspot.fetch already tried twice, but the card cannot tell whether the
      // server acted); an HTTP refusal is not, it would be refused again.
      const req = replyRequest(serverUrl, threadId, reply, clientRef());
      await sendRetryingOnce(opts.fetch, req, (error) => isReplayed(error) || (error instanceof CoexApiError && error.kind === 'network'));
    },
  };
}
