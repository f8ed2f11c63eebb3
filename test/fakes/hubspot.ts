/**
 * A local emulator of the HubSpot API subset CoEx uses, for running the real `@hubspot/api-client`
 * (pointed at it with `basePath`) and our raw-fetch OAuth calls against real HTTP on 127.0.0.1.
 *
 * Modelled (wire format as HubSpot documents it; status codes are exactly the ones the SDK's
 * response processors accept, so any drift makes the real client throw):
 * - Bearer auth on every /crm route: missing/unknown token → 401 `INVALID_AUTHENTICATION`, expired
 *   (OAuth tokens, 30 min by default) → 401 `EXPIRED_AUTHENTICATION`, HubSpot's error JSON
 *   `{ status: "error", message, correlationId, category }`.
 * - `POST /crm/v3/objects/{type}/search`: filterGroups OR-ed, filters inside a group AND-ed;
 *   operators EQ, NEQ, IN, NOT_IN, HAS_PROPERTY, NOT_HAS_PROPERTY, CONTAINS_TOKEN (with `*`
 *   wildcards), NOT_CONTAINS_TOKEN, LT/LTE/GT/GTE/BETWEEN; string matching is case-insensitive;
 *   limits (5 groups, 6 filters per group, 18 in all, 100 values in an IN/NOT_IN filter,
 *   limit ≤ 200) → 400 `VALIDATION_ERROR`;
 *   `after` paging; requested properties come back (null when unset) plus the default set.
 *   Eventual consistency: a record created through the API becomes searchable `searchLagMs` later
 *   (reads by id see it at once, as in HubSpot).
 * - `POST /crm/v3/objects/{type}` (201), `GET` and `PATCH /crm/v3/objects/{type}/{id}` (also by a
 *   unique property with `?idProperty=`; 404 OBJECT_NOT_FOUND; PATCH overwrites the given values,
 *   "" clears one, returns 200 with the record), and
 *   `/batch/create` (201, echoing each input's `objectWriteTraceId`), `/batch/read` (200, 207 with
 *   OBJECT_NOT_FOUND errors), `/batch/upsert` (200) with `idProperty` + `objectWriteTraceId`; more
 *   than 100 inputs → 400.
 * - Unique-value properties: `email` on contacts plus any property created with
 *   `hasUniqueValue: true`; a second record with the same value → 409 `CONFLICT`
 *   ("Contact already exists. Existing ID: …" for contacts). Upsert requires a unique idProperty.
 * - Communications/notes validate property names (built-ins + defined custom properties, else 400
 *   PROPERTY_DOESNT_EXIST), `hs_communication_channel_type` ∈ WHATS_APP/LINKEDIN_MESSAGE/SMS and
 *   `hs_communication_logged_from` = CRM. Deals compute `hs_is_closed` from closedwon/closedlost.
 * - Associations v4: `GET /crm/v4/objects/{type}/{id}/associations/{toType}`,
 *   `POST /crm/v4/associations/{from}/{to}/batch/create` (201), bidirectional, idempotent, with
 *   the HubSpot-defined type ids for the pairs CoEx uses (wrong id for a pair → 400), and
 *   `POST …/batch/read` (≤ 1000 inputs, 500 targets a page with a per-input `after`): records with
 *   no associations come back as 207 errors `OBJECT_NOT_FOUND` / `crm.associations.NO_ASSOCIATIONS_FOUND`.
 * - Properties: `GET/POST /crm/v3/properties/{type}[/{name}]`, `POST …/groups` (409 on duplicates).
 * - OAuth `POST /oauth/2026-03/token` (form body only; credentials in the query → 400),
 *   authorization_code (single use, redirect_uri checked) and refresh_token grants, errors as
 *   `{ status: "BAD_AUTH_CODE" | "BAD_REFRESH_TOKEN" | "BAD_CLIENT_ID" | …, message }`.
 * - Scripted failures with `failNext`: 429 with HubSpot's rate-limit body (`errorType: RATE_LIMIT`,
 *   `policyName`) and optional Retry-After, and 5xx `INTERNAL_ERROR`.
 * - Every request is recorded (method, path, query, headers, parsed body) before it is handled.
 *
 * - Property values: `bool` properties take only "true"/"false", `datetime` an ISO date or epoch ms;
 *   on contacts, CoEx's own `coex_*` properties must have been created first (400
 *   PROPERTY_DOESNT_EXIST), as HubSpot rejects any unknown property.
 *
 * - Conversations custom channels (v3; docs/decisions/hubspot-inbox-channel.md):
 *   `POST /conversations/v3/custom-channels?hapikey=&appId=` (developer API key + app id, not a
 *   bearer token; name and capabilities required), `POST/GET …/{channelId}/channel-accounts[/{id}]`
 *   (inboxId, name, a deliveryIdentifier whose type the channel's capabilities list; HS_PHONE_NUMBER
 *   must be E.164), `POST …/{channelId}/messages` (messageDirection INCOMING/OUTGOING, text, senders
 *   and recipients with `{ type, value }` delivery identifiers, a channelAccountId of this channel,
 *   ISO timestamp; a repeated `integrationIdempotencyId` returns the first message instead of a second
 *   one — HubSpot's exact answer to a repeat is not documented) and `PATCH …/messages/{id}`
 *   (`statusType` SENT/FAILED/READ, `errorMessage`). Published messages are recorded per channel
 *   account and threaded by (channel account, customer number), as `threadingModel:
 *   DELIVERY_IDENTIFIER` does. `agentReply()` plays an agent answering in the inbox: it stores the
 *   OUTGOING message and POSTs `OUTGOING_CHANNEL_MESSAGE_CREATED` to the channel's webhookUrl,
 *   signed v3 with the app's client secret; `redeliver()` sends the same event again (as HubSpot's
 *   webhook retries do), freshly signed.
 *
 * NOT modelled: real rate limiting (429 only when scripted), other property types and validation
 * (any other property name is accepted on contacts and deals), property `options`, pipelines and stage metadata,
 * association labels, sorts and `query` in search, the 10 000-result search cap, archiving/GDPR
 * deletes, CRM webhooks, other custom-channel webhook events (CHANNEL_ACCOUNT_*), attachments and rich text on
 * custom channels, inboxes and actors APIs, HubSpot's own webhook retry schedule, communication preferences (subscriptions), token introspection, exact HubSpot error
 * message wording (categories and shapes match; message texts are approximations).
 */
import { createHmac, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { z } from 'zod';

export interface RecordedRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  headers: IncomingMessage['headers'];
  body: unknown;
  rawBody: string;
}

export interface StoredObject {
  id: string;
  properties: Record<string, string>;
  createdAt: number;
  updatedAt: number;
  /** Epoch ms from which search sees it. */
  searchableAt: number;
}

export interface PropertyDefinition {
  name: string;
  label: string;
  type: string;
  fieldType: string;
  groupName: string;
  hasUniqueValue: boolean;
  description?: string;
}

export interface ScriptedFailure {
  status: number;
  /** How many consecutive matching requests fail. Default 1. */
  times?: number;
  /** Seconds, sent as Retry-After (429/503). */
  retryAfter?: number;
  /** Only requests for which this returns true fail. Default: any request. */
  match?: (req: RecordedRequest) => boolean;
}

export interface FakeHubSpotOptions {
  /** Static bearer tokens accepted forever (private-app style). Default ['test-token']. */
  accessTokens?: string[];
  /** Delay before API-created records become searchable. Default 0. */
  searchLagMs?: number;
  /** Clock for token expiry and search lag. Default Date.now. */
  now?: () => number;
  portalId?: number;
  oauth?: { clientId: string; clientSecret: string; redirectUri: string; accessTokenTtlSeconds?: number };
  /** Developer API key accepted for registering custom channels. Default 'dev-api-key'. */
  developerApiKey?: string;
  /** The app's client secret, which signs custom-channel webhooks (default: oauth.clientSecret). */
  appClientSecret?: string;
}

export interface DeliveryIdentifier {
  type: string;
  value: string;
}

export interface CustomChannel {
  id: string;
  appId: string;
  name: string;
  webhookUrl: string | null;
  capabilities: Record<string, unknown>;
  createdAt: string;
}

export interface ChannelAccount {
  id: string;
  channelId: string;
  inboxId: string;
  name: string;
  authorized: boolean;
  deliveryIdentifier: DeliveryIdentifier | null;
  createdAt: string;
}

export interface ChannelMessage {
  id: string;
  channelId: string;
  channelAccountId: string;
  conversationsThreadId: string;
  direction: 'INCOMING' | 'OUTGOING';
  text: string;
  senders: { name?: string; actorId?: string; deliveryIdentifier?: DeliveryIdentifier }[];
  recipients: { name?: string; actorId?: string; deliveryIdentifier?: DeliveryIdentifier }[];
  integrationIdempotencyId: string | null;
  timestamp: string;
  /** INTEGRATION = published through the API; HUBSPOT = written by an agent in the inbox. */
  clientType: 'INTEGRATION' | 'HUBSPOT';
  status: { statusType: string; errorMessage?: string } | null;
  /** Every PATCH of the status, in order. */
  statusUpdates: { statusType: string; errorMessage?: string }[];
}

