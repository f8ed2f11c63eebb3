/**
 * Test stand-ins for the two things between the card and the CoEx database:
 *
 * 1. `startCoexExtApiStub()` — a real HTTP server on 127.0.0.1 (random port) speaking the CoEx
 *    extension API as docs/extension-api.md and core/src/api/extension-routes.ts define it:
 *      GET  /ext/v1/hubspot/thread?phone=…       → { thread | null, messages, sync | null }
 *      GET  /ext/v1/hubspot/templates?phone_number_id=… → { templates, stale, fetched_at } (`templates`);
 *           404 not_found for a phone_number_id that is not one of `phoneNumberIds`
 *      GET  /ext/v1/hubspot/campaigns?phone=…&limit=… → { campaigns, opt_out } from `campaigns` by
 *           digits-only phone (none and no opt-out when absent), the first `limit`
 *      POST /ext/v1/hubspot/threads/:id/bot      { action: pause|resume|off } → { bot: { state, paused_until } }
 *      POST /ext/v1/hubspot/threads/:id/messages { text } | { template: { name, language, body_parameters? } }
 *           → 201 { message: { id, wamid, status, duplicate } }; 409 { error, code: "window_closed" }
 *           for text outside the window; 422 invalid_message for a template that is not a sendable
 *           one of `templates` or whose body_parameters do not match its placeholders (an array
 *           for positional, an object with every name for named); a repeated `client_ref`
 *           answers 200 with the first message (duplicate: true) and sends nothing new.
 *    Modelled: threads keyed by digits-only phone, extra fields the card must ignore
 *    (`phone_number_id`, `media`), bot transitions with a history event (`crm_hubspot_<action>`,
 *    actor = the `userEmail` query parameter HubSpot appends), outbound messages with origin `api`
 *    (a person's reply pauses an active bot, cause `crm_reply`), the window, `{ error, code }`
 *    error bodies (400 invalid_phone, 404 not_found), scripted failures (`failNext`, and
 *    `actThenAnswer` for an answer lost after the server acted), recording.
 *    Not modelled: signature v3 verification and portal → tenant mapping (the server's job; the
 *    card never sees them), libphonenumber normalisation (digits only here), Graph API sends,
 *    transcription, history import (tests set sync state directly).
 *
 * 2. `emulateHubSpotFetch()` — what `hubspot.fetch` does around a request, as documented by
 *    HubSpot: only URLs under `permittedUrls.fetch`; the body is an object sent as JSON; timeout
 *    capped at 15 s; `portalId`, `userId`, `userEmail`, `appId` appended as query parameters; one
 *    automatic retry after a connection failure or a 5xx. Not modelled: HTTPS (tests run plain
 *    HTTP on loopback), the v3 signature headers, the 1 MB and 20-concurrent limits.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { CoexFetch, CoexFetchOptions } from '../src/app/cards/lib/requests.js';
import { sampleTemplates } from './fixtures.js';

export interface StubMessage {
  id: string;
  direction: 'inbound' | 'outbound';
  origin: 'customer' | 'app' | 'api' | 'agent' | 'history';
  type: string;
  text: string | null;
  timestamp: string;
  status: string | null;
  transcript: string | null;
  transcript_state: string | null;
}

export interface StubBotEvent {
  from: string | null;
  to: string;
  cause: string | null;
  actor: string | null;
  at: string;
}

export interface StubThread {
  id: string;
  contact_name: string | null;
  wa_id: string;
  bot: { state: 'active' | 'paused' | 'handoff_requested' | 'off'; paused_until: string | null; history: StubBotEvent[] };
  window: { open: boolean; closes_at: string | null };
  /** Who answers the customer (Meta's Conversation Routing); left out of the answer when absent, as an older server does. */
  control?: { holder: string; app_id: string | null; since: string | null };
  messages: StubMessage[];
  /** Refuse free text with 409 even though `window.open` says otherwise (a stale card). */
  refuseText?: boolean;
}

export type StubSync = {
  history: { status: string; progress: number };
  contacts: { status: string };
} | null;

/** GET …/templates as docs/extension-api.md defines it. */
export interface StubTemplate {
  name: string;
  language: string;
  category: string;
  body: string;
  parameters: { format: 'positional' | 'named'; names: string[] };
  sendable: boolean;
  unsendable_reason: string | null;
}
export interface StubTemplatesAnswer {
  templates: StubTemplate[];
  stale: boolean;
  fetched_at: string;
}

