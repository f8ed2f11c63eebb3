/**
 * A local fake of an Odoo server speaking BOTH external APIs over one in-memory database, for
 * running the real Odoo connector (odoo-xmlrpc client for XML-RPC, fetch for JSON-2) against it.
 *
 * Modelled (wire formats as Odoo serves them):
 * - XML-RPC (Odoo ≤ 18): `POST /xmlrpc/2/common` `version`, `authenticate(db, login, password, env)`
 *   and `login(db, login, password)` (uid, or `False` for bad credentials — not a fault, as Odoo does);
 *   `POST /xmlrpc/2/object` `execute_kw(db, uid, password, model, method, args, kwargs?)`. Responses and
 *   faults are written the way Python's xmlrpc.client marshals them (HTTP 200 even for faults); fault
 *   codes as Odoo maps exceptions: 3 AccessDenied ("Access Denied"), 4 AccessError, 2 UserError and
 *   its subclasses (ValidationError, MissingError, "Object X doesn't exist"), 1 anything else with the traceback-like text ending in "<Exception>: <message>". Requests are
 *   parsed with the `xmlrpc` package's deserializer. Quirk kept: `create` with `vals_list` as a
 *   keyword fails like Odoo's dispatcher (it reads args[0]); a dict returns one id, a list returns ids.
 * - JSON-2 (Odoo 19+): `POST /json/2/<model>/<method>`, `Authorization: bearer <api key>`, optional
 *   `X-Odoo-Database`, JSON object body of named arguments plus `ids` and `context`. 200 with the JSON
 *   return value (recordsets → id lists, so `create` and `message_post` answer `[id]`); errors as
 *   `{ name, message, arguments, context, debug }` with 401 (Invalid apikey), 404 (unknown model or
 *   method, missing record), 422 (unexpected keyword argument, ids on an @api.model method,
 *   UserError/ValidationError), 400 (non-JSON body), 500 (ValueError such as an invalid field in a
 *   domain or an unknown message_post value); an unknown X-Odoo-Database gets Odoo's HTML 404 page.
 * - Models: res.partner (name, phone, mobile, email, country_code, active, category_id tags, and `phone_sanitized`
 *   computed like Odoo's phone mixin: the first of mobile/phone that parses as a valid number for
 *   the partner's country or the company's, in E.164, else False), crm.lead (name, partner_id,
 *   probability, active, type), mail.message (model, res_id, body, message_type, subtype_id → mail.message.subtype
 *   1 Discussions / 2 Note, author_id, date), res.partner.category (name, active). `version: 19` drops res.partner.mobile (as Odoo 18.2+/19 did), so using it
 *   fails with "Invalid field". `crmInstalled: false` removes crm.lead (XML-RPC fault 2 "Object crm.lead
 *   doesn't exist" / JSON-2 404). New crm.lead rows are opportunities with probability 0.
 * - phone.blacklist (phone_validation: number, active), unless `phoneValidationInstalled: false`
 *   (fault 2 / 404): its public `add(number, message=None)` / `remove(number, message=None)`, plain
 *   methods called on an empty recordset (XML-RPC args `[[]]`, JSON-2 `ids: []`), sanitize the
 *   number to E.164 for the company's country and create or re-activate (add) / archive (remove)
 *   the one entry per number; `message` is logged on the entry as a note. Both answer the entry's
 *   ids (the real methods return the recordset; how XML-RPC marshals it is not modelled).
 * - Methods: search_read, search, search_count, read, create, write, fields_get, and message_post
 *   (keyword-only; ensure_one; appends a mail.message; JSON-2 answers `[id]`; a
 *   non-HTML body is escaped and wrapped in `<p>`; XML-RPC answers one id on 18 (@api.returns) and `[id]` on 19; strips `data-*` attributes Odoo's sanitizer does
 *   not whitelist, and script tags). A new phone.blacklist entry gets Odoo's own "Phone Blacklist
 *   created" note before the caller's message. `phonenumbers: false` stores raw phone text.
 * - Held to a real Odoo 19 by test/real-crm-odoo.test.ts (same scenario, compared shapes); the
 *   XML-RPC behaviours of Odoo 17/18 are taken from their source: odoo/service/model.py (the
 *   "Object %s doesn't exist" UserError, fault codes in odoo/http.py), mail_thread.message_post
 *   (@api.returns → one id on XML-RPC in 17/18; 19 has no api.returns, so an id list), crm.lead's type default (crm_lead.py
 *   `_default_type`/group_use_lead) and res.partner.mobile (present until 18.0).
 * - Domains in prefix notation with '&', '|', '!' (implicit '&' between top-level terms), operators
 *   '=', '!=', 'in', 'not in', 'like', 'ilike', 'not ilike', '<', '<=', '>', '>=' with SQL LIKE wildcards
 *   (`%`, `_`) kept in like/ilike values as Odoo does; archived records are hidden unless the domain
 *   mentions `active`. On many2many fields (res.partner.category_id): '=' / 'in' mean "has any of",
 *   '!=' / 'not in' "has none of", `= False` "has no tag", like/ilike match the tags' names; create and
 *   write take an id list or the commands (6, 0, ids), (4, id), (3, id), (5,); reads give the id list.
 * - failNext(): a reverse proxy's 429/5xx (HTML body, optional Retry-After) for the next request(s).
 * - Every request is recorded (protocol, path, rpc method, model, method, args, kwargs, headers).
 *
 * NOT modelled: the blacklist's effect on mailings (nothing here sends SMS/WhatsApp), the older
 * (≤ 15) `add(number)` signature without `message`, access rights and record rules (one user sees everything), multi-company, other
 * models or fields, field defaults beyond the ones above, onchanges, translations, context keys,
 * dotted paths in domains ("category_id.name"), one2many fields, child_of/parent_of operators,
 * `order` beyond "field [asc|desc], …", read_group, the real lxml HTML
 * cleaner (only the two sanitizer behaviours named above), mail followers and notifications, the
 * `/jsonrpc` endpoint, `/web/session` logins, database listing, floats (whole numbers go out as <int>).
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRequire } from 'node:module';
import { Readable } from 'node:stream';
import { parsePhoneNumberFromString, type CountryCode } from 'libphonenumber-js/max';

// ---------- public types ----------

export type OdooValue = string | number | boolean | null | OdooValue[] | { [key: string]: OdooValue };
export type OdooRecord = { id: number } & Record<string, OdooValue>;

export interface OdooRecordedRequest {
  protocol: 'xmlrpc' | 'json2' | 'other';
  path: string;
  headers: Record<string, string | string[] | undefined>;
  /** XML-RPC method (authenticate, execute_kw…); for JSON-2 the model method. */
  rpcMethod: string | null;
  model: string | null;
  method: string | null;
  args: unknown[];
  kwargs: Record<string, unknown>;
  status: number;
}