const deliveryIdentifierSchema = z.object({ type: z.string().min(1), value: z.string().min(1) });
const partySchema = z.object({ name: z.string().optional(), deliveryIdentifier: deliveryIdentifierSchema, senderActorId: z.string().optional() });
const channelCreateSchema = z.object({
  name: z.string().min(1),
  capabilities: z.record(z.string(), z.unknown()),
  webhookUrl: z.string().url().optional(),
  channelAccountConnectionRedirectUrl: z.string().url().optional(),
  channelDescription: z.string().optional(),
  channelLogoUrl: z.string().url().optional(),
});
const channelAccountCreateSchema = z.object({
  inboxId: z.string().min(1),
  name: z.string().min(1),
  deliveryIdentifier: deliveryIdentifierSchema.optional(),
  authorized: z.boolean(),
});
const publishSchema = z.object({
  text: z.string().min(1),
  richText: z.string().optional(),
  messageDirection: z.enum(['INCOMING', 'OUTGOING']),
  integrationIdempotencyId: z.string().min(1).optional(),
  integrationThreadId: z.string().optional(),
  channelAccountId: z.string().min(1),
  senders: z.array(partySchema).min(1),
  recipients: z.array(partySchema).min(1),
  timestamp: z.string().datetime({ offset: true }),
  inReplyToId: z.string().optional(),
});
const statusUpdateSchema = z.object({ statusType: z.enum(['SENT', 'FAILED', 'READ']), errorMessage: z.string().optional() });

const OBJECT_TYPE_IDS: Record<string, string> = {
  contacts: '0-1',
  companies: '0-2',
  deals: '0-3',
  tickets: '0-5',
  communications: '0-18',
  notes: '0-46',
};

/** HubSpot-defined association type ids, both directions, for the pairs the fake knows. */
const ASSOCIATION_TYPE_IDS: Record<string, number> = {
  'communications->contacts': 81,
  'contacts->communications': 82,
  'communications->tickets': 83,
  'tickets->communications': 84,
  'communications->deals': 85,
  'deals->communications': 86,
  'notes->contacts': 202,
  'contacts->notes': 201,
  'notes->deals': 214,
  'deals->notes': 213,
  'deals->contacts': 3,
  'contacts->deals': 4,
};

const DEFAULT_PROPERTIES: Record<string, string[]> = {
  contacts: ['createdate', 'email', 'firstname', 'hs_object_id', 'lastmodifieddate', 'lastname'],
  deals: ['amount', 'closedate', 'createdate', 'dealname', 'dealstage', 'hs_lastmodifieddate', 'hs_object_id', 'pipeline'],
  communications: ['hs_createdate', 'hs_lastmodifieddate', 'hs_object_id'],
  notes: ['hs_createdate', 'hs_lastmodifieddate', 'hs_object_id'],
};

/** Standard HubSpot properties a search may use even when no stored record has them yet. */
const STANDARD_SEARCH_PROPERTIES: Record<string, string[]> = {
  contacts: ['phone', 'mobilephone', 'hs_whatsapp_phone_number', 'hs_calculated_phone_number', 'hs_searchable_calculated_phone_number', 'hs_searchable_calculated_mobile_number', 'lifecyclestage', 'hs_lead_status', 'city', 'country', 'company', 'hubspot_owner_id', 'associatedcompanyid', 'hs_email_domain'],
  deals: ['hs_is_closed', 'hs_is_closed_won', 'hubspot_owner_id', 'hs_object_id'],
};

/** Built-in properties the fake accepts on engagement objects (anything else must be defined). */
const ENGAGEMENT_BUILTINS: Record<string, Set<string>> = {
  communications: new Set([
    'hs_communication_channel_type',
    'hs_communication_logged_from',
    'hs_communication_body',
    'hs_timestamp',
    'hubspot_owner_id',
  ]),
  notes: new Set(['hs_note_body', 'hs_timestamp', 'hubspot_owner_id', 'hs_attachment_ids']),
};

const LIMITS = { groups: 5, perGroup: 6, total: 18, inValues: 100, searchPage: 200, batch: 100, associationRead: 1000, associationPage: 500 };

// Strict like HubSpot's deserializer: an unknown key (filter_groups, property_name…) is a 400, not ignored.
const filterSchema = z.strictObject({
  propertyName: z.string().min(1),
  operator: z.string(),
  value: z.union([z.string(), z.number(), z.boolean()]).optional(),
  values: z.array(z.union([z.string(), z.number()])).optional(),
  highValue: z.union([z.string(), z.number()]).optional(),
});
const searchBodySchema = z.strictObject({
  filterGroups: z.array(z.strictObject({ filters: z.array(filterSchema) })).optional(),
  properties: z.array(z.string()).optional(),
  limit: z.number().int().optional(),
  after: z.union([z.string(), z.number()]).optional(),
  sorts: z.array(z.unknown()).optional(),
  query: z.string().optional(),
});
const propertiesSchema = z.record(z.string(), z.union([z.string(), z.number(), z.boolean(), z.null()]));
const associationInput = z.object({
  to: z.object({ id: z.union([z.string(), z.number()]) }),
  types: z.array(z.object({ associationCategory: z.string(), associationTypeId: z.number().int() })),
});
const createBodySchema = z.object({
  properties: propertiesSchema,
  associations: z.array(associationInput).optional(),
  objectWriteTraceId: z.string().optional(),
});
const batchCreateSchema = z.object({ inputs: z.array(createBodySchema) });
const batchUpsertSchema = z.object({
  inputs: z.array(
    z.object({
      id: z.string().min(1),
      idProperty: z.string().optional(),
      objectWriteTraceId: z.string().optional(),
      properties: propertiesSchema,
    }),
  ),
});
const batchReadSchema = z.object({
  inputs: z.array(z.object({ id: z.union([z.string(), z.number()]) })),
  properties: z.array(z.string()).optional(),
  propertiesWithHistory: z.array(z.string()).optional(),
  idProperty: z.string().optional(),
});
const assocBatchCreateSchema = z.object({
  inputs: z.array(
    z.object({
      from: z.object({ id: z.union([z.string(), z.number()]) }),
      to: z.object({ id: z.union([z.string(), z.number()]) }),
      types: z.array(z.object({ associationCategory: z.string(), associationTypeId: z.number().int() })).min(1),
    }),
  ),
});
const assocBatchReadSchema = z.object({
  inputs: z.array(z.object({ id: z.union([z.string(), z.number()]), after: z.string().optional() })),
});
const propertyCreateSchema = z.object({
  name: z.string().regex(/^[a-z][a-z0-9_]*$/),
  label: z.string().min(1),
  type: z.string(),
  fieldType: z.string(),
  groupName: z.string().min(1),
  hasUniqueValue: z.boolean().optional(),
  description: z.string().optional(),
});
const groupCreateSchema = z.object({ name: z.string().min(1), label: z.string().min(1), displayOrder: z.number().optional() });

class HttpError extends Error {
  readonly status: number;
  readonly body: Record<string, unknown>;
  readonly headers: Record<string, string>;
  constructor(status: number, body: Record<string, unknown>, headers: Record<string, string> = {}) {
    super(typeof body.message === 'string' ? body.message : `HTTP ${status}`);
    this.status = status;
    this.body = body;
    this.headers = headers;
  }
}

function hubspotError(status: number, category: string, message: string, extra: Record<string, unknown> = {}): HttpError {
  return new HttpError(status, { status: 'error', message, correlationId: randomUUID(), category, ...extra });
}

export class FakeHubSpot {
  readonly requests: RecordedRequest[] = [];
  url = '';
  searchLagMs: number;
  readonly portalId: number;
  private server: Server | null = null;
  private readonly now: () => number;
  private nextId = 10_001;
  private readonly objects = new Map<string, Map<string, StoredObject>>();
  /** `${fromType}:${fromId}->${toType}` → toId → type ids. */
  private readonly links = new Map<string, Map<string, Set<number>>>();
  private readonly properties = new Map<string, Map<string, PropertyDefinition>>();
  private readonly groups = new Map<string, Set<string>>();
  private readonly staticTokens: Set<string>;
  private readonly oauthTokens = new Map<string, { expiresAt: number }>();
  private readonly authCodes = new Set<string>();
  private readonly refreshTokens = new Set<string>();
  private failures: (ScriptedFailure & { left: number })[] = [];

  private readonly options: FakeHubSpotOptions;
  private readonly channels = new Map<string, CustomChannel>();
  private readonly channelAccounts = new Map<string, ChannelAccount>();
  private readonly channelMessages: ChannelMessage[] = [];

