/**
 * A local fake of Zoho CRM for one org: an accounts server (OAuth) and an API domain (CRM REST v8),
 * two HTTP servers on 127.0.0.1 sharing one in-memory org, for running the real Zoho connector.
 *
 * Modelled (wire formats as Zoho documents and answers them):
 * - Accounts server: `GET /oauth/v2/auth` (consent is implied: 302 to the registered redirect_uri
 *   with `code`, `state`, `location` and `accounts-server`, as multi-DC callbacks carry);
 *   `POST /oauth/v2/token` (form body or query string) for `authorization_code` (one-time codes,
 *   redirect_uri must match) and `refresh_token`, answering `{ access_token, refresh_token?,
 *   api_domain, token_type: "Bearer", expires_in: 3600 }`, and errors the Zoho way: HTTP 200 with
 *   `{ "error": "invalid_code" | "invalid_client" | "invalid_client_secret" | "unsupported_grant_type" }`.
 * - API: `Authorization: Zoho-oauthtoken <token>` on every call; missing, unknown, revoked or expired
 *   tokens → 401 `{ code: "INVALID_TOKEN", details: {}, message: "invalid oauth token", status: "error" }`.
 * - `GET /crm/v8/{Contacts|Leads}/search` (over records older than `searchIndexLagMs`, as Zoho's
 *   search index lags creation) with `phone` (digits compared, formatting ignored), `email`,
 *   or `criteria` (`(Field:equals|starts_with:value)` joined with and/or, nested parentheses,
 *   backslash escapes, at most 10 conditions, on First_Name, Last_Name, Full_Name, Phone, Mobile,
 *   Email, Company, Lead_Source, Mailing_City); optional `fields`, `page`, `per_page` (≤ 200).
 *   **No match is HTTP 204 with an empty body.** A hit is `{ data: [...], info: { per_page, count,
 *   page, more_records } }`.
 * - `POST /crm/v8/{Contacts|Leads}` `{ data: [ … ] }` (≤ 100): Last_Name mandatory (Company too for
 *   Leads unless `leadsRequireCompany: false`) → per-record `{ code: "SUCCESS", details: { id,
 *   Created_Time, … }, message: "record added", status: "success" }` or `MANDATORY_NOT_FOUND`;
 *   HTTP 201 when all succeed, 207 when mixed, 400 when all fail.
 * - `POST /crm/v8/Notes` `{ data: [ { Note_Title, Note_Content, Parent_Id: { module: { api_name }, id } } ] }`
 *   (≤ 100, else 400 LIMIT_EXCEEDED); unknown parent → `INVALID_DATA`.
 * - `GET /crm/v8/{module}/{id}/Notes` (related notes): `fields` mandatory (400 REQUIRED_PARAM_MISSING),
 *   `page`/`per_page` (≤ 200), oldest first, `If-Modified-Since` (304 when notes exist but none is
 *   newer), 204 when the record has no notes.
 * - `POST /crm/v8/{module}/{id}/actions/add_tags|remove_tags` `{ tags: [{ name } | { id }], over_write? }`:
 *   per-record result `{ code: "SUCCESS", details: { id, tags: [{ name, id }] }, message: "tags
 *   updated successfully", status: "success" }`; add_tags creates an unknown tag name in the module
 *   (case-insensitive match), an unknown tag id → INVALID_DATA, an unknown record → 400 INVALID_DATA.
 *   Records carry `Tag: [{ name, id }]`. Assumption: removing a tag the record does not carry (or
 *   the org does not have) is a SUCCESS no-op — Zoho's documentation does not show that case.
 * - failNext(): 429 `TOO_MANY_REQUESTS` (with `Retry-After` when given — an assumption: Zoho documents
 *   the 429 and the error code, the header is what a well-behaved client would honour) and 5xx
 *   `INTERNAL_ERROR`, for the next API request(s).
 * - Every request to either server is recorded (server, method, path, query, headers, parsed body).
 *
 * NOT modelled: scopes (any valid token may do anything), users/owners beyond a fixed one, layouts,
 * field metadata, tag colours, the tag limits per module/record, the multi-record tag endpoints, duplicate checks and unique fields, workflow triggers, the COQL/query API, `word`
 * search, the fuzzy "equals behaves like contains with several conditions" search quirk, page_token
 * beyond 2000 records, API credit accounting, concurrency limits, refresh-token limits, token
 * revocation endpoint, other modules, Notes on other parents, attachments, DC-specific behaviour.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';

export type ZohoModule = 'Contacts' | 'Leads';

export interface ZohoRecord {
  id: string;
  First_Name: string | null;
  Last_Name: string;
  Phone: string | null;
  Mobile: string | null;
  Email: string | null;
  Company: string | null;
  /** Standard picklist/text fields a segment filters on (e.g. Lead_Source "Trade show"). */
  Lead_Source: string | null;
  Mailing_City: string | null;
  Created_Time: string;
  /** Tags on the record, as Zoho returns them in the `Tag` field. */
  Tag: ZohoTag[];
}