export interface OdooFakeOptions {
  db?: string;
  login?: string;
  apiKey?: string;
  uid?: number;
  /** 18 keeps res.partner.mobile; 19 drops it. Default 18. */
  version?: 18 | 19;
  crmInstalled?: boolean;
  /** phone_validation (phone.blacklist). Default true; false removes the model (KeyError / 404). */
  phoneValidationInstalled?: boolean;
  /** The company's country, used to sanitize national numbers like "06…". Default MA (a fresh real Odoo has none: set it). */
  companyCountry?: CountryCode;
  /**
   * Whether Odoo can import the Python `phonenumbers` package. Default true. Without it
   * phone_validation's phone_format returns the text unchanged, so `phone_sanitized` holds the raw
   * input ("06 12 34 56 78") and the blacklist compares numbers as typed.
   */
  phonenumbers?: boolean;
}

export interface OdooFailure {
  status: number;
  retryAfter?: string;
  /** How many consecutive requests fail. Default 1. */
  count?: number;
}

export interface OdooFake {
  url: string;
  db: string;
  login: string;
  apiKey: string;
  uid: number;
  requests: OdooRecordedRequest[];
  /** Model-level requests only (execute_kw and JSON-2 calls), in order. */
  calls(): OdooRecordedRequest[];
  failNext(failure: OdooFailure): void;
  /** Replaces the user's API key (revocation / rotation): the old one stops working at once. */
  setApiKey(key: string): void;
  addPartner(values: { name: string; phone?: string | false; mobile?: string | false; email?: string | false; country_code?: string | false; active?: boolean; category_id?: number[] }): number;
  /** A contact tag (res.partner.category); partners get it with `category_id: [id]`. */
  addCategory(name: string): number;
  addLead(values: { name: string; partner_id: number | false; probability?: number; active?: boolean; type?: 'lead' | 'opportunity' }): number;
  records(model: string): OdooRecord[];
  messagesOf(model: string, resId: number): OdooRecord[];
  close(): Promise<void>;
}

// ---------- errors the fake raises, shaped like the Python exceptions Odoo maps ----------

type PyErrorKind = 'AccessDenied' | 'AccessError' | 'UserError' | 'ValidationError' | 'MissingError' | 'ValueError' | 'KeyError' | 'TypeError' | 'IndexError' | 'AttributeError' | 'NotFound' | 'UnprocessableEntity';

class PyError extends Error {
  readonly kind: PyErrorKind;
  constructor(kind: PyErrorKind, message: string) {
    super(message);
    this.kind = kind;
  }
}

const PY_QUALIFIED: Record<PyErrorKind, string> = {
  AccessDenied: 'odoo.exceptions.AccessDenied',
  AccessError: 'odoo.exceptions.AccessError',
  UserError: 'odoo.exceptions.UserError',
  ValidationError: 'odoo.exceptions.ValidationError',
  MissingError: 'odoo.exceptions.MissingError',
  ValueError: 'builtins.ValueError',
  KeyError: 'builtins.KeyError',
  TypeError: 'builtins.TypeError',
  IndexError: 'builtins.IndexError',
  AttributeError: 'builtins.AttributeError',
  NotFound: 'werkzeug.exceptions.NotFound',
  UnprocessableEntity: 'werkzeug.exceptions.UnprocessableEntity',
};

// ---------- model definitions ----------

interface FieldDef {
  type: 'integer' | 'char' | 'html' | 'boolean' | 'float' | 'many2one' | 'many2many' | 'selection' | 'datetime';
  relation?: string;
}

const PARTNER_FIELDS: Record<string, FieldDef> = {
  id: { type: 'integer' },
  name: { type: 'char' },
  display_name: { type: 'char' },
  phone: { type: 'char' },
  mobile: { type: 'char' },
  email: { type: 'char' },
  country_code: { type: 'char' },
  phone_sanitized: { type: 'char' },
  active: { type: 'boolean' },
  category_id: { type: 'many2many', relation: 'res.partner.category' },
};
/** Contact tags. */
const CATEGORY_FIELDS: Record<string, FieldDef> = {
  id: { type: 'integer' },
  name: { type: 'char' },
  display_name: { type: 'char' },
  active: { type: 'boolean' },
};
const LEAD_FIELDS: Record<string, FieldDef> = {
  id: { type: 'integer' },
  name: { type: 'char' },
  display_name: { type: 'char' },
  partner_id: { type: 'many2one', relation: 'res.partner' },
  probability: { type: 'float' },
  active: { type: 'boolean' },
  type: { type: 'selection' },
};
const MESSAGE_FIELDS: Record<string, FieldDef> = {
  id: { type: 'integer' },
  model: { type: 'char' },
  res_id: { type: 'integer' },
  body: { type: 'html' },
  message_type: { type: 'selection' },
  subtype_id: { type: 'many2one', relation: 'mail.message.subtype' },
  author_id: { type: 'many2one', relation: 'res.partner' },
  subject: { type: 'char' },
  date: { type: 'datetime' },
};