  private constructor(options: FakeHubSpotOptions) {
    this.options = options;
    this.now = options.now ?? Date.now;
    this.searchLagMs = options.searchLagMs ?? 0;
    this.portalId = options.portalId ?? 4_242_424;
    this.staticTokens = new Set(options.accessTokens ?? ['test-token']);
    for (const type of Object.keys(OBJECT_TYPE_IDS)) {
      this.objects.set(type, new Map());
      this.properties.set(type, new Map());
      this.groups.set(type, new Set([`${type.replace(/s$/, '')}information`]));
    }
    this.properties.get('contacts')!.set('email', {
      name: 'email',
      label: 'Email',
      type: 'string',
      fieldType: 'text',
      groupName: 'contactinformation',
      hasUniqueValue: true,
    });
  }

  static async start(options: FakeHubSpotOptions = {}): Promise<FakeHubSpot> {
    const fake = new FakeHubSpot(options);
    fake.server = createServer((req, res) => void fake.handle(req, res));
    await new Promise<void>((resolve) => fake.server!.listen(0, '127.0.0.1', resolve));
    fake.url = `http://127.0.0.1:${(fake.server.address() as AddressInfo).port}`;
    return fake;
  }

  async close(): Promise<void> {
    if (!this.server) return;
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server!.close(() => resolve()));
    this.server = null;
  }

  // ── test helpers ───────────────────────────────────────────────────────────────────────

  /** The next matching requests fail with `status` (429 → rate-limit body, 5xx → INTERNAL_ERROR). */
  failNext(failure: ScriptedFailure): void {
    this.failures.push({ ...failure, left: failure.times ?? 1 });
  }

  /** Drops the scripted failures not used up yet. */
  clearFailures(): void {
    this.failures = [];
  }

  /** Seeds a record directly (searchable at once unless `searchable: false`). */
  seed(type: string, properties: Record<string, string>, opts: { searchable?: boolean; createdAt?: number } = {}): string {
    const now = this.now();
    const obj = this.insert(type, properties, now);
    if (opts.createdAt !== undefined) obj.createdAt = opts.createdAt;
    obj.searchableAt = opts.searchable === false ? Number.POSITIVE_INFINITY : now;
    this.refreshComputed(type, obj);
    return obj.id;
  }

  /** Links two records with the default HubSpot-defined type (both directions). */
  link(fromType: string, fromId: string, toType: string, toId: string): void {
    const typeId = ASSOCIATION_TYPE_IDS[`${fromType}->${toType}`];
    if (typeId === undefined) throw new Error(`no association type for ${fromType}->${toType}`);
    this.addLink(fromType, fromId, toType, toId, typeId);
  }

  /** Deletes a record and its associations (as an admin deleting or merging it away would). */
  remove(type: string, id: string): void {
    this.objects.get(type)?.delete(id);
    for (const [key, targets] of this.links) {
      if (key.startsWith(`${type}:${id}->`)) this.links.delete(key);
      else if (key.endsWith(`->${type}`)) targets.delete(id);
    }
  }

  list(type: string): StoredObject[] {
    return [...(this.objects.get(type)?.values() ?? [])];
  }

  get(type: string, id: string): StoredObject | undefined {
    return this.objects.get(type)?.get(id);
  }

  /** Ids of `toType` records associated to the record, with their type ids. */
  associationsOf(fromType: string, fromId: string, toType: string): { toId: string; typeIds: number[] }[] {
    const m = this.links.get(`${fromType}:${fromId}->${toType}`);
    return [...(m?.entries() ?? [])].map(([toId, types]) => ({ toId, typeIds: [...types].sort((a, b) => a - b) }));
  }

  property(type: string, name: string): PropertyDefinition | undefined {
    return this.properties.get(type)?.get(name);
  }

  /** Defines a custom property directly (as if installed earlier). */
  defineProperty(type: string, def: Omit<PropertyDefinition, 'label' | 'type' | 'fieldType' | 'groupName'> & Partial<PropertyDefinition>): void {
    this.properties.get(type)!.set(def.name, {
      label: def.name,
      type: 'string',
      fieldType: 'text',
      groupName: `${type.replace(/s$/, '')}information`,
      ...def,
    });
  }

  /** Requests to the CRM API (not OAuth), e.g. to compare with a connector's apiCalls. */
  apiRequests(): RecordedRequest[] {
    return this.requests.filter((r) => r.path.startsWith('/crm/'));
  }

  /** Mints an authorization code as HubSpot would put it in the install redirect. */
  issueAuthCode(): string {
    const code = `code-${randomUUID()}`;
    this.authCodes.add(code);
    return code;
  }

  // ── HTTP plumbing ──────────────────────────────────────────────────────────────────────

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const rawBody = Buffer.concat(chunks).toString('utf8');
    const url = new URL(req.url ?? '/', 'http://fake');
    const contentType = String(req.headers['content-type'] ?? '');
    let body: unknown = undefined;
    if (rawBody !== '') {
      if (contentType.includes('application/x-www-form-urlencoded')) body = Object.fromEntries(new URLSearchParams(rawBody));
      else {
        try {
          body = JSON.parse(rawBody);
        } catch {
          body = rawBody;
        }
      }
    }
    const recorded: RecordedRequest = {
      method: req.method ?? 'GET',
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      headers: req.headers,
      body,
      rawBody,
    };
    this.requests.push(recorded);
    try {
      // HubSpot's CRM and Conversations APIs read JSON only: another media type is a 415 before anything else.
      if (rawBody !== '' && /^\/(crm|conversations)\//.test(url.pathname) && !/^application\/json\b/i.test(contentType)) {
        throw hubspotError(415, 'VALIDATION_ERROR', `HTTP 415 Unsupported Media Type: expected application/json, got ${contentType || 'no Content-Type'}`);
      }
      this.maybeFail(recorded);
      const { status, payload } = this.route(recorded);
      send(res, status, payload);
    } catch (err) {
      if (err instanceof HttpError) send(res, err.status, err.body, err.headers);
      else send(res, 500, { status: 'error', message: String(err), correlationId: randomUUID(), category: 'INTERNAL_ERROR' });
    }
  }

  private maybeFail(req: RecordedRequest): void {
    const i = this.failures.findIndex((f) => !f.match || f.match(req));
    if (i === -1) return;
    const f = this.failures[i]!;
    f.left--;
    if (f.left <= 0) this.failures.splice(i, 1);
    const headers: Record<string, string> = f.retryAfter !== undefined ? { 'retry-after': String(f.retryAfter) } : {};
    if (f.status === 429) {
      throw new HttpError(
        429,
        {
          status: 'error',
          message: 'You have reached your secondly limit.',
          errorType: 'RATE_LIMIT',
          correlationId: randomUUID(),
          policyName: 'SECONDLY',
          groupName: `publicapi:oauth:${this.portalId}:secondly`,
        },
        { ...headers, 'x-hubspot-ratelimit-secondly': '10', 'x-hubspot-ratelimit-secondly-remaining': '0' },
      );
    }
    throw new HttpError(f.status, { status: 'error', message: 'internal error', correlationId: randomUUID(), category: 'INTERNAL_ERROR' }, headers);
  }

  private route(req: RecordedRequest): { status: number; payload: unknown } {
    const { method, path } = req;
    if (path === '/oauth/2026-03/token' && method === 'POST') return { status: 200, payload: this.token(req) };
    if (path.startsWith('/conversations/v3/custom-channels')) return this.customChannelRoute(req);
    if (!path.startsWith('/crm/')) throw hubspotError(404, 'OBJECT_NOT_FOUND', `no route ${method} ${path}`);
    this.authenticate(req);

    let m: RegExpMatchArray | null;
    if ((m = path.match(/^\/crm\/v3\/objects\/([a-z_0-9-]+)\/search$/)) && method === 'POST') {
      return { status: 200, payload: this.search(this.type(m[1]!), req.body) };
    }
    if ((m = path.match(/^\/crm\/v3\/objects\/([a-z_0-9-]+)\/batch\/(create|read|upsert)$/)) && method === 'POST') {
      const type = this.type(m[1]!);
      if (m[2] === 'create') return { status: 201, payload: this.batchCreate(type, req.body) };
      if (m[2] === 'upsert') return { status: 200, payload: this.batchUpsert(type, req.body) };
      return this.batchRead(type, req.body);
    }
    if ((m = path.match(/^\/crm\/v3\/objects\/([a-z_0-9-]+)$/)) && method === 'POST') {
      const type = this.type(m[1]!);
      const input = parseBody(createBodySchema, req.body);
      return { status: 201, payload: this.view(type, this.createOne(type, input.properties, input.associations ?? [])) };
    }
    if ((m = path.match(/^\/crm\/v3\/objects\/([a-z_0-9-]+)\/([^/]+)$/)) && (method === 'GET' || method === 'PATCH')) {
      const type = this.type(m[1]!);
      const obj = this.findByIdOrUnique(type, decodeURIComponent(m[2]!), req.query.idProperty);
      if (method === 'PATCH') return { status: 200, payload: this.updateOne(type, obj, req.body) };
      return { status: 200, payload: this.view(type, obj, (req.query.properties ?? '').split(',').filter(Boolean)) };
    }
    if ((m = path.match(/^\/crm\/v4\/objects\/([a-z_0-9-]+)\/(\d+)\/associations\/([a-z_0-9-]+)$/)) && method === 'GET') {
      return { status: 200, payload: this.readAssociations(this.type(m[1]!), m[2]!, this.type(m[3]!), req.query) };
    }
    if ((m = path.match(/^\/crm\/v4\/associations\/([a-z_0-9-]+)\/([a-z_0-9-]+)\/batch\/create$/)) && method === 'POST') {
      return { status: 201, payload: this.createAssociations(this.type(m[1]!), this.type(m[2]!), req.body) };
    }
    if ((m = path.match(/^\/crm\/v4\/associations\/([a-z_0-9-]+)\/([a-z_0-9-]+)\/batch\/read$/)) && method === 'POST') {
      return this.batchReadAssociations(this.type(m[1]!), this.type(m[2]!), req.body);
    }
    if ((m = path.match(/^\/crm\/v3\/properties\/([a-z_0-9-]+)\/groups$/)) && method === 'POST') {
      return { status: 201, payload: this.createGroup(this.type(m[1]!), req.body) };
    }
    if ((m = path.match(/^\/crm\/v3\/properties\/([a-z_0-9-]+)\/([a-z0-9_]+)$/)) && method === 'GET') {
      const def = this.properties.get(this.type(m[1]!))!.get(m[2]!);
      if (!def) throw hubspotError(404, 'OBJECT_NOT_FOUND', `Unable to find property ${m[2]} for object type ${m[1]}`);
      return { status: 200, payload: propertyView(def) };
    }
    if ((m = path.match(/^\/crm\/v3\/properties\/([a-z_0-9-]+)$/)) && method === 'POST') {
      return { status: 201, payload: this.createProperty(this.type(m[1]!), req.body) };
    }
    throw hubspotError(404, 'OBJECT_NOT_FOUND', `no route ${method} ${path}`);
  }

  private type(name: string): string {
    const byId = Object.entries(OBJECT_TYPE_IDS).find(([, id]) => id === name)?.[0];
    const type = byId ?? name;
    if (!this.objects.has(type)) throw hubspotError(400, 'VALIDATION_ERROR', `Unable to infer object type from: ${name}`);
    return type;
  }

  private authenticate(req: RecordedRequest): void {
    const auth = req.headers.authorization;
    const token = typeof auth === 'string' && auth.startsWith('Bearer ') ? auth.slice(7) : null;
    if (token !== null && this.staticTokens.has(token)) return;
    const oauth = token !== null ? this.oauthTokens.get(token) : undefined;
    if (oauth) {
      const late = this.now() - oauth.expiresAt;
      if (late < 0) return;
      throw hubspotError(401, 'EXPIRED_AUTHENTICATION', `The OAuth token used to make this call expired ${Math.ceil(late / 1000)} second(s) ago.`);
    }
    throw hubspotError(
      401,
      'INVALID_AUTHENTICATION',
      'Authentication credentials not found. This API supports OAuth 2.0 authentication and you can find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview',
    );
  }

  // ── objects ────────────────────────────────────────────────────────────────────────────

  private insert(type: string, properties: Record<string, string>, now: number): StoredObject {
    const id = String(this.nextId++);
    const obj: StoredObject = { id, properties: { ...properties }, createdAt: now, updatedAt: now, searchableAt: now + this.searchLagMs };
    this.objects.get(type)!.set(id, obj);
    return obj;
  }

  private refreshComputed(type: string, obj: StoredObject): void {
    const p = obj.properties;
    p.hs_object_id = obj.id;
    const created = new Date(obj.createdAt).toISOString();
    const updated = new Date(obj.updatedAt).toISOString();
    if (type === 'contacts') {
      p.createdate = created;
      p.lastmodifieddate = updated;
    } else {
      p.hs_createdate = created;
      p.hs_lastmodifieddate = updated;
      if (type === 'deals') {
        p.createdate = created;
        p.hs_is_closed = p.dealstage === 'closedwon' || p.dealstage === 'closedlost' ? 'true' : 'false';
      }
    }
  }

  private stringify(props: z.infer<typeof propertiesSchema>): Record<string, string> {
    const out: Record<string, string> = {};
    for (const [k, v] of Object.entries(props)) if (v !== null) out[k] = String(v);
    return out;
  }

  private validateProperties(type: string, props: Record<string, string>): void {
    const defined = this.properties.get(type)!;
    // Contacts accept any built-in name here, but CoEx's own (coex_*) custom properties must exist.
    const undefinedCustom = Object.keys(props).filter((k) => k.startsWith('coex_') && !defined.has(k));
    if (!ENGAGEMENT_BUILTINS[type] && undefinedCustom.length > 0) {
      throw hubspotError(400, 'VALIDATION_ERROR', `Property values were not valid: ${JSON.stringify(
        undefinedCustom.map((name) => ({ isValid: false, message: `Property "${name}" does not exist`, error: 'PROPERTY_DOESNT_EXIST', name })),
      )}`);
    }
    for (const [name, value] of Object.entries(props)) {
      const def = defined.get(name);
      if (def?.type === 'bool' && value !== '' && value !== 'true' && value !== 'false') {
        throw hubspotError(400, 'VALIDATION_ERROR', `Property values were not valid: ${value} was not a valid boolean option for ${name}`);
      }
      if (def?.type === 'datetime' && value !== '' && Number.isNaN(Date.parse(value)) && !/^\d+$/.test(value)) {
        throw hubspotError(400, 'VALIDATION_ERROR', `Property values were not valid: ${value} is not a valid datetime for ${name}`);
      }
    }
    const builtins = ENGAGEMENT_BUILTINS[type];
    if (builtins) {
      const defined = this.properties.get(type)!;
      const unknown = Object.keys(props).filter((k) => !builtins.has(k) && !defined.has(k));
      if (unknown.length > 0) {
        throw hubspotError(400, 'VALIDATION_ERROR', `Property values were not valid: ${JSON.stringify(
          unknown.map((name) => ({ isValid: false, message: `Property "${name}" does not exist`, error: 'PROPERTY_DOESNT_EXIST', name })),
        )}`);
      }
    }
    if (type === 'communications') {
      const channel = props.hs_communication_channel_type;
      if (channel !== undefined && !['WHATS_APP', 'LINKEDIN_MESSAGE', 'SMS'].includes(channel)) {
        throw hubspotError(400, 'VALIDATION_ERROR', `Property values were not valid: ${channel} is not a valid option for hs_communication_channel_type`);
      }
      const from = props.hs_communication_logged_from;
      if (from !== undefined && from !== 'CRM') {
        throw hubspotError(400, 'VALIDATION_ERROR', `Property values were not valid: ${from} is not a valid option for hs_communication_logged_from`);
      }
    }
  }

  /** Throws 409 when a unique property value is already held by another record. */
  private checkUnique(type: string, props: Record<string, string>, selfId: string | null): void {
    for (const def of this.properties.get(type)!.values()) {
      if (!def.hasUniqueValue) continue;
      const value = props[def.name];
      if (value === undefined || value === '') continue;
      for (const other of this.objects.get(type)!.values()) {
        if (other.id === selfId || other.properties[def.name]?.toLowerCase() !== value.toLowerCase()) continue;
        if (type === 'contacts' && def.name === 'email') {
          throw hubspotError(409, 'CONFLICT', `Contact already exists. Existing ID: ${other.id}`);
        }
        throw hubspotError(409, 'CONFLICT', `A ${type} record with ${def.name}=${value} already exists. Existing ID: ${other.id}`);
      }
    }
  }

  private createOne(type: string, rawProps: z.infer<typeof propertiesSchema>, associations: z.infer<typeof associationInput>[]): StoredObject {
    const props = this.stringify(rawProps);
    this.validateProperties(type, props);
    this.checkUnique(type, props, null);
    for (const a of associations) for (const t of a.types) this.checkAssociation(type, String(a.to.id), null, t.associationTypeId);
    const obj = this.insert(type, props, this.now());
    this.refreshComputed(type, obj);
    for (const a of associations) {
      const toType = this.resolveAssociationTarget(type, a.types[0]?.associationTypeId ?? -1);
      for (const t of a.types) this.addLink(type, obj.id, toType, String(a.to.id), t.associationTypeId);
    }
    return obj;
  }

  /** `{objectId}` is the record id, or with `idProperty` a value of that unique property (exact match). */
  private findByIdOrUnique(type: string, key: string, idProperty: string | undefined): StoredObject {
    let obj: StoredObject | undefined;
    if (idProperty === undefined || idProperty === 'hs_object_id') obj = this.objects.get(type)!.get(key);
    else {
      const def = this.properties.get(type)!.get(idProperty);
      if (!def || !def.hasUniqueValue) throw hubspotError(400, 'VALIDATION_ERROR', `${idProperty} is not a unique identifier property for ${type}`);
      obj = [...this.objects.get(type)!.values()].find((o) => o.properties[idProperty] === key);
    }
    if (!obj) throw hubspotError(404, 'OBJECT_NOT_FOUND', 'Object not found.  objectId are usually numeric.', { context: { id: [key] } });
    return obj;
  }

  /** PATCH: provided values overwrite, "" clears; unknown custom properties → 400 (as HubSpot). */
  private updateOne(type: string, obj: StoredObject, body: unknown): unknown {
    const input = parseBody(z.object({ properties: propertiesSchema }), body);
    const props = this.stringify(input.properties);
    this.validateProperties(type, props);
    this.checkUnique(type, props, obj.id);
    for (const [k, v] of Object.entries(props)) {
      if (v === '') delete obj.properties[k];
      else obj.properties[k] = v;
    }
    obj.updatedAt = this.now();
    this.refreshComputed(type, obj);
    return this.view(type, obj, Object.keys(props));
  }

  private view(type: string, obj: StoredObject, requested: string[] = [], extra: Record<string, unknown> = {}): Record<string, unknown> {
    const names = new Set([...(DEFAULT_PROPERTIES[type] ?? []), ...requested]);
    const properties: Record<string, string | null> = {};
    for (const n of names) properties[n] = obj.properties[n] ?? null;
    return {
      id: obj.id,
      properties,
      createdAt: new Date(obj.createdAt).toISOString(),
      updatedAt: new Date(obj.updatedAt).toISOString(),
      archived: false,
      ...extra,
    };
  }

  private batchEnvelope(results: unknown[], errors?: unknown[]): Record<string, unknown> {
    const at = new Date(this.now()).toISOString();
    return {
      status: 'COMPLETE',
      results,
      ...(errors && errors.length > 0 ? { numErrors: errors.length, errors } : {}),
      requestedAt: at,
      startedAt: at,
      completedAt: at,
    };
  }

  private checkBatchSize(n: number): void {
    if (n > LIMITS.batch) throw hubspotError(400, 'VALIDATION_ERROR', `Batch input limit exceeded: ${n} inputs (maximum is ${LIMITS.batch})`);
    if (n === 0) throw hubspotError(400, 'VALIDATION_ERROR', 'Batch input must not be empty');
  }

  private batchCreate(type: string, body: unknown): unknown {
    const { inputs } = parseBody(batchCreateSchema, body);
    this.checkBatchSize(inputs.length);
    // Validate everything first: HubSpot rejects the whole batch on a conflict.
    const seen = new Map<string, string>();
    for (const input of inputs) {
      const props = this.stringify(input.properties);
      this.validateProperties(type, props);
      this.checkUnique(type, props, null);
      for (const def of this.properties.get(type)!.values()) {
        const v = def.hasUniqueValue ? props[def.name] : undefined;
        if (v === undefined) continue;
        if (seen.has(`${def.name}:${v}`)) throw hubspotError(400, 'VALIDATION_ERROR', `Duplicate unique value ${v} for ${def.name} in batch input`);
        seen.set(`${def.name}:${v}`, v);
      }
    }
    return this.batchEnvelope(
      inputs.map((input) =>
        this.view(
          type,
          this.createOne(type, input.properties, input.associations ?? []),
          [],
          input.objectWriteTraceId !== undefined ? { objectWriteTraceId: input.objectWriteTraceId } : {},
        ),
      ),
    );
  }

  private batchUpsert(type: string, body: unknown): unknown {
    const { inputs } = parseBody(batchUpsertSchema, body);
    this.checkBatchSize(inputs.length);
    const ids = new Set<string>();
    for (const input of inputs) {
      const idProperty = input.idProperty ?? 'hs_object_id';
      const def = this.properties.get(type)!.get(idProperty);
      if (!def || !def.hasUniqueValue) {
        throw hubspotError(400, 'VALIDATION_ERROR', `${idProperty} is not a unique identifier property for ${type}`);
      }
      if (ids.has(input.id)) throw hubspotError(400, 'VALIDATION_ERROR', `Duplicate IDs found in batch input: [${input.id}]`);
      ids.add(input.id);
      this.validateProperties(type, this.stringify(input.properties));
    }
    const now = this.now();
    const results = inputs.map((input) => {
      const idProperty = input.idProperty ?? 'hs_object_id';
      const props = { ...this.stringify(input.properties), [idProperty]: input.id };
      const existing = [...this.objects.get(type)!.values()].find((o) => o.properties[idProperty] === input.id);
      let obj: StoredObject;
      let isNew: boolean;
      if (existing) {
        this.checkUnique(type, props, existing.id);
        Object.assign(existing.properties, props);
        existing.updatedAt = now;
        obj = existing;
        isNew = false;
      } else {
        this.checkUnique(type, props, null);
        obj = this.insert(type, props, now);
        isNew = true;
      }
      this.refreshComputed(type, obj);
      return this.view(type, obj, Object.keys(props), {
        new: isNew,
        ...(input.objectWriteTraceId !== undefined ? { objectWriteTraceId: input.objectWriteTraceId } : {}),
      });
    });
    return this.batchEnvelope(results);
  }

  private batchRead(type: string, body: unknown): { status: number; payload: unknown } {
    const input = parseBody(batchReadSchema, body);
    this.checkBatchSize(input.inputs.length);
    const results: unknown[] = [];
    const missing: string[] = [];
    for (const { id } of input.inputs) {
      const obj = this.objects.get(type)!.get(String(id));
      if (obj) results.push(this.view(type, obj, input.properties ?? []));
      else missing.push(String(id));
    }
    if (missing.length === 0) return { status: 200, payload: this.batchEnvelope(results) };
    return {
      status: 207,
      payload: this.batchEnvelope(results, [
        { status: 'error', category: 'OBJECT_NOT_FOUND', message: 'Could not get some records', context: { ids: missing } },
      ]),
    };
  }

  // ── search ─────────────────────────────────────────────────────────────────────────────

  /**
   * Property names a search may filter on: HubSpot's defaults and the standard ones CoEx uses, the
   * custom properties created through the API, and any name a stored record carries (seeded data
   * stands for a portal's own properties). Anything else is refused, as HubSpot refuses it.
   */
  private searchableProperties(type: string): Set<string> {
    const names = new Set<string>([...(DEFAULT_PROPERTIES[type] ?? []), ...(ENGAGEMENT_BUILTINS[type] ?? []), ...(STANDARD_SEARCH_PROPERTIES[type] ?? [])]);
    for (const name of this.properties.get(type)?.keys() ?? []) names.add(name);
    for (const o of this.objects.get(type)?.values() ?? []) for (const name of Object.keys(o.properties)) names.add(name);
    return names;
  }

  private search(type: string, body: unknown): unknown {
    const input = parseBody(searchBodySchema, body);
    const groups = input.filterGroups ?? [];
    const total = groups.reduce((n, g) => n + g.filters.length, 0);
    if (groups.length > LIMITS.groups) {
      throw hubspotError(400, 'VALIDATION_ERROR', `Too many filter groups: ${groups.length}. The maximum is ${LIMITS.groups}.`);
    }
    for (const g of groups) {
      if (g.filters.length > LIMITS.perGroup) {
        throw hubspotError(400, 'VALIDATION_ERROR', `Too many filters in a filter group: ${g.filters.length}. The maximum is ${LIMITS.perGroup}.`);
      }
    }
    if (total > LIMITS.total) throw hubspotError(400, 'VALIDATION_ERROR', `Too many filters: ${total}. The maximum is ${LIMITS.total}.`);
    for (const f of groups.flatMap((g) => g.filters)) {
      if ((f.values?.length ?? 0) > LIMITS.inValues) {
        throw hubspotError(400, 'VALIDATION_ERROR', `Too many values in a ${f.operator} filter: ${f.values?.length}. The maximum is ${LIMITS.inValues}.`);
      }
    }
    const known = this.searchableProperties(type);
    const unknownNames = [...new Set(groups.flatMap((g) => g.filters.map((f) => f.propertyName)))].filter((name) => !known.has(name));
    if (unknownNames.length > 0) {
      throw hubspotError(400, 'VALIDATION_ERROR', `There was a problem with the request: ${unknownNames.map((n) => `Property "${n}" does not exist`).join('; ')}`, {
        errors: unknownNames.map((name) => ({ message: `Property "${name}" does not exist`, in: name, code: 'PROPERTY_DOESNT_EXIST' })),
      });
    }
    const limit = input.limit ?? 10;
    if (limit < 1 || limit > LIMITS.searchPage) throw hubspotError(400, 'VALIDATION_ERROR', `limit must be between 1 and ${LIMITS.searchPage}`);
    const now = this.now();
    const matching = [...this.objects.get(type)!.values()]
      .filter((o) => o.searchableAt <= now)
      .filter((o) => groups.length === 0 || groups.some((g) => g.filters.every((f) => matchFilter(o.properties, f))))
      .sort((a, b) => Number(a.id) - Number(b.id));
    const offset = input.after !== undefined ? Number(input.after) : 0;
    const page = matching.slice(offset, offset + limit);
    const next = offset + limit < matching.length ? String(offset + limit) : null;
    return {
      total: matching.length,
      results: page.map((o) => this.view(type, o, input.properties ?? [])),
      ...(next !== null ? { paging: { next: { after: next, link: `?after=${next}` } } } : {}),
    };
  }

  // ── associations ───────────────────────────────────────────────────────────────────────

  private resolveAssociationTarget(fromType: string, typeId: number): string {
    const key = Object.entries(ASSOCIATION_TYPE_IDS).find(([k, id]) => id === typeId && k.startsWith(`${fromType}->`))?.[0];
    if (!key) throw hubspotError(400, 'VALIDATION_ERROR', `association type ${typeId} is not valid from ${fromType}`);
    return key.split('->')[1]!;
  }

  private checkAssociation(fromType: string, toId: string, toType: string | null, typeId: number): void {
    const target = toType ?? this.resolveAssociationTarget(fromType, typeId);
    const expected = ASSOCIATION_TYPE_IDS[`${fromType}->${target}`];
    if (expected !== typeId) {
      throw hubspotError(400, 'VALIDATION_ERROR', `${typeId} is not a valid HUBSPOT_DEFINED association type between ${fromType} and ${target}`);
    }
    if (!this.objects.get(target)!.has(toId)) throw hubspotError(400, 'VALIDATION_ERROR', `${target} ${toId} does not exist`);
  }

  private addLink(fromType: string, fromId: string, toType: string, toId: string, typeId: number): void {
    const put = (a: string, aId: string, b: string, bId: string, t: number) => {
      const key = `${a}:${aId}->${b}`;
      const m = this.links.get(key) ?? new Map<string, Set<number>>();
      const types = m.get(bId) ?? new Set<number>();
      types.add(t);
      m.set(bId, types);
      this.links.set(key, m);
    };
    put(fromType, fromId, toType, toId, typeId);
    const reverse = ASSOCIATION_TYPE_IDS[`${toType}->${fromType}`];
    if (reverse !== undefined) put(toType, toId, fromType, fromId, reverse);
  }

  private readAssociations(type: string, id: string, toType: string, query: Record<string, string>): unknown {
    const all = this.associationsOf(type, id, toType);
    const limit = Math.min(Number(query.limit ?? 500) || 500, 500);
    const offset = Number(query.after ?? 0) || 0;
    const page = all.slice(offset, offset + limit);
    return {
      results: page.map((a) => ({
        toObjectId: Number(a.toId),
        associationTypes: a.typeIds.map((typeId) => ({ category: 'HUBSPOT_DEFINED', typeId, label: null })),
      })),
      ...(offset + limit < all.length ? { paging: { next: { after: String(offset + limit) } } } : {}),
    };
  }

  private batchReadAssociations(fromType: string, toType: string, body: unknown): { status: number; payload: unknown } {
    const { inputs } = parseBody(assocBatchReadSchema, body);
    if (inputs.length > LIMITS.associationRead) {
      throw hubspotError(400, 'VALIDATION_ERROR', `Batch input limit exceeded: ${inputs.length} inputs (maximum is ${LIMITS.associationRead})`);
    }
    if (inputs.length === 0) throw hubspotError(400, 'VALIDATION_ERROR', 'Batch input must not be empty');
    const results: unknown[] = [];
    const errors: unknown[] = [];
    const singular = (t: string) => t.replace(/s$/, '');
    for (const input of inputs) {
      const id = String(input.id);
      const all = this.associationsOf(fromType, id, toType);
      if (all.length === 0) {
        errors.push({
          status: 'error',
          category: 'OBJECT_NOT_FOUND',
          subCategory: 'crm.associations.NO_ASSOCIATIONS_FOUND',
          message: `No ${singular(toType)} is associated with ${singular(fromType)} ${id}.`,
          context: { fromObjectId: [id], fromObjectType: [singular(fromType)], toObjectType: [singular(toType)] },
        });
        continue;
      }
      const offset = Number(input.after ?? 0) || 0;
      const page = all.slice(offset, offset + LIMITS.associationPage);
      const next = offset + LIMITS.associationPage < all.length ? String(offset + LIMITS.associationPage) : null;
      results.push({
        from: { id },
        to: page.map((a) => ({
          toObjectId: Number(a.toId),
          associationTypes: a.typeIds.map((typeId) => ({ category: 'HUBSPOT_DEFINED', typeId, label: null })),
        })),
        ...(next !== null ? { paging: { next: { after: next, link: null } } } : {}),
      });
    }
    return { status: errors.length > 0 ? 207 : 200, payload: this.batchEnvelope(results, errors) };
  }

  private createAssociations(fromType: string, toType: string, body: unknown): unknown {
    const { inputs } = parseBody(assocBatchCreateSchema, body);
    this.checkBatchSize(inputs.length);
    for (const input of inputs) {
      if (!this.objects.get(fromType)!.has(String(input.from.id))) {
        throw hubspotError(400, 'VALIDATION_ERROR', `${fromType} ${input.from.id} does not exist`);
      }
      for (const t of input.types) this.checkAssociation(fromType, String(input.to.id), toType, t.associationTypeId);
    }
    const results = inputs.map((input) => {
      for (const t of input.types) this.addLink(fromType, String(input.from.id), toType, String(input.to.id), t.associationTypeId);
      return {
        fromObjectTypeId: OBJECT_TYPE_IDS[fromType],
        fromObjectId: Number(input.from.id),
        toObjectTypeId: OBJECT_TYPE_IDS[toType],
        toObjectId: Number(input.to.id),
        labels: [],
      };
    });
    return this.batchEnvelope(results);
  }

  // ── properties ─────────────────────────────────────────────────────────────────────────

  private createGroup(type: string, body: unknown): unknown {
    const g = parseBody(groupCreateSchema, body);
    const groups = this.groups.get(type)!;
    if (groups.has(g.name)) throw hubspotError(409, 'OBJECT_ALREADY_EXISTS', `A property group named '${g.name}' already exists.`);
    groups.add(g.name);
    return { name: g.name, label: g.label, displayOrder: g.displayOrder ?? -1, archived: false };
  }

  private createProperty(type: string, body: unknown): unknown {
    const p = parseBody(propertyCreateSchema, body);
    const defs = this.properties.get(type)!;
    if (defs.has(p.name)) throw hubspotError(409, 'OBJECT_ALREADY_EXISTS', `Property named '${p.name}' already exists.`);
    if (!this.groups.get(type)!.has(p.groupName)) throw hubspotError(400, 'VALIDATION_ERROR', `property group ${p.groupName} does not exist`);
    const def: PropertyDefinition = {
      name: p.name,
      label: p.label,
      type: p.type,
      fieldType: p.fieldType,
      groupName: p.groupName,
      hasUniqueValue: p.hasUniqueValue ?? false,
      ...(p.description !== undefined ? { description: p.description } : {}),
    };
    defs.set(p.name, def);
    return propertyView(def);
  }

  // ── OAuth ──────────────────────────────────────────────────────────────────────────────

  private token(req: RecordedRequest): unknown {
    const oauth = this.options.oauth;
    const fail = (status: string, message: string) =>
      new HttpError(400, { status, message, correlationId: randomUUID() });
    if (!oauth) throw fail('BAD_CLIENT_ID', 'OAuth is not configured on this fake');
    if ('client_secret' in req.query || 'code' in req.query || 'refresh_token' in req.query) {
      throw fail('BAD_REQUEST', 'The 2026-03 token endpoint takes its parameters in the request body only');
    }
    if (!String(req.headers['content-type'] ?? '').includes('application/x-www-form-urlencoded')) {
      throw fail('BAD_REQUEST', 'Content-Type must be application/x-www-form-urlencoded');
    }
    const form = z.record(z.string(), z.string()).safeParse(req.body);
    if (!form.success) throw fail('BAD_REQUEST', 'missing form body');
    const f = form.data;
    if (f.client_id !== oauth.clientId) throw fail('BAD_CLIENT_ID', 'missing or unknown client id');
    if (f.client_secret !== oauth.clientSecret) throw fail('BAD_CLIENT_SECRET', 'missing or invalid client secret');
    let refresh: string;
    if (f.grant_type === 'authorization_code') {
      if (!f.code || !this.authCodes.has(f.code)) throw fail('BAD_AUTH_CODE', 'missing or unknown auth code');
      if (f.redirect_uri !== oauth.redirectUri) throw fail('BAD_REDIRECT_URI', 'redirect_uri does not match the one used to authorize');
      this.authCodes.delete(f.code);
      refresh = `rt-${randomUUID()}`;
      this.refreshTokens.add(refresh);
    } else if (f.grant_type === 'refresh_token') {
      if (!f.refresh_token || !this.refreshTokens.has(f.refresh_token)) throw fail('BAD_REFRESH_TOKEN', 'missing or unknown refresh token');
      refresh = f.refresh_token;
    } else {
      throw fail('BAD_GRANT_TYPE', `unsupported grant_type: ${f.grant_type ?? '(none)'}`);
    }
    const ttl = oauth.accessTokenTtlSeconds ?? 1800;
    const access = `at-${randomUUID()}`;
    this.oauthTokens.set(access, { expiresAt: this.now() + ttl * 1000 });
    return { token_type: 'bearer', access_token: access, refresh_token: refresh, expires_in: ttl, hub_id: this.portalId };
  }

  /** Revokes a refresh token (uninstall): the next refresh gets BAD_REFRESH_TOKEN. */
  // ── Conversations custom channels ─────────────────────────────────────────────────────

  /** Messages published to (or written by agents on) a channel account, oldest first. */
  inboxMessages(channelAccountId: string): ChannelMessage[] {
    return this.channelMessages.filter((m) => m.channelAccountId === channelAccountId);
  }

  channelAccount(id: string): ChannelAccount | undefined {
    return this.channelAccounts.get(id);
  }

  customChannel(id: string): CustomChannel | undefined {
    return this.channels.get(id);
  }

  /**
   * An agent answers `customerPhone` in the inbox of `channelAccountId`: the OUTGOING message is
   * stored and OUTGOING_CHANNEL_MESSAGE_CREATED is POSTed to the channel's webhookUrl (or `url`),
   * signed v3. Returns the message and the webhook's HTTP status.
   */
  async agentReply(input: {
    channelAccountId: string;
    customerPhone: string;
    text: string;
    agent?: { userId: number; name: string };
    url?: string;
    /** Sign with another secret (a forged request), or leave the signature off. */
    signWith?: string | null;
    /** Epoch ms for X-HubSpot-Request-Timestamp (an expired delivery). Default now. */
    timestamp?: number;
    /** Deliver for another portal id than this fake's. */
    portalId?: number;
  }): Promise<{ message: ChannelMessage; status: number; body: unknown }> {
    const account = this.channelAccounts.get(input.channelAccountId);
    if (!account) throw new Error(`no channel account ${input.channelAccountId}`);
    const agent = input.agent ?? { userId: 5_150_001, name: 'Nadia Agent' };
    const message: ChannelMessage = {
      id: randomUUID(),
      channelId: account.channelId,
      channelAccountId: account.id,
      conversationsThreadId: this.threadFor(account.id, input.customerPhone),
      direction: 'OUTGOING',
      text: input.text,
      senders: [{ actorId: `A-${agent.userId}`, name: agent.name, ...(account.deliveryIdentifier ? { deliveryIdentifier: account.deliveryIdentifier } : {}) }],
      recipients: [{ actorId: `V-${this.nextId++}`, deliveryIdentifier: { type: 'HS_PHONE_NUMBER', value: input.customerPhone } }],
      integrationIdempotencyId: null,
      timestamp: new Date(this.now()).toISOString(),
      clientType: 'HUBSPOT',
      status: null,
      statusUpdates: [],
    };
    this.channelMessages.push(message);
    const delivery = await this.deliverOutgoing(message, { ...input, agentUserId: agent.userId });
    return { message, ...delivery };
  }

  /** HubSpot retrying the webhook of an agent's message (same event, new timestamp and signature). */
  async redeliver(messageId: string, opts: { url?: string; timestamp?: number } = {}): Promise<{ status: number; body: unknown }> {
    const message = this.channelMessages.find((m) => m.id === messageId);
    if (!message) throw new Error(`no channel message ${messageId}`);
    return this.deliverOutgoing(message, { ...opts, agentUserId: Number(message.senders[0]?.actorId?.slice(2) ?? 0) });
  }

  private async deliverOutgoing(
    message: ChannelMessage,
    opts: { url?: string; signWith?: string | null; timestamp?: number; portalId?: number; agentUserId: number },
  ): Promise<{ status: number; body: unknown }> {
    const channel = this.channels.get(message.channelId)!;
    const url = opts.url ?? channel.webhookUrl;
    if (!url) throw new Error(`channel ${channel.id} has no webhookUrl`);
    const event = {
      type: 'OUTGOING_CHANNEL_MESSAGE_CREATED',
      portalId: opts.portalId ?? this.portalId,
      channelId: Number(channel.id),
      eventTimestamp: new Date(this.now()).toISOString(),
      channelIntegrationThreadIds: [],
      message: {
        id: message.id,
        type: 'MESSAGE',
        channelId: channel.id,
        channelAccountId: message.channelAccountId,
        conversationsThreadId: message.conversationsThreadId,
        createdAt: message.timestamp,
        createdBy: `A-${opts.agentUserId}`,
        client: { clientType: 'HUBSPOT' },
        senders: message.senders.map((p) => ({ ...p, senderField: 'FROM' })),
        recipients: message.recipients.map((p) => ({ ...p, recipientField: 'TO' })),
        text: message.text,
        richText: `<p>${message.text}</p>`,
        direction: 'OUTGOING',
        truncationStatus: 'NOT_TRUNCATED',
        status: { statusType: 'SENT' },
        attachments: [],
      },
    };
    const body = JSON.stringify(event);
    const timestamp = String(opts.timestamp ?? this.now());
    const secret = opts.signWith === undefined ? (this.options.appClientSecret ?? this.options.oauth?.clientSecret) : opts.signWith;
    if (secret === undefined) throw new Error('FakeHubSpot: set appClientSecret to sign custom-channel webhooks');
    const headers: Record<string, string> = { 'content-type': 'application/json', 'x-hubspot-request-timestamp': timestamp };
    if (secret !== null) {
      // Signature v3 as HubSpot documents it: base64 HMAC-SHA256 of method + URL + body + timestamp.
      headers['x-hubspot-signature-v3'] = createHmac('sha256', secret).update(`POST${url}${body}${timestamp}`, 'utf8').digest('base64');
    }
    const res = await fetch(url, { method: 'POST', headers, body });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      // not JSON: keep the text
    }
    return { status: res.status, body: parsed };
  }

  private threadFor(channelAccountId: string, customerPhone: string): string {
    const existing = this.channelMessages.find(
      (m) => m.channelAccountId === channelAccountId && [...m.senders, ...m.recipients].some((p) => p.deliveryIdentifier?.value === customerPhone),
    );
    return existing?.conversationsThreadId ?? String(this.nextId++);
  }

  private customChannelRoute(req: RecordedRequest): { status: number; payload: unknown } {
    const { method, path } = req;
    if (path.replace(/\/$/, '') === '/conversations/v3/custom-channels' && method === 'POST') {
      // Registration uses the developer API key and the app id, not an OAuth token.
      if (req.query.hapikey !== (this.options.developerApiKey ?? 'dev-api-key')) {
        throw hubspotError(401, 'INVALID_AUTHENTICATION', 'The developer API key provided is invalid.');
      }
      if (!req.query.appId || !/^\d+$/.test(req.query.appId)) throw hubspotError(400, 'VALIDATION_ERROR', 'appId is required');
      const input = parseBody(channelCreateSchema, req.body);
      const channel: CustomChannel = {
        id: String(this.nextId++),
        appId: req.query.appId,
        name: input.name,
        webhookUrl: input.webhookUrl ?? null,
        capabilities: input.capabilities,
        createdAt: new Date(this.now()).toISOString(),
      };
      this.channels.set(channel.id, channel);
      return { status: 200, payload: { ...channel, channelAccountConnectionRedirectUrl: input.channelAccountConnectionRedirectUrl ?? null, channelDescription: input.channelDescription ?? null } };
    }
    this.authenticate(req);
    const m = path.match(/^\/conversations\/v3\/custom-channels\/([^/]+)(?:\/(channel-accounts|messages)(?:\/([^/]+))?)?$/);
    if (!m) throw hubspotError(404, 'OBJECT_NOT_FOUND', `no route ${method} ${path}`);
    const channel = this.channels.get(m[1]!);
    if (!channel) throw hubspotError(404, 'OBJECT_NOT_FOUND', `Channel ${m[1]} not found`);
    const [, , resource, itemId] = m;
    if (resource === 'channel-accounts' && method === 'POST' && itemId === undefined) {
      const input = parseBody(channelAccountCreateSchema, req.body);
      if (input.deliveryIdentifier) this.checkDeliveryIdentifier(channel, input.deliveryIdentifier);
      const account: ChannelAccount = {
        id: String(this.nextId++),
        channelId: channel.id,
        inboxId: input.inboxId,
        name: input.name,
        authorized: input.authorized,
        deliveryIdentifier: input.deliveryIdentifier ?? null,
        createdAt: new Date(this.now()).toISOString(),
      };
      this.channelAccounts.set(account.id, account);
      return { status: 200, payload: { ...account, active: true, archived: false } };
    }
    if (resource === 'channel-accounts' && method === 'GET' && itemId !== undefined) {
      const account = this.channelAccounts.get(itemId);
      if (!account || account.channelId !== channel.id) throw hubspotError(404, 'OBJECT_NOT_FOUND', `Channel account ${itemId} not found`);
      return { status: 200, payload: { ...account, active: true, archived: false } };
    }
    if (resource === 'messages' && method === 'POST' && itemId === undefined) {
      const input = parseBody(publishSchema, req.body);
      const account = this.channelAccounts.get(input.channelAccountId);
      if (!account || account.channelId !== channel.id) throw hubspotError(400, 'VALIDATION_ERROR', `channel account ${input.channelAccountId} does not belong to channel ${channel.id}`);
      for (const p of [...input.senders, ...input.recipients]) this.checkDeliveryIdentifier(channel, p.deliveryIdentifier);
      const repeat = input.integrationIdempotencyId !== undefined ? this.channelMessages.find((x) => x.channelId === channel.id && x.integrationIdempotencyId === input.integrationIdempotencyId) : undefined;
      if (repeat) return { status: 200, payload: this.channelMessageView(repeat) };
      const customer = (input.messageDirection === 'INCOMING' ? input.senders[0] : input.recipients[0])!.deliveryIdentifier.value;
      const message: ChannelMessage = {
        id: randomUUID(),
        channelId: channel.id,
        channelAccountId: account.id,
        conversationsThreadId: this.threadFor(account.id, customer),
        direction: input.messageDirection,
        text: input.text,
        senders: input.senders.map((p) => ({ ...(p.name ? { name: p.name } : {}), deliveryIdentifier: p.deliveryIdentifier })),
        recipients: input.recipients.map((p) => ({ ...(p.name ? { name: p.name } : {}), deliveryIdentifier: p.deliveryIdentifier })),
        integrationIdempotencyId: input.integrationIdempotencyId ?? null,
        timestamp: input.timestamp,
        clientType: 'INTEGRATION',
        status: null,
        statusUpdates: [],
      };
      this.channelMessages.push(message);
      return { status: 200, payload: this.channelMessageView(message) };
    }
    if (resource === 'messages' && method === 'PATCH' && itemId !== undefined) {
      const input = parseBody(statusUpdateSchema, req.body);
      const message = this.channelMessages.find((x) => x.id === itemId && x.channelId === channel.id);
      if (!message) throw hubspotError(404, 'OBJECT_NOT_FOUND', `Message ${itemId} not found`);
      const status = { statusType: input.statusType, ...(input.errorMessage !== undefined ? { errorMessage: input.errorMessage } : {}) };
      message.status = status;
      message.statusUpdates.push(status);
      return { status: 200, payload: this.channelMessageView(message) };
    }
    throw hubspotError(404, 'OBJECT_NOT_FOUND', `no route ${method} ${path}`);
  }

  private checkDeliveryIdentifier(channel: CustomChannel, id: DeliveryIdentifier): void {
    const allowed = channel.capabilities.deliveryIdentifierTypes;
    if (!Array.isArray(allowed) || !allowed.includes(id.type)) {
      throw hubspotError(400, 'VALIDATION_ERROR', `delivery identifier type ${id.type} is not supported by channel ${channel.id}`);
    }
    if (id.type === 'HS_PHONE_NUMBER' && !/^\+[1-9]\d{6,14}$/.test(id.value)) {
      throw hubspotError(400, 'VALIDATION_ERROR', `${id.value} is not a valid HS_PHONE_NUMBER (E.164)`);
    }
  }

  private channelMessageView(m: ChannelMessage): Record<string, unknown> {
    return {
      id: m.id,
      type: 'MESSAGE',
      channelId: m.channelId,
      channelAccountId: m.channelAccountId,
      conversationsThreadId: m.conversationsThreadId,
      createdAt: m.timestamp,
      createdBy: m.clientType === 'INTEGRATION' ? 'I-0' : (m.senders[0]?.actorId ?? ''),
      client: { clientType: m.clientType },
      direction: m.direction,
      text: m.text,
      senders: m.senders,
      recipients: m.recipients,
      truncationStatus: 'NOT_TRUNCATED',
      archived: false,
      attachments: [],
      ...(m.status ? { status: { statusType: m.status.statusType, ...(m.status.errorMessage ? { failureDetails: { errorMessage: m.status.errorMessage } } : {}) } } : {}),
    };
  }

  revokeRefreshToken(token: string): void {
    this.refreshTokens.delete(token);
  }
}

