/**
 * Errors from Meta's Graph API (WhatsApp Cloud API) and what to do about each one.
 *
 * Meta's error body: `{ error: { message, type, code, error_subcode, error_data: { details }, fbtrace_id } }`.
 * Meta recommends branching on `code` and `error_data.details`, never on the message text
 * (coex-spec.md §7). The classifier below covers every code listed there.
 */
import { z } from 'zod';

/** Meta sends numbers, but some proxies stringify them: accept both, keep a number. */
const numericCode = z.union([z.number().int(), z.string().regex(/^-?\d+$/).transform(Number)]);

export const graphErrorBodySchema = z.object({
  error: z.looseObject({
    message: z.string().optional(),
    type: z.string().optional(),
    code: numericCode.optional(),
    error_subcode: numericCode.optional(),
    error_user_title: z.string().optional(),
    error_user_msg: z.string().optional(),
    is_transient: z.boolean().optional(),
    error_data: z
      .union([
        z.looseObject({ details: z.string().optional(), messaging_product: z.string().optional() }),
        // Some non-WhatsApp Graph errors send error_data as a JSON-encoded string.
        z.string(),
      ])
      .optional(),
    fbtrace_id: z.string().optional(),
  }),
});
export type GraphErrorBody = z.infer<typeof graphErrorBodySchema>;

export interface GraphApiErrorInit {
  httpStatus: number;
  code: number | null;
  subcode: number | null;
  type: string | null;
  details: string | null;
  fbtraceId: string | null;
  retryAfterSeconds: number | null;
  isTransient: boolean | null;
  /** Meta's own message, e.g. "(#130429) Rate limit hit". Never contains our token. */
  graphMessage: string;
}

/** A non-2xx answer from the Graph API. `code` is null when the body was not Meta's error shape (a proxy's 502 page). */
export class GraphApiError extends Error {
  override readonly name = 'GraphApiError';
  readonly httpStatus: number;
  readonly code: number | null;
  readonly subcode: number | null;
  readonly type: string | null;
  readonly details: string | null;
  readonly fbtraceId: string | null;
  readonly retryAfterSeconds: number | null;
  readonly isTransient: boolean | null;
  readonly graphMessage: string;

  constructor(init: GraphApiErrorInit) {
    const codePart = init.code === null ? 'no code' : `code ${init.code}${init.subcode === null ? '' : `/${init.subcode}`}`;
    const detailPart = init.details ? ` (${init.details})` : '';
    super(`Graph API error, HTTP ${init.httpStatus}, ${codePart}: ${init.graphMessage}${detailPart}`);
    this.httpStatus = init.httpStatus;
    this.code = init.code;
    this.subcode = init.subcode;
    this.type = init.type;
    this.details = init.details;
    this.fbtraceId = init.fbtraceId;
    this.retryAfterSeconds = init.retryAfterSeconds;
    this.isTransient = init.isTransient;
    this.graphMessage = init.graphMessage;
  }
}