/** The two subtypes notes and comments use, with the ids a fresh Odoo 19 database gives them. */
const SUBTYPE_FIELDS: Record<string, FieldDef> = {
  id: { type: 'integer' },
  name: { type: 'char' },
  display_name: { type: 'char' },
};
const SUBTYPE_IDS: Record<string, number> = { 'mail.mt_comment': 1, 'mail.mt_note': 2 };

const BLACKLIST_FIELDS: Record<string, FieldDef> = {
  id: { type: 'integer' },
  number: { type: 'char' },
  display_name: { type: 'char' },
  active: { type: 'boolean' },
};

const MAIL_THREAD_MODELS = new Set(['res.partner', 'crm.lead', 'phone.blacklist']);
const MESSAGE_POST_KWARGS = new Set(['body', 'subject', 'message_type', 'author_id', 'subtype_xmlid', 'subtype_id', 'partner_ids', 'attachment_ids', 'body_is_html', 'parent_id', 'email_from']);
/** data-* attributes Odoo's sanitizer keeps (tools/mail.py safe_attrs, abridged). */
const SAFE_DATA_ATTRS = /^data-(o-mail-quote|oe-[\w-]+|publish|id|res_id|interval|member_id|scroll-background-ratio|view-id|class|mimetype|original-src|original-id|gl-filter|quality|resize-width|shape|shape-colors|file-name|original-mimetype)$/;

/** Positional parameter names after `self` (and after ids for record methods). */
const SIGNATURES: Record<string, { recordMethod: boolean; params: string[]; keywordOnly?: string[] }> = {
  search_read: { recordMethod: false, params: ['domain', 'fields', 'offset', 'limit', 'order'] },
  search: { recordMethod: false, params: ['domain', 'offset', 'limit', 'order'] },
  search_count: { recordMethod: false, params: ['domain', 'limit'] },
  create: { recordMethod: false, params: ['vals_list'] },
  fields_get: { recordMethod: false, params: ['allfields', 'attributes'] },
  read: { recordMethod: true, params: ['fields', 'load'] },
  write: { recordMethod: true, params: ['vals'] },
  message_post: { recordMethod: true, params: [], keywordOnly: [...MESSAGE_POST_KWARGS] },
  // phone.blacklist (phone_validation): plain methods, so called on a recordset (ids, usually []).
  add: { recordMethod: true, params: ['number', 'message'] },
  remove: { recordMethod: true, params: ['number', 'message'] },
};

// ---------- XML-RPC marshalling (Python xmlrpc.client style) ----------

type XmlRpcDeserializer = {
  deserializeMethodCall(stream: Readable, cb: (err: Error | null, method: string, params: unknown[]) => void): void;
};
type XmlRpcDeserializerCtor = new (encoding?: string) => XmlRpcDeserializer;
const requireCjs = createRequire(import.meta.url);
const Deserializer = requireCjs('xmlrpc/lib/deserializer.js') as XmlRpcDeserializerCtor;

function xmlEscape(s: string): string {
  return s.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;');
}

function marshal(value: unknown): string {
  if (value === null || value === undefined) throw new PyError('TypeError', 'cannot marshal None unless allow_none is enabled');
  if (typeof value === 'boolean') return `<value><boolean>${value ? 1 : 0}</boolean></value>`;
  if (typeof value === 'number') {
    return Number.isInteger(value) ? `<value><int>${value}</int></value>` : `<value><double>${value}</double></value>`;
  }
  if (typeof value === 'string') return `<value><string>${xmlEscape(value)}</string></value>`;
  if (Array.isArray(value)) return `<value><array><data>\n${value.map(marshal).join('\n')}\n</data></array></value>`;
  if (typeof value === 'object') {
    const members = Object.entries(value as Record<string, unknown>)
      .map(([k, v]) => `<member>\n<name>${xmlEscape(k)}</name>\n${marshal(v)}\n</member>`)
      .join('\n');
    return `<value><struct>\n${members}\n</struct></value>`;
  }
  throw new PyError('TypeError', `cannot marshal ${typeof value} objects`);
}

function methodResponse(value: unknown): string {
  return `<?xml version='1.0'?>\n<methodResponse>\n<params>\n<param>\n${marshal(value)}\n</param>\n</params>\n</methodResponse>\n`;
}

function faultResponse(code: number, message: string): string {
  return `<?xml version='1.0'?>\n<methodResponse>\n<fault>\n${marshal({ faultCode: code, faultString: message })}\n</fault>\n</methodResponse>\n`;
}

function faultFor(err: PyError): { code: number; text: string } {
  switch (err.kind) {
    case 'AccessDenied':
      return { code: 3, text: err.message };
    case 'AccessError':
      return { code: 4, text: err.message };
    case 'UserError':
    case 'ValidationError':
    case 'MissingError':
      // UserError and its subclasses (odoo/http.py serialize_exception → RPC_FAULT_CODE_WARNING).
      return { code: 2, text: err.message };
    default:
      // Odoo sends the formatted traceback; its last line is "<Exception>: <message>".
      return { code: 1, text: `Traceback (most recent call last):\n  File "odoo/service/model.py", line 1, in fake\n${err.kind}: ${err.message}\n` };
  }
}

const NO_DATABASE_PAGE =
  '<!DOCTYPE html>\n<title>404 Not Found</title>\n<h1>Not Found</h1>\n<p>No database is selected and the requested URL was not found in the server-wide controllers.</p>\n<p>Please verify the hostname, <a href=/web/login>login</a> and try again.</p>\n\n<!-- Alternatively, use the X-Odoo-Database header. -->\n';

// ---------- the fake ----------