export interface ZohoTag {
  name: string;
  id: string;
}

export interface ZohoNote {
  id: string;
  Note_Title: string | null;
  Note_Content: string;
  Parent_Id: { module: { api_name: ZohoModule }; id: string };
  Created_Time: string;
  Modified_Time: string;
}

export interface ZohoRecordedRequest {
  server: 'accounts' | 'api';
  method: string;
  path: string;
  query: Record<string, string>;
  headers: Record<string, string | string[] | undefined>;
  body: unknown;
  status: number;
}

export interface ZohoFakeOptions {
  clientId?: string;
  clientSecret?: string;
  redirectUri?: string;
  /** The `location` the consent redirect reports (us, eu, in, au, jp, ca, sa, cn). */
  location?: string;
  /** Clock for token expiry and note times. Default Date.now. */
  now?: () => number;
  leadsRequireCompany?: boolean;
  /** Search only sees records created at least this long ago (Zoho's search index lags). Default 0. */
  searchIndexLagMs?: number;
}

export interface ZohoFailure {
  status: number;
  retryAfter?: string;
  count?: number;
}

export interface ZohoFake {
  accountsUrl: string;
  apiUrl: string;
  clientId: string;
  clientSecret: string;
  redirectUri: string;
  requests: ZohoRecordedRequest[];
  apiRequests(): ZohoRecordedRequest[];
  /** A refresh token as if an admin had installed the app. */
  issueRefreshToken(): string;
  /** Invalidates every access token issued so far (as if revoked or expired). */
  revokeAccessTokens(): void;
  failNext(failure: ZohoFailure): void;
  addRecord(module: ZohoModule, values: Partial<Omit<ZohoRecord, 'id' | 'Created_Time'>> & { Last_Name: string }): string;
  /** Deletes a record and its notes (as a user deleting it in the CRM would). */
  deleteRecord(recordId: string): void;
  /** Runs after each request is answered (to change the org between two calls of one operation). */
  afterRequest(hook: (request: ZohoRecordedRequest) => void): void;
  records(module: ZohoModule): ZohoRecord[];
  /** The org's tags of a module (created on first use by name, as add_tags does). */
  tags(module: ZohoModule): ZohoTag[];
  notesOf(recordId: string): ZohoNote[];
  close(): Promise<void>;
}

const MODULES: readonly ZohoModule[] = ['Contacts', 'Leads'];
const SEARCHABLE = new Set(['First_Name', 'Last_Name', 'Full_Name', 'Phone', 'Mobile', 'Email', 'Company', 'Lead_Source', 'Mailing_City']);
const OWNER = { name: 'CoEx Bot', id: '4876876000000351001', email: 'bot@coex.example' };

class ZohoHttpError extends Error {
  readonly status: number;
  readonly code: string;
  readonly details: Record<string, unknown>;
  constructor(status: number, code: string, message: string, details: Record<string, unknown> = {}) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details;
  }
}

/** Zoho time format: seconds precision with an explicit offset. */
function zohoTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, '+00:00');
}

const digits = (s: string | null | undefined) => (s ?? '').replace(/\D/g, '');

// ---------- criteria parser: (A:op:v), (X)and(Y), (X)or(Y), nested ----------

type Criteria = { field: string; op: 'equals' | 'starts_with'; value: string } | { join: 'and' | 'or'; parts: Criteria[] };