function propertyView(def: PropertyDefinition): Record<string, unknown> {
  const at = new Date().toISOString();
  return {
    ...def,
    description: def.description ?? '',
    options: [],
    displayOrder: -1,
    calculated: false,
    externalOptions: false,
    hidden: false,
    formField: false,
    archived: false,
    createdAt: at,
    updatedAt: at,
    modificationMetadata: { archivable: true, readOnlyDefinition: false, readOnlyValue: false },
  };
}

function parseBody<T>(schema: z.ZodType<T>, body: unknown): T {
  const r = schema.safeParse(body);
  if (!r.success) {
    // HubSpot's JSON binding names the first unknown field and refuses the request.
    const unknown = r.error.issues.find((i) => i.code === 'unrecognized_keys');
    if (unknown && 'keys' in unknown) {
      throw hubspotError(400, 'VALIDATION_ERROR', `Invalid input JSON on line 1, column 1: Unrecognized field "${String(unknown.keys[0])}" (class com.hubspot.inbounddb.publicobject.core.v2.search.PublicObjectSearchRequest), not marked as ignorable`);
    }
    throw hubspotError(400, 'VALIDATION_ERROR', `Invalid input JSON: ${z.prettifyError(r.error)}`);
  }
  return r.data;
}

function tokens(value: string): string[] {
  return value.toLowerCase().split(/[^\p{L}\p{N}]+/u).filter(Boolean);
}