/** GET …/campaigns?phone= as docs/extension-api.md defines it. */
export interface StubCampaign {
  id: string;
  name: string;
  status: string;
  template: { name: string; language: string; category: string };
  created_at: string;
  started_at: string | null;
  completed_at: string | null;
  counts: Record<'total' | 'queued' | 'sending' | 'skipped' | 'sent' | 'delivered' | 'read' | 'failed' | 'replied', number>;
  failures: { code: string; count: number; example: string | null }[];
  recipient: { status: string; message_status: string | null; error_code: number | null; error: string | null; sent_at: string | null; replied: boolean } | null;
}
export interface StubCampaignsAnswer {
  campaigns: StubCampaign[];
  opt_out: { source: string; detail: string | null; at: string } | null;
}

/** The business number every stub thread is on. */
export const STUB_PHONE_NUMBER_ID = '106540352242922';

export interface RecordedRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  body: unknown;
}

interface ScriptedFailure {
  status: number;
  body: string;
  contentType: string;
  /** The request is handled (a message sent, a bot toggled) and only its answer is replaced. */
  afterActing: boolean;
  /** Only requests to this path (e.g. "/ext/v1/hubspot/thread"); any request when absent. */
  path: string | undefined;
}

export interface CoexExtApiStub {
  url: string;
  requests: RecordedRequest[];
  /** Threads by digits-only phone. */
  threads: Map<string, StubThread>;
  sync: StubSync;
  /** The answer of GET …/templates. */
  templates: StubTemplatesAnswer;
  /** Business numbers of the tenant: any other phone_number_id is 404. */
  phoneNumberIds: string[];
  /** Answers of GET …/campaigns by digits-only phone. */
  campaigns: Map<string, StubCampaignsAnswer>;
  /** Raw JSON served instead of the real answer to the next GET thread (malformed-response tests). */
  rawThreadResponse: unknown;
  /** The next `count` requests (to `path` when given) are refused with `status` without being handled. */
  failNext(count: number, status: number, body?: unknown, path?: string): void;
  /** The next request (to `path` when given) is handled, but answered with `status` (an answer lost behind a proxy's 502). */
  actThenAnswer(status: number, body?: unknown, path?: string): void;
  close(): Promise<void>;
}