function parseCriteria(text: string): { tree: Criteria; conditions: number } {
  let pos = 0;
  let conditions = 0;
  const fail = (why: string): never => {
    throw new ZohoHttpError(400, 'INVALID_QUERY', 'invalid query formed', { reason: why, api_name: 'criteria' });
  };
  const group = (): Criteria => {
    if (text[pos] !== '(') fail(`expected "(" at ${pos}`);
    pos += 1;
    let node: Criteria;
    if (text[pos] === '(') {
      const parts = [group()];
      let join: 'and' | 'or' | null = null;
      while (text.startsWith('and', pos) || text.startsWith('or', pos)) {
        const j = text.startsWith('and', pos) ? 'and' : 'or';
        if (join !== null && join !== j) fail('mixing and/or without parentheses');
        join = j;
        pos += j.length;
        parts.push(group());
      }
      node = parts.length === 1 ? (parts[0] as Criteria) : { join: join ?? 'and', parts };
    } else {
      // field:operator:value, value with backslash escapes, up to the unescaped ")".
      let raw = '';
      while (pos < text.length && text[pos] !== ')') {
        if (text[pos] === '\\' && pos + 1 < text.length) {
          raw += `\u0000${text[pos + 1]}`;
          pos += 2;
        } else {
          raw += text[pos];
          pos += 1;
        }
      }
      const [field, op, ...rest] = raw.split(':');
      const value = rest.join(':').replace(/\u0000(.)/g, '$1');
      if (!field || !op || rest.length === 0) fail(`bad condition "${raw}"`);
      if (op !== 'equals' && op !== 'starts_with') fail(`unsupported operator "${op}"`);
      if (!SEARCHABLE.has(field as string)) fail(`unknown field "${field}"`);
      conditions += 1;
      node = { field: field as string, op: op as 'equals' | 'starts_with', value };
    }
    if (text[pos] !== ')') fail(`expected ")" at ${pos}`);
    pos += 1;
    return node;
  };
  // The outermost group may be left off ("(A)or(B)"): one extra pair of parentheses fits every form.
  text = `(${text})`;
  const tree = group();
  if (pos !== text.length) fail(`unexpected text at ${pos}`);
  return { tree, conditions };
}

function matchCriteria(record: ZohoRecord, c: Criteria): boolean {
  if ('join' in c) return c.join === 'and' ? c.parts.every((p) => matchCriteria(record, p)) : c.parts.some((p) => matchCriteria(record, p));
  const actual =
    c.field === 'Full_Name' ? [record.First_Name, record.Last_Name].filter(Boolean).join(' ') : (record as unknown as Record<string, string | null>)[c.field];
  if (actual === null || actual === undefined) return false;
  const a = actual.toLowerCase();
  const v = c.value.toLowerCase();
  return c.op === 'equals' ? a === v : a.startsWith(v);
}

// ---------- the fake ----------