function tokenMatches(pattern: string, token: string): boolean {
  const re = new RegExp(`^${pattern.split('*').map((s) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`);
  return re.test(token);
}

function compare(a: string, b: string): number {
  const na = Number(a);
  const nb = Number(b);
  if (a.trim() !== '' && b.trim() !== '' && !Number.isNaN(na) && !Number.isNaN(nb)) return na - nb;
  const da = Date.parse(a);
  const db = Date.parse(b);
  if (!Number.isNaN(da) && !Number.isNaN(db)) return da - db;
  return a.localeCompare(b);
}

function matchFilter(props: Record<string, string>, f: z.infer<typeof filterSchema>): boolean {
  const raw = props[f.propertyName];
  const has = raw !== undefined && raw !== '';
  const value = (raw ?? '').toLowerCase();
  const want = f.value === undefined ? undefined : String(f.value).toLowerCase();
  const wants = (f.values ?? []).map((v) => String(v).toLowerCase());
  switch (f.operator) {
    case 'EQ':
      return has && want !== undefined && value === want;
    case 'NEQ':
      return want !== undefined && value !== want;
    case 'IN':
      return has && wants.includes(value);
    case 'NOT_IN':
      return !has || !wants.includes(value);
    case 'HAS_PROPERTY':
      return has;
    case 'NOT_HAS_PROPERTY':
      return !has;
    case 'CONTAINS_TOKEN':
    case 'NOT_CONTAINS_TOKEN': {
      const patterns = want === undefined ? [] : tokens(want.replace(/\*/g, 'WILDCARDX')).map((t) => t.replace(/wildcardx/g, '*'));
      const own = tokens(raw ?? '');
      const hit = has && patterns.length > 0 && patterns.every((p) => own.some((t) => tokenMatches(p, t)));
      return f.operator === 'CONTAINS_TOKEN' ? hit : !hit;
    }
    case 'LT':
      return has && want !== undefined && compare(raw, String(f.value)) < 0;
    case 'LTE':
      return has && want !== undefined && compare(raw, String(f.value)) <= 0;
    case 'GT':
      return has && want !== undefined && compare(raw, String(f.value)) > 0;
    case 'GTE':
      return has && want !== undefined && compare(raw, String(f.value)) >= 0;
    case 'BETWEEN':
      return has && f.value !== undefined && f.highValue !== undefined && compare(raw, String(f.value)) >= 0 && compare(raw, String(f.highValue)) <= 0;
    default:
      throw hubspotError(400, 'VALIDATION_ERROR', `Unknown filter operator: ${f.operator}`);
  }
}

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json;charset=utf-8', ...headers });
  res.end(JSON.stringify(body));
}