export async function startOdooFake(options: OdooFakeOptions = {}): Promise<OdooFake> {
  const db = options.db ?? 'coex';
  const login = options.login ?? 'bot@coex.example';
  let apiKey = options.apiKey ?? 'odoo-api-key-for-tests';
  const uid = options.uid ?? 2;
  const version = options.version ?? 18;
  const companyCountry = options.companyCountry ?? 'MA';

  const models = new Map<string, { fields: Record<string, FieldDef>; rows: OdooRecord[]; nextId: number }>();
  const partnerFields = { ...PARTNER_FIELDS };
  if (version >= 19) delete partnerFields['mobile'];
  models.set('res.partner', { fields: partnerFields, rows: [], nextId: 7 });
  models.set('mail.message', { fields: MESSAGE_FIELDS, rows: [], nextId: 1001 });
  models.set('res.partner.category', { fields: CATEGORY_FIELDS, rows: [], nextId: 1 });
  models.set('mail.message.subtype', {
    fields: SUBTYPE_FIELDS,
    rows: [
      { id: 1, name: 'Discussions' },
      { id: 2, name: 'Note' },
    ],
    nextId: 3,
  });
  if (options.crmInstalled !== false) models.set('crm.lead', { fields: LEAD_FIELDS, rows: [], nextId: 301 });
  if (options.phoneValidationInstalled !== false) models.set('phone.blacklist', { fields: BLACKLIST_FIELDS, rows: [], nextId: 51 });

  const requests: OdooRecordedRequest[] = [];
  const failures: OdooFailure[] = [];

  function model(name: string) {
    const m = models.get(name);
    // odoo/service/model.py (17, 18, 19): `raise UserError(_("Object %s doesn't exist", model))` → fault 2.
    if (!m) throw new PyError('UserError', `Object ${name} doesn't exist`);
    return m;
  }

  function checkField(modelName: string, field: string): FieldDef {
    const def = model(modelName).fields[field];
    if (!def) throw new PyError('ValueError', `Invalid field '${field}' on model '${modelName}'`);
    return def;
  }

  function computePhoneSanitized(row: OdooRecord): string | false {
    const numberFields = version >= 19 ? ['phone'] : ['mobile', 'phone'];
    if (options.phonenumbers === false) {
      const raw = numberFields.map((f) => row[f]).find((v) => typeof v === 'string' && v.trim() !== '');
      return typeof raw === 'string' ? raw : false;
    }
    const country = (typeof row['country_code'] === 'string' && row['country_code'] ? row['country_code'] : companyCountry) as CountryCode;
    for (const f of numberFields) {
      const v = row[f];
      if (typeof v !== 'string' || v.trim() === '') continue;
      const parsed = parsePhoneNumberFromString(v, country);
      if (parsed?.isValid()) return parsed.number;
    }
    return false;
  }

  function displayName(modelName: string, id: number): string {
    const row = model(modelName).rows.find((r) => r.id === id);
    return typeof row?.['name'] === 'string' ? row['name'] : `${modelName},${id}`;
  }

  function insert(modelName: string, vals: Record<string, unknown>): number {
    const m = model(modelName);
    const row: OdooRecord = { id: m.nextId++ };
    for (const [field, def] of Object.entries(m.fields)) {
      if (field === 'id') continue;
      row[field] = def.type === 'boolean' ? field === 'active' : def.type === 'float' || def.type === 'integer' ? 0 : def.type === 'many2many' ? [] : false;
    }
    for (const [field, value] of Object.entries(vals)) {
      if (field === 'id' || field === 'display_name' || field === 'phone_sanitized') continue;
      const def = checkField(modelName, field);
      row[field] = def.type === 'many2many' ? applyX2manyCommands([], value) : (value as OdooValue);
    }
    if (modelName === 'res.partner') row['phone_sanitized'] = computePhoneSanitized(row);
    // Without the "Leads" setting (crm.group_use_lead, off by default) new rows are opportunities.
    if (modelName === 'crm.lead' && vals['type'] === undefined) row['type'] = 'opportunity';
    m.rows.push(row);
    return row.id;
  }

  /** many2many values: a plain id list, or the commands (6, 0, ids) replace, (4, id) link, (3, id) unlink, (5,) clear. */
  function applyX2manyCommands(current: number[], value: unknown): number[] {
    if (!Array.isArray(value)) throw new PyError('ValueError', `Wrong value for many2many field: ${JSON.stringify(value)}`);
    if (value.every((v) => typeof v === 'number')) return [...new Set(value as number[])];
    let ids = [...current];
    for (const cmd of value) {
      if (!Array.isArray(cmd)) throw new PyError('ValueError', `Invalid command ${JSON.stringify(cmd)}`);
      const [op, id, list] = cmd as [unknown, unknown, unknown];
      if (op === 6 && Array.isArray(list)) ids = [...new Set(list as number[])];
      else if (op === 4 && typeof id === 'number') ids = ids.includes(id) ? ids : [...ids, id];
      else if (op === 3 && typeof id === 'number') ids = ids.filter((i) => i !== id);
      else if (op === 5) ids = [];
      else throw new PyError('ValueError', `Unsupported command ${JSON.stringify(cmd)}`);
    }
    return ids;
  }

  // ----- domains -----

  type Leaf = [string, string, unknown];

  function likeRegex(value: string): RegExp {
    const pattern = value
      .split('')
      .map((ch) => (ch === '%' ? '.*' : ch === '_' ? '.' : ch.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')))
      .join('');
    return new RegExp(pattern, 's');
  }

  function matchLeaf(modelName: string, row: OdooRecord, leaf: Leaf): boolean {
    const [field, op, value] = leaf;
    const def = checkField(modelName, field);
    let actual: unknown = row[field];
    if (def.type === 'many2one' && Array.isArray(actual)) actual = actual[0];
    if (def.type === 'many2many') return matchMany2many(def, Array.isArray(actual) ? (actual as number[]) : [], op, value);
    switch (op) {
      case '=':
        return value === false ? actual === false || actual === '' : actual === value;
      case '!=':
        return value === false ? !(actual === false || actual === '') : actual !== value;
      case 'in':
        return Array.isArray(value) && value.includes(actual);
      case 'not in':
        return Array.isArray(value) && !value.includes(actual);
      case 'like':
      case 'ilike':
      case 'not ilike': {
        if (typeof value !== 'string') throw new PyError('ValueError', `Invalid value ${JSON.stringify(value)} for operator ${op}`);
        if (typeof actual !== 'string') return op === 'not ilike';
        const re = likeRegex(value);
        const hit = op === 'like' ? re.test(actual) : new RegExp(re.source, 'is').test(actual);
        return op === 'not ilike' ? !hit : hit;
      }
      case '<':
      case '<=':
      case '>':
      case '>=': {
        if (typeof actual !== 'number' || typeof value !== 'number') return false;
        return op === '<' ? actual < value : op === '<=' ? actual <= value : op === '>' ? actual > value : actual >= value;
      }
      default:
        throw new PyError('ValueError', `Invalid leaf operator ${JSON.stringify(op)}`);
    }
  }

  /**
   * x2many leaves as Odoo reads them: '=' / 'in' are "has any of", '!=' / 'not in' "has none of",
   * `= False` "has none"; like/ilike match the related records' names (Odoo's name_search).
   */
  function matchMany2many(def: FieldDef, ids: number[], op: string, value: unknown): boolean {
    const wanted = value === false ? [] : Array.isArray(value) ? value : [value];
    switch (op) {
      case '=':
      case 'in':
        return value === false ? ids.length === 0 : ids.some((id) => wanted.includes(id));
      case '!=':
      case 'not in':
        return value === false ? ids.length > 0 : !ids.some((id) => wanted.includes(id));
      case 'like':
      case 'ilike':
      case 'not ilike': {
        if (typeof value !== 'string') throw new PyError('ValueError', `Invalid value ${JSON.stringify(value)} for operator ${op}`);
        const re = op === 'like' ? likeRegex(value) : new RegExp(likeRegex(value).source, 'is');
        const rows = model(def.relation ?? '').rows.filter((r) => ids.includes(r.id));
        const hit = rows.some((r) => typeof r['name'] === 'string' && re.test(r['name']));
        return op === 'not ilike' ? !hit : hit;
      }
      default:
        throw new PyError('ValueError', `Invalid leaf operator ${JSON.stringify(op)} for a many2many field`);
    }
  }

  /** Evaluates a prefix-notation domain; top-level terms are AND-ed like Odoo's normalize_domain. */
  function compileDomain(modelName: string, domain: unknown): (row: OdooRecord) => boolean {
    if (domain === undefined || domain === null || domain === false) return () => true;
    if (!Array.isArray(domain)) throw new PyError('ValueError', `Invalid domain ${JSON.stringify(domain)}`);
    let pos = 0;
    const parseTerm = (): ((row: OdooRecord) => boolean) => {
      const term: unknown = domain[pos++];
      if (term === '&' || term === '|') {
        const a = parseTerm();
        const b = parseTerm();
        return term === '&' ? (r) => a(r) && b(r) : (r) => a(r) || b(r);
      }
      if (term === '!') {
        const a = parseTerm();
        return (r) => !a(r);
      }
      if (Array.isArray(term) && term.length === 3 && typeof term[0] === 'string' && typeof term[1] === 'string') {
        const leaf = term as Leaf;
        checkField(modelName, leaf[0]);
        return (r) => matchLeaf(modelName, r, leaf);
      }
      throw new PyError('ValueError', `Invalid domain term ${JSON.stringify(term)}`);
    };
    const terms: Array<(row: OdooRecord) => boolean> = [];
    while (pos < domain.length) terms.push(parseTerm());
    const mentionsActive = JSON.stringify(domain).includes('"active"');
    const hasActive = 'active' in model(modelName).fields;
    return (row) => (mentionsActive || !hasActive || row['active'] !== false) && terms.every((t) => t(row));
  }

  function sortRows(rows: OdooRecord[], order: unknown): OdooRecord[] {
    const spec = typeof order === 'string' && order.trim() !== '' ? order : 'id';
    const keys = spec.split(',').map((part) => {
      const [field = 'id', dir = 'asc'] = part.trim().split(/\s+/);
      return { field, desc: dir.toLowerCase() === 'desc' };
    });
    return [...rows].sort((a, b) => {
      for (const { field, desc } of keys) {
        const av = a[field];
        const bv = b[field];
        if (av === bv) continue;
        const cmp = (av ?? '') < (bv ?? '') ? -1 : 1;
        return desc ? -cmp : cmp;
      }
      return 0;
    });
  }

  function readRow(modelName: string, row: OdooRecord, fields: unknown): Record<string, OdooValue> {
    const m = model(modelName);
    const names = Array.isArray(fields) && fields.length > 0 ? (fields as unknown[]) : Object.keys(m.fields);
    const out: Record<string, OdooValue> = { id: row.id };
    for (const name of names) {
      if (typeof name !== 'string') throw new PyError('ValueError', `Invalid field ${JSON.stringify(name)}`);
      const def = checkField(modelName, name);
      if (name === 'display_name') {
        out[name] = displayName(modelName, row.id);
        continue;
      }
      const value = row[name] ?? false;
      out[name] = def.type === 'many2one' && typeof value === 'number' && def.relation ? [value, displayName(def.relation, value)] : value;
    }
    return out;
  }

  function search(modelName: string, kw: Record<string, unknown>): OdooRecord[] {
    const matches = model(modelName).rows.filter(compileDomain(modelName, kw['domain']));
    const sorted = sortRows(matches, kw['order']);
    const offset = typeof kw['offset'] === 'number' ? kw['offset'] : 0;
    const limit = typeof kw['limit'] === 'number' && kw['limit'] > 0 ? kw['limit'] : undefined;
    return sorted.slice(offset, limit === undefined ? undefined : offset + limit);
  }

  function sanitizeHtml(html: string): string {
    // Attributes are only looked at inside tags, never in the text between them.
    return html
      .replace(/<script[\s\S]*?<\/script>/gi, '')
      .replace(/<[a-z][^>]*>/gi, (tag) =>
        tag.replace(/\s(data-[\w-]+|on\w+)(\s*=\s*("[^"]*"|'[^']*'|[^\s>]+))?/gi, (whole, name: string) =>
          SAFE_DATA_ATTRS.test(name.toLowerCase()) ? whole : '',
        ),
      );
  }

  /** A plain-text body as Odoo 19 stores it: escaped, wrapped in <p>, newlines kept (quotes come back unescaped). */
  function escapeText(text: string): string {
    return `<p>${xmlEscape(text)}</p>`;
  }

  // ----- method dispatch (shared by both protocols) -----

  function idsOf(value: unknown): number[] {
    if (typeof value === 'number') return [value];
    if (Array.isArray(value) && value.every((v) => typeof v === 'number')) return value as number[];
    throw new PyError('ValueError', `Invalid ids ${JSON.stringify(value)}`);
  }

  function callMethod(protocol: 'xmlrpc' | 'json2', modelName: string, method: string, ids: number[], kw: Record<string, unknown>, createArg: unknown): unknown {
    const m = model(modelName);
    switch (method) {
      case 'search_read':
        return search(modelName, kw).map((row) => readRow(modelName, row, kw['fields']));
      case 'search':
        return search(modelName, kw).map((row) => row.id);
      case 'search_count':
        return search(modelName, { domain: kw['domain'] }).length;
      case 'fields_get': {
        const wanted = Array.isArray(kw['allfields']) && kw['allfields'].length > 0 ? (kw['allfields'] as string[]) : Object.keys(m.fields);
        const out: Record<string, OdooValue> = {};
        for (const f of wanted) {
          const def = m.fields[f];
          if (def) out[f] = { type: def.type, ...(def.relation ? { relation: def.relation } : {}) };
        }
        return out;
      }
      case 'create': {
        const single = createArg !== null && typeof createArg === 'object' && !Array.isArray(createArg);
        const list = single ? [createArg] : createArg;
        if (!Array.isArray(list) || !list.every((v) => v !== null && typeof v === 'object' && !Array.isArray(v))) {
          throw new PyError('ValueError', 'create expects a dict or a list of dicts');
        }
        const created = (list as Record<string, unknown>[]).map((vals) => insert(modelName, vals));
        // XML-RPC downgrades a single dict to one id; JSON-2 returns the recordset's ids.
        return protocol === 'xmlrpc' && single ? created[0] : created;
      }
      case 'read':
        return ids.map((id) => {
          const row = m.rows.find((r) => r.id === id);
          if (!row) throw new PyError('MissingError', `Record does not exist or has been deleted.\n(Record: ${modelName}(${id},), User: ${uid})`);
          return readRow(modelName, row, kw['fields']);
        });
      case 'write': {
        const vals = kw['vals'];
        if (vals === null || typeof vals !== 'object' || Array.isArray(vals)) throw new PyError('ValueError', 'write expects a dict');
        for (const id of ids) {
          const row = m.rows.find((r) => r.id === id);
          if (!row) throw new PyError('MissingError', `Record does not exist or has been deleted.\n(Record: ${modelName}(${id},), User: ${uid})`);
          for (const [field, value] of Object.entries(vals as Record<string, unknown>)) {
            const def = checkField(modelName, field);
            row[field] = def.type === 'many2many' ? applyX2manyCommands(Array.isArray(row[field]) ? (row[field] as number[]) : [], value) : (value as OdooValue);
          }
          if (modelName === 'res.partner') row['phone_sanitized'] = computePhoneSanitized(row);
        }
        return true;
      }
      case 'message_post': {
        if (!MAIL_THREAD_MODELS.has(modelName)) throw new PyError('AttributeError', `The method '${modelName}.message_post' does not exist`);
        if (ids.length !== 1) throw new PyError('ValueError', `Expected singleton: ${modelName}(${ids.join(', ')})`);
        const resId = ids[0] as number;
        if (!m.rows.some((r) => r.id === resId)) throw new PyError('MissingError', `Record does not exist or has been deleted.\n(Record: ${modelName}(${resId},), User: ${uid})`);
        const rawBody = typeof kw['body'] === 'string' ? kw['body'] : '';
        const body = kw['body_is_html'] === true ? sanitizeHtml(rawBody) : escapeText(rawBody);
        const messageId = insert('mail.message', {
          model: modelName,
          res_id: resId,
          body,
          message_type: typeof kw['message_type'] === 'string' ? kw['message_type'] : 'notification',
          // Odoo resolves subtype_xmlid to subtype_id and defaults to mail.mt_note; the xmlid is not stored.
          subtype_id: typeof kw['subtype_id'] === 'number' ? kw['subtype_id'] : (SUBTYPE_IDS[typeof kw['subtype_xmlid'] === 'string' ? kw['subtype_xmlid'] : 'mail.mt_note'] ?? 2),
          author_id: typeof kw['author_id'] === 'number' ? kw['author_id'] : false,
          subject: typeof kw['subject'] === 'string' ? kw['subject'] : false,
          date: new Date().toISOString().slice(0, 19).replace('T', ' '),
        });
        // 17/18 decorate message_post with @api.returns('mail.message', lambda m: m.id): XML-RPC gets one
        // id. 19 dropped api.returns (measured: XML-RPC answers [id]). JSON-2 serializes the id list.
        return protocol === 'xmlrpc' && version < 19 ? messageId : [messageId];
      }
      case 'add':
      case 'remove': {
        if (modelName !== 'phone.blacklist') throw new PyError('AttributeError', `The method '${modelName}.${method}' does not exist`);
        // self.env.user._phone_format(number=…): E.164 for the company's country, False when invalid.
        const typed = typeof kw['number'] === 'string' ? kw['number'] : '';
        const parsed =
          options.phonenumbers === false
            ? typed.trim() !== ''
              ? { number: typed, isValid: () => true }
              : undefined
            : parsePhoneNumberFromString(typed, companyCountry);
        // The NOT NULL violation on `number` comes back as Odoo's translated ValidationError (fault 2 / 422).
        if (!parsed?.isValid()) {
          throw new PyError(
            'ValidationError',
            "The operation cannot be completed: Missing required value for the field 'Phone Number' (number).\nModel: 'Phone Blacklist' (phone.blacklist)\n- create/update: a mandatory field is not set",
          );
        }
        const number = parsed.number;
        const existing = m.rows.find((r) => r['number'] === number);
        const active = method === 'add';
        const id = existing ? existing.id : insert('phone.blacklist', { number, active });
        if (existing) existing['active'] = active;
        const note = (body: string) =>
          insert('mail.message', {
            model: 'phone.blacklist',
            res_id: id,
            body,
            message_type: 'notification',
            subtype_id: SUBTYPE_IDS['mail.mt_note'] ?? 2,
            author_id: false,
            subject: false,
            date: new Date().toISOString().slice(0, 19).replace('T', ' '),
          });
        // mail.thread tracking logs the creation of a new entry before the caller's message.
        if (!existing) note('<p>Phone Blacklist created</p>');
        if (typeof kw['message'] === 'string' && kw['message'] !== '') note(escapeText(kw['message']));
        return [id];
      }
      default:
        throw new PyError('AttributeError', `The method '${modelName}.${method}' does not exist`);
    }
  }

  function checkKwargs(method: string, kw: Record<string, unknown>): void {
    const sig = SIGNATURES[method];
    if (!sig) return;
    const allowed = new Set([...sig.params, ...(sig.keywordOnly ?? []), 'context']);
    const unknown = Object.keys(kw).filter((key) => !allowed.has(key));
    if (unknown.length === 0) return;
    // message_post takes **kwargs and refuses the unknown ones itself (ValueError: fault 1 / 500).
    if (method === 'message_post') throw new PyError('ValueError', `Those values are not supported when posting or notifying: ${unknown.join(', ')}`);
    throw new PyError('TypeError', `${method}() got an unexpected keyword argument '${unknown[0]}'`);
  }

  // ----- XML-RPC -----

  function executeKw(params: unknown[], record: OdooRecordedRequest): unknown {
    const [pDb, pUid, pPassword, pModel, pMethod, pArgs, pKwargs] = params;
    if (pDb !== db) throw new PyError('ValueError', `database "${String(pDb)}" does not exist`);
    if (pUid !== uid || pPassword !== apiKey) throw new PyError('AccessDenied', 'Access Denied');
    if (typeof pModel !== 'string' || typeof pMethod !== 'string') throw new PyError('TypeError', 'execute_kw: model and method must be strings');
    const args = Array.isArray(pArgs) ? [...pArgs] : [];
    const kwargs = pKwargs !== null && typeof pKwargs === 'object' && !Array.isArray(pKwargs) ? { ...(pKwargs as Record<string, unknown>) } : {};
    record.model = pModel;
    record.method = pMethod;
    record.args = args;
    record.kwargs = kwargs;
    model(pModel);
    const sig = SIGNATURES[pMethod];
    if (!sig) throw new PyError('AttributeError', `The method '${pModel}.${pMethod}' does not exist`);
    const ids = sig.recordMethod ? idsOf(args.shift()) : [];
    if (args.length > sig.params.length) {
      throw new PyError('TypeError', `${pMethod}() takes ${sig.params.length + 1} positional arguments but ${args.length + 1} were given`);
    }
    checkKwargs(pMethod, kwargs);
    const kw: Record<string, unknown> = { ...kwargs };
    sig.params.forEach((name, i) => {
      if (i < args.length) kw[name] = args[i];
    });
    // Odoo's create dispatcher returns `result.id if isinstance(args[0], Mapping)`: a keyword vals_list has no args[0].
    if (pMethod === 'create' && args.length === 0) throw new PyError('IndexError', 'tuple index out of range');
    return callMethod('xmlrpc', pModel, pMethod, ids, kw, kw['vals_list']);
  }

  function handleXmlRpc(service: string, rpcMethod: string, params: unknown[], record: OdooRecordedRequest): unknown {
    if (service === 'common') {
      if (rpcMethod === 'version') return { server_version: version >= 19 ? '19.0' : '18.0', server_version_info: [version, 0, 0, 'final', 0, ''], server_serie: `${version}.0`, protocol_version: 1 };
      if (rpcMethod === 'authenticate' || rpcMethod === 'login') {
        const [pDb, pLogin, pPassword] = params;
        if (pDb !== db) throw new PyError('ValueError', `database "${String(pDb)}" does not exist`);
        return pLogin === login && pPassword === apiKey ? uid : false;
      }
    }
    if (service === 'object' && rpcMethod === 'execute_kw') return executeKw(params, record);
    throw new PyError('AttributeError', `No such RPC method: ${service}.${rpcMethod}`);
  }

  // ----- HTTP plumbing -----

  function send(res: ServerResponse, record: OdooRecordedRequest, status: number, contentType: string, body: string, headers: Record<string, string> = {}): void {
    record.status = status;
    res.writeHead(status, { 'content-type': contentType, ...headers });
    res.end(body);
  }

  function json2Error(err: PyError): { status: number; body: unknown } {
    const status =
      err.kind === 'NotFound' || err.kind === 'MissingError'
        ? 404
        : err.kind === 'UnprocessableEntity' || err.kind === 'UserError' || err.kind === 'ValidationError'
          ? 422
          : err.kind === 'AccessError'
            ? 403
            : 500;
    return {
      status,
      body: {
        name: PY_QUALIFIED[err.kind],
        message: err.message,
        arguments: status >= 500 ? [err.message] : [err.message, status],
        context: {},
        debug: `Traceback (most recent call last):\n  File "odoo/addons/rpc/controllers/json2.py", line 1, in fake\n${PY_QUALIFIED[err.kind]}: ${err.message}\n`,
      },
    };
  }

  function handleJson2(req: IncomingMessage, res: ServerResponse, raw: Buffer, record: OdooRecordedRequest, modelName: string, method: string): void {
    record.model = modelName;
    record.method = method;
    record.rpcMethod = method;
    const fail = (err: PyError) => {
      const { status, body } = json2Error(err);
      send(res, record, status, 'application/json; charset=utf-8', JSON.stringify(body));
    };
    const auth = req.headers['authorization'];
    const match = typeof auth === 'string' ? /^bearer\s+(.+)$/i.exec(auth) : null;
    if (!match || match[1] !== apiKey) {
      const body = { name: 'werkzeug.exceptions.Unauthorized', message: 'Invalid apikey', arguments: ['Invalid apikey', 401], context: {}, debug: '' };
      send(res, record, 401, 'application/json; charset=utf-8', JSON.stringify(body));
      return;
    }
    const dbHeader = req.headers['x-odoo-database'];
    if (dbHeader !== undefined && dbHeader !== db) {
      // No such database: Odoo's server-wide dispatcher answers its HTML 404 page, not JSON.
      send(res, record, 404, 'text/html; charset=utf-8', NO_DATABASE_PAGE);
      return;
    }
    let body: unknown = {};
    if (raw.length > 0) {
      try {
        body = JSON.parse(raw.toString('utf8'));
      } catch (e) {
        const { body: errBody } = json2Error(new PyError('ValueError', `could not parse the body as json: ${(e as Error).message}`));
        send(res, record, 400, 'application/json; charset=utf-8', JSON.stringify({ ...(errBody as object), name: 'werkzeug.exceptions.BadRequest' }));
        return;
      }
    }
    if (body === null || typeof body !== 'object' || Array.isArray(body)) {
      send(res, record, 400, 'application/json; charset=utf-8', JSON.stringify({ name: 'werkzeug.exceptions.BadRequest', message: 'could not parse the body, expecting a json object', arguments: [], context: {}, debug: '' }));
      return;
    }
    const { ids: rawIds, context: _context, ...kwargs } = body as Record<string, unknown>;
    record.kwargs = kwargs;
    record.args = rawIds === undefined ? [] : [rawIds];
    try {
      if (!models.has(modelName)) throw new PyError('NotFound', `the model '${modelName}' does not exist`);
      const sig = SIGNATURES[method];
      if (!sig) throw new PyError('NotFound', `The method '${modelName}.${method}' does not exist`);
      const ids = rawIds === undefined ? [] : idsOf(rawIds);
      if (!sig.recordMethod && ids.length > 0) throw new PyError('UnprocessableEntity', `cannot call ${modelName}.${method} with ids`);
      try {
        checkKwargs(method, kwargs);
      } catch (e) {
        if (e instanceof PyError && e.kind === 'ValueError') throw e;
        throw new PyError('UnprocessableEntity', (e as Error).message);
      }
      const result = callMethod('json2', modelName, method, ids, kwargs, kwargs['vals_list']);
      send(res, record, 200, 'application/json; charset=utf-8', JSON.stringify(result));
    } catch (e) {
      if (e instanceof PyError) return fail(e);
      throw e;
    }
  }

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks);
      const url = new URL(req.url ?? '/', 'http://fake');
      const xmlrpcMatch = /^\/xmlrpc\/2\/(common|object)$/.exec(url.pathname);
      const json2Match = /^\/json\/2\/([^/]+)\/([^/]+)$/.exec(url.pathname);
      const record: OdooRecordedRequest = {
        protocol: xmlrpcMatch ? 'xmlrpc' : json2Match ? 'json2' : 'other',
        path: url.pathname,
        headers: { ...req.headers },
        rpcMethod: null,
        model: null,
        method: null,
        args: [],
        kwargs: {},
        status: 0,
      };
      requests.push(record);

      const failure = failures[0];
      if (failure) {
        failure.count = (failure.count ?? 1) - 1;
        if (failure.count <= 0) failures.shift();
        const headers: Record<string, string> = failure.retryAfter !== undefined ? { 'retry-after': failure.retryAfter } : {};
        send(res, record, failure.status, 'text/html', `<html><body><h1>${failure.status}</h1>proxy error</body></html>`, headers);
        return;
      }

      if (req.method !== 'POST') {
        send(res, record, 405, 'text/html', '<html>Method Not Allowed</html>');
        return;
      }
      if (json2Match) {
        handleJson2(req, res, raw, record, decodeURIComponent(json2Match[1] as string), decodeURIComponent(json2Match[2] as string));
        return;
      }
      if (!xmlrpcMatch) {
        send(res, record, 404, 'text/html', '<html>Not Found</html>');
        return;
      }
      new Deserializer('utf8').deserializeMethodCall(Readable.from([raw]), (err, rpcMethod, params) => {
        if (err) {
          send(res, record, 200, 'text/xml', faultResponse(1, `Traceback (most recent call last):\nxml.parsers.expat.ExpatError: ${err.message}\n`));
          return;
        }
        record.rpcMethod = rpcMethod;
        if (record.args.length === 0) record.args = params;
        try {
          const value = handleXmlRpc(xmlrpcMatch[1] as string, rpcMethod, params, record);
          send(res, record, 200, 'text/xml', methodResponse(value));
        } catch (e) {
          if (!(e instanceof PyError)) throw e;
          const { code, text } = faultFor(e);
          send(res, record, 200, 'text/xml', faultResponse(code, text));
        }
      });
    });
  });

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    db,
    login,
    get apiKey() {
      return apiKey;
    },
    uid,
    requests,
    calls: () => requests.filter((r) => r.model !== null),
    failNext: (failure) => failures.push({ ...failure }),
    setApiKey: (key) => {
      apiKey = key;
    },
    addPartner: (values) => insert('res.partner', values),
    addCategory: (name) => insert('res.partner.category', { name }),
    addLead: (values) => insert('crm.lead', values),
    records: (name) => model(name).rows,
    messagesOf: (name, resId) => model('mail.message').rows.filter((r) => r['model'] === name && r['res_id'] === resId),
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((err) => (err ? reject(err) : resolve()));
      }),
  };
}