export async function startZohoFake(options: ZohoFakeOptions = {}): Promise<ZohoFake> {
  const clientId = options.clientId ?? '1000.COEXTESTCLIENT';
  const clientSecret = options.clientSecret ?? 'zoho-client-secret-for-tests';
  const redirectUri = options.redirectUri ?? 'https://coex.example/oauth/zoho/callback';
  const now = options.now ?? Date.now;
  const leadsRequireCompany = options.leadsRequireCompany ?? true;
  const searchIndexLagMs = options.searchIndexLagMs ?? 0;

  const records: Record<ZohoModule, ZohoRecord[]> = { Contacts: [], Leads: [] };
  const notes: ZohoNote[] = [];
  const moduleTags: Record<ZohoModule, ZohoTag[]> = { Contacts: [], Leads: [] };
  const codes = new Map<string, { used: boolean; redirectUri: string }>();
  const refreshTokens = new Set<string>();
  const accessTokens = new Map<string, number>(); // token → expiresAt
  const requests: ZohoRecordedRequest[] = [];
  const failures: ZohoFailure[] = [];
  const hooks: Array<(request: ZohoRecordedRequest) => void> = [];
  let nextId = 1;
  const newId = () => `4876876000000${String(nextId++).padStart(6, '0')}`;
  const secret = (prefix: string) => `1000.${prefix}${randomBytes(12).toString('hex')}`;

  let accountsUrl = '';
  let apiUrl = '';

  function issueAccessToken(): { access_token: string; expires_in: number } {
    const token = secret('at');
    accessTokens.set(token, now() + 3600 * 1000);
    return { access_token: token, expires_in: 3600 };
  }

  function insertRecord(module: ZohoModule, values: Record<string, unknown>): string {
    const str = (k: string) => (typeof values[k] === 'string' && values[k] !== '' ? (values[k] as string) : null);
    const record: ZohoRecord = {
      id: newId(),
      First_Name: str('First_Name'),
      Last_Name: str('Last_Name') ?? '',
      Phone: str('Phone'),
      Mobile: str('Mobile'),
      Email: str('Email'),
      Company: str('Company'),
      Lead_Source: str('Lead_Source'),
      Mailing_City: str('Mailing_City'),
      Created_Time: zohoTime(now()),
      Tag: [],
    };
    records[module].push(record);
    return record.id;
  }

  function findRecord(id: string): { module: ZohoModule; record: ZohoRecord } | undefined {
    for (const module of MODULES) {
      const record = records[module].find((r) => r.id === id);
      if (record) return { module, record };
    }
    return undefined;
  }

  function pick(record: ZohoRecord | ZohoNote, fields: string | undefined): Record<string, unknown> {
    if (!fields) return { ...record };
    const out: Record<string, unknown> = { id: record.id };
    for (const f of fields.split(',').map((s) => s.trim())) {
      if (f in record) out[f] = (record as unknown as Record<string, unknown>)[f];
    }
    return out;
  }

  function page<T>(rows: T[], query: Record<string, string>): { slice: T[]; info: Record<string, unknown> } {
    const perPage = Math.min(Number(query['per_page'] ?? 200) || 200, 200);
    const pageNo = Math.max(Number(query['page'] ?? 1) || 1, 1);
    const slice = rows.slice((pageNo - 1) * perPage, pageNo * perPage);
    return { slice, info: { per_page: perPage, count: slice.length, page: pageNo, more_records: rows.length > pageNo * perPage } };
  }

  type Reply = { status: number; body?: unknown; headers?: Record<string, string> };

  function requireToken(req: IncomingMessage): void {
    const auth = req.headers['authorization'];
    const match = typeof auth === 'string' ? /^Zoho-oauthtoken (\S+)$/.exec(auth) : null;
    const expiresAt = match ? accessTokens.get(match[1] as string) : undefined;
    if (expiresAt === undefined || expiresAt <= now()) throw new ZohoHttpError(401, 'INVALID_TOKEN', 'invalid oauth token');
  }

  function insertMany(items: unknown, validate: (item: Record<string, unknown>) => ZohoHttpError | null, insert: (item: Record<string, unknown>) => Record<string, unknown>): Reply {
    if (!Array.isArray(items) || items.length === 0) throw new ZohoHttpError(400, 'INVALID_DATA', 'invalid data', { expected_data_type: 'jsonarray', api_name: 'data' });
    if (items.length > 100) throw new ZohoHttpError(400, 'LIMIT_EXCEEDED', 'the number of records exceeds the limit', { limit: 100 });
    const results = items.map((item: unknown) => {
      const row = item !== null && typeof item === 'object' && !Array.isArray(item) ? (item as Record<string, unknown>) : {};
      const problem = validate(row);
      if (problem) return { code: problem.code, details: problem.details, message: problem.message, status: 'error' };
      return { code: 'SUCCESS', details: insert(row), message: 'record added', status: 'success' };
    });
    const ok = results.filter((r) => r.code === 'SUCCESS').length;
    return { status: ok === results.length ? 201 : ok === 0 ? 400 : 207, body: { data: results } };
  }

  function handleApi(req: IncomingMessage, path: string, query: Record<string, string>, body: unknown): Reply {
    const parts = path.split('/').filter(Boolean); // crm, v8, ...
    if (parts[0] !== 'crm' || parts[1] !== 'v8') throw new ZohoHttpError(404, 'INVALID_URL_PATTERN', 'Please check if the URL trying to access is a correct one');
    requireToken(req);
    const [, , first, second, third] = parts;
    const module = MODULES.find((m) => m === first);

    if (req.method === 'GET' && module && second === 'search' && third === undefined) {
      const indexed = records[module].filter((r) => Date.parse(r.Created_Time) <= now() - searchIndexLagMs);
      let matches: ZohoRecord[];
      if (query['criteria'] !== undefined) {
        const { tree, conditions } = parseCriteria(query['criteria']);
        if (conditions > 10) throw new ZohoHttpError(400, 'INVALID_QUERY', 'invalid query formed', { reason: 'more than 10 criteria', api_name: 'criteria' });
        matches = indexed.filter((r) => matchCriteria(r, tree));
      } else if (query['phone'] !== undefined) {
        const wanted = digits(query['phone']);
        matches = wanted === '' ? [] : indexed.filter((r) => digits(r.Phone) === wanted || digits(r.Mobile) === wanted);
      } else if (query['email'] !== undefined) {
        const wanted = query['email'].toLowerCase();
        matches = indexed.filter((r) => r.Email?.toLowerCase() === wanted);
      } else {
        throw new ZohoHttpError(400, 'REQUIRED_PARAM_MISSING', 'One of the expected parameter is missing', { param: 'criteria' });
      }
      if (matches.length === 0) return { status: 204 };
      const { slice, info } = page(matches, query);
      return { status: 200, body: { data: slice.map((r) => pick(r, query['fields'])), info } };
    }

    if (req.method === 'POST' && module && second === undefined) {
      const items = (body as { data?: unknown } | null)?.data;
      return insertMany(
        items,
        (row) => {
          if (typeof row['Last_Name'] !== 'string' || row['Last_Name'] === '') return new ZohoHttpError(400, 'MANDATORY_NOT_FOUND', 'required field not found', { api_name: 'Last_Name' });
          if (module === 'Leads' && leadsRequireCompany && (typeof row['Company'] !== 'string' || row['Company'] === '')) {
            return new ZohoHttpError(400, 'MANDATORY_NOT_FOUND', 'required field not found', { api_name: 'Company' });
          }
          return null;
        },
        (row) => {
          const id = insertRecord(module, row);
          const t = zohoTime(now());
          return { Modified_Time: t, Modified_By: OWNER, Created_Time: t, id, Created_By: OWNER, $approval_state: 'approved' };
        },
      );
    }

    if (req.method === 'POST' && first === 'Notes' && second === undefined) {
      const items = (body as { data?: unknown } | null)?.data;
      return insertMany(
        items,
        (row) => {
          if (typeof row['Note_Content'] !== 'string' || row['Note_Content'] === '') return new ZohoHttpError(400, 'MANDATORY_NOT_FOUND', 'required field not found', { api_name: 'Note_Content' });
          const parent = row['Parent_Id'] as { module?: { api_name?: unknown }; id?: unknown } | undefined;
          const found = typeof parent?.id === 'string' ? findRecord(parent.id) : undefined;
          if (!found || parent?.module?.api_name !== found.module) return new ZohoHttpError(400, 'INVALID_DATA', 'the related id given seems to be invalid', { api_name: 'Parent_Id' });
          return null;
        },
        (row) => {
          const parent = row['Parent_Id'] as { module: { api_name: ZohoModule }; id: string };
          const t = zohoTime(now());
          const note: ZohoNote = {
            id: newId(),
            Note_Title: typeof row['Note_Title'] === 'string' ? row['Note_Title'] : null,
            Note_Content: row['Note_Content'] as string,
            Parent_Id: { module: { api_name: parent.module.api_name }, id: parent.id },
            Created_Time: t,
            Modified_Time: t,
          };
          notes.push(note);
          return { Modified_Time: t, Modified_By: OWNER, Created_Time: t, id: note.id, Created_By: OWNER };
        },
      );
    }

    if (req.method === 'POST' && module && second !== undefined && third === 'actions' && (parts[5] === 'add_tags' || parts[5] === 'remove_tags') && parts.length === 6) {
      const found = findRecord(second);
      if (!found || found.module !== module) throw new ZohoHttpError(400, 'INVALID_DATA', 'the id given seems to be invalid', { id: second });
      const tags = (body as { tags?: unknown } | null)?.tags;
      if (!Array.isArray(tags) || tags.length === 0) throw new ZohoHttpError(400, 'MANDATORY_NOT_FOUND', 'required field not found', { api_name: 'tags' });
      const wanted: ZohoTag[] = [];
      for (const raw of tags) {
        const t = (raw !== null && typeof raw === 'object' ? raw : {}) as { name?: unknown; id?: unknown };
        // The id takes precedence over the name.
        let tag = typeof t.id === 'string' ? moduleTags[module].find((x) => x.id === t.id) : undefined;
        if (!tag && typeof t.id === 'string') throw new ZohoHttpError(400, 'INVALID_DATA', 'invalid tag id', { api_name: 'id', id: t.id });
        if (!tag && typeof t.name === 'string' && t.name.trim() !== '') {
          const name = t.name.trim();
          tag = moduleTags[module].find((x) => x.name.toLowerCase() === name.toLowerCase());
          if (!tag && parts[5] === 'add_tags') {
            tag = { name, id: newId() };
            moduleTags[module].push(tag);
          }
          if (!tag) tag = { name, id: '' }; // removing a tag the org never had: nothing to remove
        }
        if (!tag) throw new ZohoHttpError(400, 'MANDATORY_NOT_FOUND', 'required field not found', { api_name: 'name' });
        wanted.push(tag);
      }
      const record = found.record;
      if (parts[5] === 'add_tags') {
        const overWrite = (body as { over_write?: unknown }).over_write === true;
        const next = overWrite ? [] : [...record.Tag];
        for (const tag of wanted) if (!next.some((x) => x.id === tag.id)) next.push({ ...tag });
        record.Tag = next;
      } else {
        record.Tag = record.Tag.filter((x) => !wanted.some((w) => w.id === x.id || w.name.toLowerCase() === x.name.toLowerCase()));
      }
      return {
        status: 200,
        body: { data: [{ code: 'SUCCESS', details: { id: record.id, tags: record.Tag.map((t) => ({ ...t })) }, message: 'tags updated successfully', status: 'success' }] },
      };
    }

    if (req.method === 'GET' && module && second !== undefined && third === 'Notes') {
      if (!query['fields']) throw new ZohoHttpError(400, 'REQUIRED_PARAM_MISSING', 'One of the expected parameter is missing', { param: 'fields' });
      const found = findRecord(second);
      if (!found || found.module !== module) throw new ZohoHttpError(400, 'INVALID_DATA', 'the related id given seems to be invalid', { id: second });
      const all = notes.filter((n) => n.Parent_Id.id === second);
      if (all.length === 0) return { status: 204 };
      const since = req.headers['if-modified-since'];
      let rows = all;
      if (typeof since === 'string') {
        const sinceMs = Date.parse(since);
        if (Number.isNaN(sinceMs)) throw new ZohoHttpError(400, 'INVALID_DATA', 'invalid If-Modified-Since', { header: 'If-Modified-Since' });
        rows = all.filter((n) => Date.parse(n.Modified_Time) >= sinceMs);
        if (rows.length === 0) return { status: 304 };
      }
      const { slice, info } = page(rows, query);
      return { status: 200, body: { data: slice.map((n) => pick(n, query['fields'])), info } };
    }

    throw new ZohoHttpError(404, 'INVALID_URL_PATTERN', 'Please check if the URL trying to access is a correct one');
  }

  function handleAccounts(req: IncomingMessage, path: string, query: Record<string, string>, form: Record<string, string>): Reply {
    if (req.method === 'GET' && path === '/oauth/v2/auth') {
      if (query['client_id'] !== clientId) return { status: 400, body: { error: 'invalid_client' } };
      if (query['redirect_uri'] !== redirectUri) return { status: 400, body: { error: 'invalid_redirect_uri' } };
      if (query['response_type'] !== 'code' || !query['scope']) return { status: 400, body: { error: 'invalid_request' } };
      const code = secret('code');
      codes.set(code, { used: false, redirectUri });
      const location = new URL(redirectUri);
      location.searchParams.set('code', code);
      if (query['state'] !== undefined) location.searchParams.set('state', query['state']);
      location.searchParams.set('location', options.location ?? 'us');
      location.searchParams.set('accounts-server', accountsUrl);
      return { status: 302, headers: { location: location.toString() } };
    }
    if (req.method === 'POST' && path === '/oauth/v2/token') {
      const p = { ...query, ...form };
      if (p['client_id'] !== clientId) return { status: 200, body: { error: 'invalid_client' } };
      if (p['client_secret'] !== clientSecret) return { status: 200, body: { error: 'invalid_client_secret' } };
      if (p['grant_type'] === 'authorization_code') {
        const entry = codes.get(p['code'] ?? '');
        if (!entry || entry.used || entry.redirectUri !== p['redirect_uri']) return { status: 200, body: { error: 'invalid_code' } };
        entry.used = true;
        const refresh = secret('rt');
        refreshTokens.add(refresh);
        return { status: 200, body: { ...issueAccessToken(), refresh_token: refresh, scope: 'ZohoCRM.modules.ALL', api_domain: apiUrl, token_type: 'Bearer' } };
      }
      if (p['grant_type'] === 'refresh_token') {
        if (!refreshTokens.has(p['refresh_token'] ?? '')) return { status: 200, body: { error: 'invalid_code' } };
        return { status: 200, body: { ...issueAccessToken(), scope: 'ZohoCRM.modules.ALL', api_domain: apiUrl, token_type: 'Bearer' } };
      }
      return { status: 200, body: { error: 'unsupported_grant_type' } };
    }
    return { status: 404, body: { error: 'not_found' } };
  }

  function makeServer(kind: 'accounts' | 'api'): Server {
    return createServer((req: IncomingMessage, res: ServerResponse) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const url = new URL(req.url ?? '/', 'http://fake');
        const query = Object.fromEntries(url.searchParams);
        const text = Buffer.concat(chunks).toString('utf8');
        const contentType = String(req.headers['content-type'] ?? '');
        let body: unknown = null;
        let form: Record<string, string> = {};
        if (contentType.includes('application/x-www-form-urlencoded')) {
          form = Object.fromEntries(new URLSearchParams(text));
          body = form;
        } else if (text !== '') {
          try {
            body = JSON.parse(text);
          } catch {
            body = text;
          }
        }
        const record: ZohoRecordedRequest = { server: kind, method: req.method ?? 'GET', path: url.pathname, query, headers: { ...req.headers }, body, status: 0 };
        requests.push(record);

        let reply: Reply;
        if (kind === 'api' && failures[0]) {
          const failure = failures[0];
          failure.count = (failure.count ?? 1) - 1;
          if (failure.count <= 0) failures.shift();
          const code = failure.status === 429 ? 'TOO_MANY_REQUESTS' : 'INTERNAL_ERROR';
          const message = failure.status === 429 ? 'too many requests continuously' : 'Internal Server Error';
          reply = {
            status: failure.status,
            body: { code, details: {}, message, status: 'error' },
            ...(failure.retryAfter !== undefined ? { headers: { 'retry-after': failure.retryAfter } } : {}),
          };
        } else if (kind === 'api' && typeof body === 'string') {
          reply = { status: 400, body: { code: 'INVALID_DATA', details: {}, message: 'body is not valid JSON', status: 'error' } };
        } else {
          try {
            reply = kind === 'api' ? handleApi(req, url.pathname, query, body) : handleAccounts(req, url.pathname, query, form);
          } catch (e) {
            if (!(e instanceof ZohoHttpError)) throw e;
            reply = { status: e.status, body: { code: e.code, details: e.details, message: e.message, status: 'error' } };
          }
        }
        record.status = reply.status;
        const headers: Record<string, string> = { ...(reply.headers ?? {}) };
        if (reply.body !== undefined) headers['content-type'] = 'application/json;charset=UTF-8';
        res.writeHead(reply.status, headers);
        res.end(reply.body === undefined ? undefined : JSON.stringify(reply.body));
        for (const hook of hooks) hook(record);
      });
    });
  }

  const accounts = makeServer('accounts');
  const api = makeServer('api');
  await Promise.all([accounts, api].map((s) => new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve))));
  accountsUrl = `http://127.0.0.1:${(accounts.address() as AddressInfo).port}`;
  apiUrl = `http://127.0.0.1:${(api.address() as AddressInfo).port}`;

  const closeServer = (s: Server) =>
    new Promise<void>((resolve, reject) => {
      s.closeAllConnections();
      s.close((err) => (err ? reject(err) : resolve()));
    });

  return {
    accountsUrl,
    apiUrl,
    clientId,
    clientSecret,
    redirectUri,
    requests,
    apiRequests: () => requests.filter((r) => r.server === 'api'),
    issueRefreshToken: () => {
      const token = secret('rt');
      refreshTokens.add(token);
      return token;
    },
    revokeAccessTokens: () => accessTokens.clear(),
    failNext: (failure) => failures.push({ ...failure }),
    addRecord: (module, values) => insertRecord(module, values),
    deleteRecord: (recordId) => {
      for (const module of MODULES) records[module] = records[module].filter((r) => r.id !== recordId);
      for (let i = notes.length - 1; i >= 0; i -= 1) if (notes[i]?.Parent_Id.id === recordId) notes.splice(i, 1);
    },
    afterRequest: (hook) => hooks.push(hook),
    records: (module) => [...records[module]],
    tags: (module) => [...moduleTags[module]],
    notesOf: (recordId) => notes.filter((n) => n.Parent_Id.id === recordId),
    close: async () => {
      await Promise.all([closeServer(accounts), closeServer(api)]);
    },
  };
}
