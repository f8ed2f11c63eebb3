/**
 * Test stand-ins for the two things between the card and the CoEx database:
 *
 * 1. `startCoexExtApiStub()` — a real HTTP server on 127.0.0.1 (random port) speaking the CoEx
 *    extension API as docs/extension-api.md and core/src/api/extension-routes.ts define it:
 *      GET  /ext/v1/hubspot/thread?phone=…       → { thread | null, messages, sync | null [, templates] }
 *      POST /ext/v1/hubspot/threads/:id/bot      { action: pause|resume|off } → { bot: { state, paused_until } }
 *      POST /ext/v1/hubspot/threads/:id/messages { text } | { template: { name, language } }
 *           → 201 { message: { id, wamid, status, duplicate } }; 409 { error, code: "window_closed" }
 *           for text outside the window; a repeated `client_ref` answers 200 with the first
 *           message (duplicate: true) and sends nothing new.
 *    Modelled: threads keyed by digits-only phone, extra fields the card must ignore
 *    (`phone_number_id`, `media`), bot transitions with a history event (`crm_hubspot_<action>`,
 *    actor = the `userEmail` query parameter HubSpot appends), outbound messages with origin `api`
 *    (a person's reply pauses an active bot, cause `crm_reply`), the window, `{ error, code }`
 *    error bodies (400 invalid_phone, 404 not_found), scripted failures (`failNext`), recording.
 *    `templates` in the thread answer is a proposed extension, not in the server yet.
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
  messages: StubMessage[];
  /** Refuse free text with 409 even though `window.open` says otherwise (a stale card). */
  refuseText?: boolean;
}

export type StubSync = {
  history: { status: string; progress: number };
  contacts: { status: string };
} | null;

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
}

export interface CoexExtApiStub {
  url: string;
  requests: RecordedRequest[];
  /** Threads by digits-only phone. */
  threads: Map<string, StubThread>;
  sync: StubSync;
  /** Served as `templates` when set. */
  templates: { name: string; language: string; label?: string }[] | undefined;
  /** Raw JSON served instead of the real answer to the next GET thread (malformed-response tests). */
  rawThreadResponse: unknown;
  failNext(count: number, status: number, body?: unknown): void;
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

export async function startCoexExtApiStub(initial: { threads?: Record<string, StubThread>; sync?: StubSync } = {}): Promise<CoexExtApiStub> {
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
    templates: undefined,
    rawThreadResponse: undefined,
    failNext(count, status, body = { error: 'scripted failure' }) {
      for (let i = 0; i < count; i++) failures.push({ status, body: JSON.stringify(body), contentType: 'application/json' });
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

    const failure = failures.shift();
    if (failure) {
      res.writeHead(failure.status, { 'content-type': failure.contentType });
      return void res.end(failure.body);
    }
    const actor = url.searchParams.get('userEmail');

    if (req.method === 'GET' && url.pathname === '/ext/v1/hubspot/thread') {
      const phone = url.searchParams.get('phone');
      if (!phone) return send(res, 400, { error: 'invalid request', code: 'invalid_request' });
      if (digits(phone).length < 6) return send(res, 400, { error: `"${phone}" is not a valid phone number`, code: 'invalid_phone' });
      if (stub.rawThreadResponse !== undefined) {
        const rawAnswer = stub.rawThreadResponse;
        stub.rawThreadResponse = undefined;
        return send(res, 200, rawAnswer);
      }
      const t = threads.get(digits(phone));
      return send(res, 200, {
        thread: t ? { id: t.id, contact_name: t.contact_name, wa_id: t.wa_id, phone_number_id: '106540352242922', bot: t.bot, window: t.window } : null,
        messages: t ? t.messages.map((m) => ({ ...m, media: m.type === 'audio' ? { mime_type: 'audio/ogg', state: 'stored', voice: true } : null })) : [],
        sync: stub.sync,
        ...(stub.templates ? { templates: stub.templates } : {}),
      });
    }

    const botMatch = /^\/ext\/v1\/hubspot\/threads\/([^/]+)\/bot$/.exec(url.pathname);
    if (req.method === 'POST' && botMatch) {
      const t = findThread(decodeURIComponent(botMatch[1] ?? ''));
      if (!t) return send(res, 404, NOT_FOUND);
      const action = (body as { action?: unknown } | null)?.action;
      const to = action === 'pause' ? 'paused' : action === 'resume' ? 'active' : action === 'off' ? 'off' : null;
      if (!to) return send(res, 400, { error: 'invalid request', code: 'invalid_request' });
      t.bot.history.unshift({ from: t.bot.state, to, cause: `crm_hubspot_${String(action)}`, actor, at: new Date().toISOString() });
      t.bot.state = to;
      t.bot.paused_until = null;
      return send(res, 200, { bot: { state: t.bot.state, paused_until: t.bot.paused_until } });
    }

    const msgMatch = /^\/ext\/v1\/hubspot\/threads\/([^/]+)\/messages$/.exec(url.pathname);
    if (req.method === 'POST' && msgMatch) {
      const t = findThread(decodeURIComponent(msgMatch[1] ?? ''));
      if (!t) return send(res, 404, NOT_FOUND);
      const b = (body ?? {}) as { text?: unknown; template?: { name?: unknown; language?: unknown }; client_ref?: unknown };
      const clientRef = typeof b.client_ref === 'string' ? b.client_ref : null;
      const earlier = clientRef ? sentByClientRef.get(clientRef) : undefined;
      if (earlier) return send(res, 200, { message: { id: earlier.id, wamid: `wamid.${earlier.id}`, status: 'accepted', duplicate: true } });
      const isText = typeof b.text === 'string';
      const isTemplate = typeof b.template?.name === 'string' && typeof b.template?.language === 'string';
      if (isText === isTemplate) return send(res, 400, { error: 'invalid request', code: 'invalid_request' });
      if (isText && (!t.window.open || t.refuseText)) {
        return send(res, 409, { error: 'the 24-hour customer service window is closed', code: 'window_closed', closed_at: t.window.closes_at });
      }
      const message: StubMessage = {
        id: `stub-${++seq}`,
        direction: 'outbound',
        origin: 'api',
        type: isText ? 'text' : 'template',
        text: isText ? String(b.text) : `[template ${String(b.template?.name)}]`,
        timestamp: new Date().toISOString(),
        status: 'sent',
        transcript: null,
        transcript_state: null,
      };
      t.messages.push(message);
      if (clientRef) sentByClientRef.set(clientRef, message);
      if (t.bot.state === 'active') {
        t.bot.history.unshift({ from: 'active', to: 'paused', cause: 'crm_reply', actor, at: message.timestamp });
        t.bot.state = 'paused';
      }
      return send(res, 201, { message: { id: message.id, wamid: `wamid.${message.id}`, status: 'accepted', duplicate: false } });
    }

    send(res, 404, { error: 'not found' });
  }

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => send(res, 500, { error: String(error) }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  stub.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return stub;
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