/** The request never got an HTTP answer (DNS, connection reset, timeout). Always worth a retry. */
export class GraphTransportError extends Error {
  override readonly name = 'GraphTransportError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** A 2xx answer whose body does not have the shape Meta documents. Not retried: a retry would get the same. */
export class GraphProtocolError extends Error {
  override readonly name = 'GraphProtocolError';
  constructor(
    message: string,
    readonly httpStatus: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Downloading a media URL (Meta's lookaside host) failed. Not a Graph error body: that host answers plain HTTP. */
export class MediaDownloadError extends Error {
  override readonly name = 'MediaDownloadError';
  constructor(
    message: string,
    readonly kind: 'http' | 'too_large',
    readonly httpStatus: number | null,
  ) {
    super(message);
  }
}

/**
 * Retry-After is either delta-seconds or an HTTP date (RFC 9110 §10.2.3). Returns whole seconds ≥ 0,
 * or null when absent or unreadable.
 */
export function parseRetryAfter(value: string | null | undefined, now: Date = new Date()): number | null {
  if (value === null || value === undefined) return null;
  const trimmed = value.trim();
  if (trimmed === '') return null;
  if (/^\d+$/.test(trimmed)) return Number(trimmed);
  const at = Date.parse(trimmed);
  if (Number.isNaN(at)) return null;
  return Math.max(0, Math.ceil((at - now.getTime()) / 1000));
}

/** Builds a GraphApiError from an HTTP status, the raw body text and the Retry-After header. */
export function parseGraphError(
  httpStatus: number,
  bodyText: string,
  retryAfterHeader: string | null = null,
  now: Date = new Date(),
): GraphApiError {
  const retryAfterSeconds = parseRetryAfter(retryAfterHeader, now);
  let json: unknown;
  try {
    json = JSON.parse(bodyText);
  } catch {
    json = undefined;
  }
  const parsed = graphErrorBodySchema.safeParse(json);
  if (!parsed.success) {
    return new GraphApiError({
      httpStatus,
      code: null,
      subcode: null,
      type: null,
      details: null,
      fbtraceId: null,
      retryAfterSeconds,
      isTransient: null,
      // Keep a short, printable excerpt: enough to debug a proxy page, never a whole HTML document.
      graphMessage: bodyText.trim() === '' ? `empty body` : `unrecognised body: ${bodyText.slice(0, 200)}`,
    });
  }
  const e = parsed.data.error;
  let details: string | null = null;
  if (typeof e.error_data === 'string') details = e.error_data;
  else if (e.error_data?.details !== undefined) details = e.error_data.details;
  return new GraphApiError({
    httpStatus,
    code: e.code ?? null,
    subcode: e.error_subcode ?? null,
    type: e.type ?? null,
    details,
    fbtraceId: e.fbtrace_id ?? null,
    retryAfterSeconds,
    isTransient: e.is_transient ?? null,
    graphMessage: e.message ?? 'no message',
  });
}

// ---------------------------------------------------------------------------------------------
// Classification
// ---------------------------------------------------------------------------------------------

/**
 * - retry: transient (throughput, WABA/app rate limits, Meta-side failures): back off and resend.
 * - retry_pair: too many messages to this one customer (131056): back off for that customer only.
 * - permanent: resending the same request will fail the same way.
 * - token: the access token is invalid or expired (190): refresh it and surface to the admin.
 * - window: the 24-hour customer-service window is closed (131047): send a template instead.
 * - marketing_limit: Meta withheld a marketing message for ecosystem health (131049): not soon.
 * - spam: the number is being rate limited or blocked for spam/policy (131048, 368): stop, surface.
 * - paused: the template is paused (132015): wait until Meta unpauses it, do not hammer.
 */
export type GraphErrorKind =
  | 'retry'
  | 'retry_pair'
  | 'permanent'
  | 'token'
  | 'window'
  | 'marketing_limit'
  | 'spam'
  | 'paused';

export interface GraphErrorClassification {
  kind: GraphErrorKind;
  /** True when an automatic resend of the same request can succeed later. */
  retryable: boolean;
  /**
   * How long to wait before resend number `attempt` (0 = the first retry). Never less than the
   * server's Retry-After. `Number.POSITIVE_INFINITY` for kinds that must not be retried automatically.
   */
  backoffMs(attempt: number): number;
}

export interface ClassifyOptions {
  /** Returns a number in [0, 1). Injectable so tests can pin the jitter. */
  random?: () => number;
  /** From the Retry-After header: a floor for every backoff. */
  retryAfterSeconds?: number | null;
  /** Base of the exponential backoff for `retry` (default 1 000 ms). */
  baseMs?: number;
  /** Ceiling of the exponential backoff for `retry` (default 60 000 ms). */
  capMs?: number;
}

const SECOND = 1000;
const HOUR = 60 * 60 * SECOND;
/** Meta asks to wait before retrying 131049 (per-user marketing limit); a day is what its guidance suggests. */
const MARKETING_LIMIT_BACKOFF_MS = 24 * HOUR;
/** Paused templates stay paused 3 h (first pause) or 6 h (second); wait the shorter and re-check. */
const TEMPLATE_PAUSED_BACKOFF_MS = 3 * HOUR;
/** Pair-rate waits grow as 4^X seconds (coex-spec §7); cap the exponent so the wait stays under ~17 min. */
const PAIR_MAX_EXPONENT = 5;

const RETRY_CODES = new Set([
  130429, // throughput limit reached
  80007, // WABA rate limit
  4, // app-level API call limit
  131000, // something went wrong
  131001, // unknown / generic
  131002, // generic
  131016, // service unavailable
  2, // Graph "service temporarily unavailable"
  // Graph code 1 ("unknown error") is left to the HTTP status: a bad client secret is also code 1, on HTTP 400.
]);

const PERMANENT_CODES = new Set([
  131026, // undeliverable (not on WhatsApp, old app, ToS)
  131050, // user stopped marketing messages: never retry
  131051, // unsupported message type
  131060, // Coexistence first-message / unsupported companion case (not a send-side condition to retry)
  131062, // authentication template to a business-scoped user id (BSUID): Meta needs the phone number
  133010, // phone number not registered
  133016, // register/deregister rate limit: an onboarding call, not a message to resend
  100, // invalid parameter
  131008, // required parameter missing
  131009, // parameter value invalid
  131021, // recipient is the sender
  131052, // media download error (customer's media)
  131053, // media upload error
]);

/** 132000–132016 are template errors (params mismatch, not found, disabled…); 132015 is "paused". */
function isTemplateError(code: number): boolean {
  return code >= 132000 && code <= 132016;
}

export function classifyGraphError(
  code: number | null,
  httpStatus: number,
  options: ClassifyOptions = {},
): GraphErrorClassification {
  const kind = kindFor(code, httpStatus);
  return buildClassification(kind, options);
}

function kindFor(code: number | null, httpStatus: number): GraphErrorKind {
  if (code !== null) {
    if (code === 131056) return 'retry_pair';
    if (code === 131047) return 'window';
    if (code === 131048 || code === 368) return 'spam';
    if (code === 131049) return 'marketing_limit';
    if (code === 132015) return 'paused';
    if (code === 190) return 'token';
    if (RETRY_CODES.has(code)) return 'retry';
    if (PERMANENT_CODES.has(code) || isTemplateError(code)) return 'permanent';
  }
  if (httpStatus >= 500 || httpStatus === 429) return 'retry';
  if (httpStatus === 401) return 'token';
  return 'permanent';
}

function buildClassification(kind: GraphErrorKind, options: ClassifyOptions): GraphErrorClassification {
  const random = options.random ?? Math.random;
  const floorMs = Math.max(0, (options.retryAfterSeconds ?? 0) * SECOND);
  const baseMs = options.baseMs ?? SECOND;
  const capMs = options.capMs ?? 60 * SECOND;
  const attemptOf = (attempt: number): number => {
    if (!Number.isInteger(attempt) || attempt < 0) {
      throw new RangeError(`attempt must be a non-negative integer, got ${attempt}`);
    }
    return attempt;
  };

  switch (kind) {
    case 'retry':
      return {
        kind,
        retryable: true,
        // "Full jitter": uniform in [0, min(cap, base·2^attempt)), so many senders do not retry in lockstep.
        backoffMs: (attempt) => {
          const ceiling = Math.min(capMs, baseMs * 2 ** attemptOf(attempt));
          return Math.max(floorMs, Math.floor(random() * ceiling));
        },
      };
    case 'retry_pair':
      return {
        kind,
        retryable: true,
        // Meta says: retry after 4^X seconds. Never sooner, so jitter is added on top (up to +25 %), not taken off.
        backoffMs: (attempt) => {
          const exponent = Math.min(attemptOf(attempt), PAIR_MAX_EXPONENT);
          const wait = 4 ** exponent * SECOND;
          return Math.max(floorMs, Math.floor(wait + random() * wait * 0.25));
        },
      };
    case 'marketing_limit':
    case 'paused': {
      const wait = kind === 'paused' ? TEMPLATE_PAUSED_BACKOFF_MS : MARKETING_LIMIT_BACKOFF_MS;
      return {
        kind,
        retryable: true,
        backoffMs: (attempt) => {
          attemptOf(attempt);
          return Math.max(floorMs, wait);
        },
      };
    }
    case 'permanent':
    case 'token':
    case 'window':
    case 'spam':
      return {
        kind,
        retryable: false,
        backoffMs: (attempt) => {
          attemptOf(attempt);
          return Number.POSITIVE_INFINITY;
        },
      };
  }
}

/**
 * Classifies anything a GraphClient call can throw. Network failures are `retry`; unknown errors
 * (bugs, bad input) are `permanent` so they surface instead of looping.
 */
export function classifyError(error: unknown, options: Omit<ClassifyOptions, 'retryAfterSeconds'> = {}): GraphErrorClassification {
  if (error instanceof GraphApiError) {
    const withRetryAfter = { ...options, retryAfterSeconds: error.retryAfterSeconds };
    const classified = classifyGraphError(error.code, error.httpStatus, withRetryAfter);
    // Meta's own is_transient flag wins over a generic "permanent" guess for an unlisted code.
    if (classified.kind === 'permanent' && error.isTransient === true) return buildClassification('retry', withRetryAfter);
    return classified;
  }
  if (error instanceof GraphTransportError) return buildClassification('retry', options);
  if (error instanceof MediaDownloadError && error.kind === 'http' && error.httpStatus !== null && error.httpStatus >= 500) {
    return buildClassification('retry', options);
  }
  return buildClassification('permanent', options);
}