const digits = (s: string): string => s.replace(/\D/g, '');
const NOT_FOUND = { error: 'thread not found', code: 'not_found' } as const;

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function send(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

export async function startCoexExtApiStub(
  initial: { threads?: Record<string, StubThread>; sync?: StubSync; templates?: StubTemplatesAnswer; campaigns?: Record<string, StubCampaignsAnswer> } = {},
): Promise<CoexExtApiStub> {
  const threads = new Map<string, StubThread>(Object.entries(initial.threads ?? {}).map(([phone, t]) => [digits(phone), t]));
  const requests: RecordedRequest[] = [];
  const failures: ScriptedFailure[] = [];
  const sentByClientRef = new Map<string, StubMessage>();
  let seq = 0;

  const stub: CoexExtApiStub = {
    url: '',
    requests,
    threads,
    sync: initial.sync !== undefined ? initial.sync : { history: { status: 'complete', progress: 100 }, contacts: { status: 'receiving' } },
    templates: initial.templates ?? sampleTemplates(),
    phoneNumberIds: [STUB_PHONE_NUMBER_ID],
    campaigns: new Map(Object.entries(initial.campaigns ?? {}).map(([phone, answer]) => [digits(phone), answer])),
    rawThreadResponse: undefined,
    failNext(count, status, body = { error: 'scripted failure' }, path) {
      for (let i = 0; i < count; i++) failures.push({ status, body: JSON.stringify(body), contentType: 'application/json', afterActing: false, path });
    },
    actThenAnswer(status, body = { error: 'scripted failure after acting' }, path) {
      failures.push({ status, body: JSON.stringify(body), contentType: 'application/json', afterActing: true, path });
    },
    close: () => new Promise<void>((resolve, reject) => server.close((e) => (e ? reject(e) : resolve()))),
  };

  const findThread = (id: string): StubThread | undefined => [...threads.values()].find((t) => t.id === id);

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://stub');
    const raw = await readBody(req);
    let body: unknown = null;
    if (raw !== '') {
      try {
        body = JSON.parse(raw);
      } catch {
        return send(res, 400, { error: 'malformed JSON' });
      }
    }
    requests.push({ method: req.method ?? '', path: url.pathname, query: Object.fromEntries(url.searchParams), body });

    const scripted = failures.findIndex((f) => f.path === undefined || f.path === url.pathname);
    const failure = scripted >= 0 ? failures.splice(scripted, 1)[0] : undefined;
    if (failure && !failure.afterActing) {
      res.writeHead(failure.status, { 'content-type': failure.contentType });
      return void res.end(failure.body);
    }
    const reply = (status: number, answer: unknown): void => {
      if (!failure) return send(res, status, answer);
      res.writeHead(failure.status, { 'content-type': failure.contentType });
      res.end(failure.body);
    };
    const actor = url.searchParams.get('userEmail');

    if (req.method === 'GET' && url.pathname === '/ext/v1/hubspot/thread') {
      const phone = url.searchParams.get('phone');
      if (!phone) return reply(400, { error: 'invalid request', code: 'invalid_request' });
      if (digits(phone).length < 6) return reply(400, { error: `"${phone}" is not a valid phone number`, code: 'invalid_phone' });
      if (stub.rawThreadResponse !== undefined) {
        const rawAnswer = stub.rawThreadResponse;
        stub.rawThreadResponse = undefined;
        return reply(200, rawAnswer);
      }
      const t = threads.get(digits(phone));
      return reply(200, {
        thread: t ? { id: t.id, contact_name: t.contact_name, wa_id: t.wa_id, phone_number_id: STUB_PHONE_NUMBER_ID, bot: t.bot, ...(t.control ? { control: t.control } : {}), window: t.window } : null,
        messages: t ? t.messages.map((m) => ({ ...m, media: m.type === 'audio' ? { mime_type: 'audio/ogg', state: 'stored', voice: true } : null })) : [],
        sync: stub.sync,
      });
    }

    if (req.method === 'GET' && url.pathname === '/ext/v1/hubspot/templates') {
      const id = url.searchParams.get('phone_number_id');
      if (id !== null && !stub.phoneNumberIds.includes(id)) return reply(404, { error: 'number not found', code: 'not_found' });
      return reply(200, stub.templates);
    }

    if (req.method === 'GET' && url.pathname === '/ext/v1/hubspot/campaigns') {
      const phone = url.searchParams.get('phone') ?? '';
      if (digits(phone).length < 6) return reply(400, { error: `"${phone}" is not a valid phone number`, code: 'invalid_phone' });
      const limit = Number(url.searchParams.get('limit') ?? '5');
      const answer = stub.campaigns.get(digits(phone)) ?? { campaigns: [], opt_out: null };
      return reply(200, { campaigns: answer.campaigns.slice(0, limit), opt_out: answer.opt_out });
    }

    const botMatch = /^\/ext\/v1\/hubspot\/threads\/([^/]+)\/bot$/.exec(url.pathname);
    if (req.method === 'POST' && botMatch) {
      const t = findThread(decodeURIComponent(botMatch[1] ?? ''));
      if (!t) return reply(404, NOT_FOUND);
      const action = (body as { action?: unknown } | null)?.action;
      const to = action === 'pause' ? 'paused' : action === 'resume' ? 'active' : action === 'off' ? 'off' : null;
      if (!to) return reply(400, { error: 'invalid request', code: 'invalid_request' });
      t.bot.history.unshift({ from: t.bot.state, to, cause: `crm_hubspot_${String(action)}`, actor, at: new Date().toISOString() });
      t.bot.state = to;
      t.bot.paused_until = null;
      return reply(200, { bot: { state: t.bot.state, paused_until: t.bot.paused_until } });
    }

    const msgMatch = /^\/ext\/v1\/hubspot\/threads\/([^/]+)\/messages$/.exec(url.pathname);
    if (req.method === 'POST' && msgMatch) {
      const t = findThread(decodeURIComponent(msgMatch[1] ?? ''));
      if (!t) return reply(404, NOT_FOUND);
      const b = (body ?? {}) as { text?: unknown; template?: { name?: unknown; language?: unknown; body_parameters?: unknown }; client_ref?: unknown };
      const clientRef = typeof b.client_ref === 'string' ? b.client_ref : null;
      const earlier = clientRef ? sentByClientRef.get(clientRef) : undefined;
      if (earlier) return reply(200, { message: { id: earlier.id, wamid: `wamid.${earlier.id}`, status: 'accepted', duplicate: true } });
      const isText = typeof b.text === 'string';
      const isTemplate = typeof b.template?.name === 'string' && typeof b.template?.language === 'string';
      if (isText === isTemplate) return reply(400, { error: 'invalid request', code: 'invalid_request' });
      if (isText && (!t.window.open || t.refuseText)) {
        return reply(409, { error: 'the 24-hour customer service window is closed', code: 'window_closed', closed_at: t.window.closes_at });
      }
      let text = String(b.text);
      if (isTemplate) {
        const rendered = renderTemplate(stub.templates.templates, String(b.template?.name), String(b.template?.language), b.template?.body_parameters);
        if (typeof rendered !== 'string') return reply(422, { error: rendered.refused, code: 'invalid_message' });
        text = rendered;
      }
      const message: StubMessage = {
        id: `stub-${++seq}`,
        direction: 'outbound',
        origin: 'api',
        type: isText ? 'text' : 'template',
        text,
        timestamp: new Date().toISOString(),
        status: 'sent',
        transcript: null,
        transcript_state: null,
      };
      t.messages.push(message);
      if (clientRef) sentByClientRef.set(clientRef, message);
      // As the server does (core/src/store/thread-control.ts): a person's text reply takes the chat back; a template does not.
      if (isText && t.control) t.control = { holder: 'coex', app_id: null, since: message.timestamp };
      if (t.bot.state === 'active') {
        t.bot.history.unshift({ from: 'active', to: 'paused', cause: 'crm_reply', actor, at: message.timestamp });
        t.bot.state = 'paused';
      }
      return reply(201, { message: { id: message.id, wamid: `wamid.${message.id}`, status: 'accepted', duplicate: false } });
    }

    reply(404, { error: 'not found' });
  }

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => send(res, 500, { error: String(error) }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  stub.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return stub;
}

/** The body the customer gets, or why WhatsApp would refuse the template as sent. */
function renderTemplate(templates: readonly StubTemplate[], name: string, language: string, given: unknown): string | { refused: string } {
  const t = templates.find((x) => x.name === name && x.language === language);
  if (!t || !t.sendable) return { refused: `template ${name} (${language}) cannot be sent` };
  const names = t.parameters.names;
  let values: Record<string, string>;
  if (given === undefined) values = {};
  else if (Array.isArray(given) && given.every((v) => typeof v === 'string')) values = Object.fromEntries(given.map((v: string, i) => [names[i] ?? `#${i}`, v]));
  else if (typeof given === 'object' && given !== null && !Array.isArray(given)) values = given as Record<string, string>;
  else return { refused: 'body_parameters must be an array or an object' };
  const expectArray = t.parameters.format === 'positional';
  if (given !== undefined && Array.isArray(given) !== expectArray) return { refused: `template ${name} takes ${expectArray ? 'positional' : 'named'} parameters` };
  const keys = Object.keys(values).sort();
  if (keys.join(',') !== [...names].sort().join(',')) return { refused: `template ${name} needs ${names.length} body parameter(s): ${names.join(', ') || 'none'}` };
  return t.body.replace(/\{\{\s*([A-Za-z0-9_]+)\s*\}\}/g, (_m, n: string) => values[n] ?? '');
}

export interface HubSpotFetchEmulation {
  fetch: CoexFetch;
  /** Every request as it left "HubSpot", retries included. */
  sent: { url: string; method: string; body: string | undefined }[];
}

const HUBSPOT_MAX_TIMEOUT_MS = 15_000;

export function emulateHubSpotFetch(opts: {
  permittedUrls: string[];
  proxy?: { portalId: number; userId: number; userEmail: string; appId: number };
}): HubSpotFetchEmulation {
  const proxy = opts.proxy ?? { portalId: 123, userId: 456, userEmail: 'agent@example.com', appId: 789 };
  const sent: HubSpotFetchEmulation['sent'] = [];
  const fetchOnce = async (url: string, o: CoexFetchOptions): Promise<Response> => {
    const body = o.body === undefined ? undefined : JSON.stringify(o.body);
    sent.push({ url, method: o.method, body });
    return fetch(url, {
      method: o.method,
      ...(body !== undefined ? { body, headers: { 'content-type': 'application/json' } } : {}),
      signal: AbortSignal.timeout(Math.min(o.timeout, HUBSPOT_MAX_TIMEOUT_MS)),
    });
  };
  const hubspotFetch: CoexFetch = async (rawUrl, o) => {
    if (!opts.permittedUrls.some((p) => rawUrl === p || rawUrl.startsWith(p.endsWith('/') ? p : `${p}/`))) {
      throw new Error(`hubspot.fetch: ${rawUrl} is not in permittedUrls.fetch`);
    }
    const url = new URL(rawUrl);
    url.searchParams.set('portalId', String(proxy.portalId));
    url.searchParams.set('userId', String(proxy.userId));
    url.searchParams.set('userEmail', proxy.userEmail);
    url.searchParams.set('appId', String(proxy.appId));
    try {
      const first = await fetchOnce(url.toString(), o);
      if (first.status < 500) return first;
      await first.body?.cancel();
    } catch {
      // HubSpot retries connection failures once, like 5xx answers.
    }
    return fetchOnce(url.toString(), o);
  };
  return { fetch: hubspotFetch, sent };
}
