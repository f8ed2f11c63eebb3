/**
 * Meta's own OpenAPI description of the Cloud API (business-messaging-api_v23.0.yaml) as a contract
 * for the Graph API fake: every request the fake receives on an endpoint the spec describes, and
 * every answer the fake gives there, is validated against the spec's schemas with Ajv (JSON Schema
 * 2020-12, the dialect of OpenAPI 3.1). Kept apart from graph-api.ts so the fake's behaviour and its
 * contract evolve separately.
 *
 * Where the spec file comes from: `$COEX_META_OPENAPI` (a directory holding it, or the file; `.ci/run`
 * points it at ../shared/vendor/meta-openapi), else the copy committed beside this file
 * (test/fakes/meta-openapi/, MIT licence, Meta Platforms).
 *
 * Two mechanical readings of the spec, both what its authors evidently meant (README.md lists them):
 * - `additionalProperties: false` inside an `allOf` branch (TextMessage, ImageMessage, …) would, read
 *   literally, forbid the properties of the other branches (messaging_product, to, …) and reject every
 *   message; it is read as `unevaluatedProperties: false` on the whole `allOf`.
 * - A `discriminator` with a `mapping` but no `oneOf` (TemplateComponent, ParameterObject) is enforced:
 *   where such a schema is used, the object must also match the schema its discriminator value maps to.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import yaml from 'js-yaml';
import { Ajv2020, type ErrorObject, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';

const SPEC_FILE = 'business-messaging-api_v23.0.yaml';
const addFormats = addFormatsModule as unknown as (ajv: Ajv2020) => Ajv2020;

export type GraphOperation =
  | 'sendMessage'
  | 'uploadMedia'
  | 'retrieveMediaUrl'
  | 'subscribeToWaba'
  | 'listWabaSubscriptions'
  | 'listMessageTemplates';

/** Our name for each operation → its path and method in Meta's spec. */
const OPERATIONS: Record<GraphOperation, { path: string; method: 'get' | 'post' }> = {
  sendMessage: { path: '/{Version}/{Phone-Number-ID}/messages', method: 'post' },
  uploadMedia: { path: '/{Version}/{Phone-Number-ID}/media', method: 'post' },
  retrieveMediaUrl: { path: '/{Version}/{Media-ID}', method: 'get' },
  subscribeToWaba: { path: '/{Version}/{WABA-ID}/subscribed_apps', method: 'post' },
  listWabaSubscriptions: { path: '/{Version}/{WABA-ID}/subscribed_apps', method: 'get' },
  listMessageTemplates: { path: '/{Version}/{WABA-ID}/message_templates', method: 'get' },
};

export interface ContractViolation {
  operation: GraphOperation;
  where: 'request' | 'response';
  errors: string[];
  /** The first missing required body property, if that is what is wrong (Meta names it in its error). */
  missing?: string;
}

/** Meta's wording for a refused parameter: "The parameter to is required." or "Invalid parameter". */
export function metaParameterMessage(v: ContractViolation): string {
  return v.missing ? `The parameter ${v.missing} is required.` : 'Invalid parameter';
}

export function metaOpenApiPath(): string {
  const fromEnv = process.env.COEX_META_OPENAPI;
  if (fromEnv) {
    const path = existsSync(fromEnv) && statSync(fromEnv).isDirectory() ? join(fromEnv, SPEC_FILE) : fromEnv;
    if (!existsSync(path)) throw new Error(`COEX_META_OPENAPI points to ${fromEnv}, which holds no ${SPEC_FILE}`);
    return path;
  }
  return fileURLToPath(new URL(`./meta-openapi/${SPEC_FILE}`, import.meta.url));
}

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type JsonObject = { [k: string]: Json };
const isObject = (v: Json | undefined): v is JsonObject => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The two readings described in the header, applied to the parsed document in place. */
function normalize(doc: JsonObject): void {
  const schemas = (doc.components as JsonObject).schemas as JsonObject;
  // Two patches where the spec contradicts Meta's own reference pages (README.md lists them):
  // `biz_opaque_callback_data` is a documented send parameter missing from the schema, and the button
  // `index` pattern "^[2-6, 11-14]$" (a character class) refuses the "0" of the spec's own example
  // while its description says 0-9.
  const base = schemas.BaseMessageProperties;
  if (isObject(base) && isObject(base.properties)) base.properties.biz_opaque_callback_data = { type: 'string', maxLength: 512 };
  // Meta's 2026 business-scoped user ids (coex-spec.md §11, after this v23.0 description): a customer
  // known only by a BSUID is addressed with `recipient` instead of `to`. One of the two is required.
  if (isObject(base) && isObject(base.properties) && Array.isArray(base.required)) {
    base.properties.recipient = { type: 'string', minLength: 1, maxLength: 256 };
    base.required = base.required.filter((r) => r !== 'to');
    base.anyOf = [{ required: ['to'] }, { required: ['recipient'] }];
  }
  const fixPattern = (node: Json): void => {
    if (Array.isArray(node)) node.forEach(fixPattern);
    else if (isObject(node)) {
      if (node.pattern === '^[2-6, 11-14]$') node.pattern = '^[0-9]$';
      Object.values(node).forEach(fixPattern);
    }
  };
  fixPattern(schemas);
  const prefix = '#/components/schemas/';
  // Bases whose discriminator maps to sub-schemas without a oneOf; each gets a "dispatch" twin.
  const dispatched = new Map<string, { property: string; mapping: Record<string, string> }>();
  for (const [name, schema] of Object.entries(schemas)) {
    if (!isObject(schema) || !isObject(schema.discriminator) || schema.oneOf || schema.anyOf) continue;
    const mapping = schema.discriminator.mapping;
    if (!isObject(mapping)) continue;
    dispatched.set(name, { property: String(schema.discriminator.propertyName), mapping: Object.fromEntries(Object.entries(mapping).map(([k, v]) => [k, String(v)])) });
  }
  const mappedTargets = new Set([...dispatched.values()].flatMap((d) => Object.values(d.mapping)));

  const walk = (node: Json, owner: string | null): void => {
    if (Array.isArray(node)) {
      for (const item of node) walk(item, owner);
      return;
    }
    if (!isObject(node)) return;
    if (Array.isArray(node.allOf)) {
      let closed = false;
      for (const branch of node.allOf) {
        if (isObject(branch) && branch.additionalProperties === false) {
          delete branch.additionalProperties;
          closed = true;
        }
        // A mapped sub-schema extends its base: that reference must stay the plain base.
        if (isObject(branch) && typeof branch.$ref === 'string' && owner !== null && mappedTargets.has(prefix + owner)) continue;
        if (isObject(branch) && typeof branch.$ref === 'string') redirect(branch);
      }
      if (closed) node.unevaluatedProperties = false;
    }
    redirect(node);
    for (const [key, value] of Object.entries(node)) if (key !== 'allOf') walk(value, owner);
    if (Array.isArray(node.allOf)) for (const branch of node.allOf) if (isObject(branch) && typeof branch.$ref !== 'string') walk(branch, owner);
  };
  const redirect = (node: JsonObject): void => {
    if (typeof node.$ref !== 'string' || !node.$ref.startsWith(prefix)) return;
    const target = node.$ref.slice(prefix.length);
    if (dispatched.has(target)) node.$ref = `${prefix}${target}__dispatch`;
  };
  for (const [name, schema] of Object.entries(schemas)) walk(schema, name);
  walk(doc.paths ?? null, null);
  for (const [name, d] of dispatched) {
    schemas[`${name}__dispatch`] = {
      allOf: [
        { $ref: prefix + name },
        ...Object.entries(d.mapping).map(([value, target]): Json => ({
          if: { properties: { [d.property]: { const: value } }, required: [d.property] },
          then: { $ref: target },
        })),
      ],
    };
  }
}

interface CompiledOperation {
  headers: Array<{ name: string; required: boolean; validate: ValidateFunction }>;
  body: ValidateFunction | null;
  /** For a body whose schema has a discriminator (Message: by `type`): one validator per value, for error messages. */
  bodyByDiscriminator: { property: string; validators: Map<string, ValidateFunction> } | null;
  bodyRequired: boolean;
  responses: Map<string, ValidateFunction>;
}

export class GraphContract {
  private readonly compiled = new Map<GraphOperation, CompiledOperation>();
  private readonly ajv: Ajv2020;
  private readonly doc: JsonObject;

  // No parameter properties: `node test/fakes/graph-api.ts` runs this file with type stripping only.
  private constructor(ajv: Ajv2020, doc: JsonObject) {
    this.ajv = ajv;
    this.doc = doc;
  }

  static load(path = metaOpenApiPath()): GraphContract {
    const doc = yaml.load(readFileSync(path, 'utf8')) as JsonObject;
    normalize(doc);
    // The spec's schemas use OpenAPI annotations (example, discriminator, xml) that are not JSON
    // Schema keywords: not strict about unknown keywords, strict about the data.
    const ajv = new Ajv2020({ strict: false, allErrors: true, validateSchema: false });
    addFormats(ajv);
    ajv.addFormat('url', /^https?:\/\/\S+$/i);
    ajv.addSchema(doc as object, 'meta');
    return new GraphContract(ajv, doc);
  }

  private operation(name: GraphOperation): CompiledOperation {
    const cached = this.compiled.get(name);
    if (cached) return cached;
    const { path, method } = OPERATIONS[name];
    const pathItem = (this.doc.paths as JsonObject)[path] as JsonObject;
    const op = pathItem[method] as JsonObject;
    const pointer = (...parts: string[]) => `meta#/paths/${[path, method, ...parts].map((p) => p.replace(/~/g, '~0').replace(/\//g, '~1')).join('/')}`;
    const resolveParam = (p: JsonObject): JsonObject => {
      if (typeof p.$ref !== 'string') return p;
      const name = p.$ref.split('/').pop()!;
      return ((this.doc.components as JsonObject).parameters as JsonObject)[name] as JsonObject;
    };
    const params = [...((pathItem.parameters as Json[]) ?? []), ...((op.parameters as Json[]) ?? [])].filter(isObject).map(resolveParam);
    // User-Agent's pattern describes the UA of Meta's generated SDKs ("Meta-Business-Messaging-OpenAPI/1.0.0");
    // the Graph API accepts any client's UA, so it is not held against ours (README.md).
    const headers = params
      .filter((p) => p.in === 'header' && String(p.name).toLowerCase() !== 'user-agent')
      .map((p) => ({ name: String(p.name).toLowerCase(), required: p.required === true, validate: this.ajv.compile(p.schema as object) }));
    const requestBody = isObject(op.requestBody) ? op.requestBody : null;
    const bodySchema = requestBody && isObject(requestBody.content) && isObject(requestBody.content['application/json']) ? requestBody.content['application/json'].schema : undefined;
    const body = bodySchema ? this.ajv.compile({ $ref: pointer('requestBody', 'content', 'application/json', 'schema') }) : null;
    let bodyByDiscriminator: CompiledOperation['bodyByDiscriminator'] = null;
    if (isObject(bodySchema) && typeof bodySchema.$ref === 'string') {
      const target = ((this.doc.components as JsonObject).schemas as JsonObject)[bodySchema.$ref.split('/').pop()!];
      if (isObject(target) && isObject(target.discriminator) && isObject(target.discriminator.mapping)) {
        const validators = new Map<string, ValidateFunction>();
        for (const [value, ref] of Object.entries(target.discriminator.mapping)) validators.set(value, this.ajv.compile({ $ref: `meta${String(ref)}` }));
        bodyByDiscriminator = { property: String(target.discriminator.propertyName), validators };
      }
    }
    const responses = new Map<string, ValidateFunction>();
    for (const [status, response] of Object.entries((op.responses as JsonObject) ?? {})) {
      if (!isObject(response) || !isObject(response.content) || !isObject(response.content['application/json'])) continue;
      if (!response.content['application/json'].schema) continue;
      responses.set(status, this.ajv.compile({ $ref: pointer('responses', status, 'content', 'application/json', 'schema') }));
    }
    const compiled = { headers, body, bodyByDiscriminator, bodyRequired: requestBody?.required === true, responses };
    this.compiled.set(name, compiled);
    return compiled;
  }

  /** Checks a request as it arrived (header names lower-case, body already parsed). */
  checkRequest(name: GraphOperation, request: { headers: Record<string, string>; body: unknown; rawBody: string }): ContractViolation | null {
    const op = this.operation(name);
    const errors: string[] = [];
    let missing: string | undefined;
    for (const h of op.headers) {
      let value = request.headers[h.name];
      if (value === undefined) {
        // Content-Type is about the body: a GET without one has nothing to describe.
        if (h.required && !(h.name === 'content-type' && request.rawBody === '')) errors.push(`header ${h.name} is required`);
        continue;
      }
      // Media-type parameters (charset) are not part of the media type the spec enumerates.
      if (h.name === 'content-type') value = value.split(';')[0]!.trim().toLowerCase();
      if (!h.validate(value)) errors.push(...describe(`header ${h.name}`, h.validate.errors));
    }
    if (op.body) {
      if (request.rawBody === '') {
        if (op.bodyRequired) errors.push('a JSON body is required');
      } else if (!(request.headers['content-type'] ?? '').toLowerCase().startsWith('application/json')) {
        // The fake models the JSON form only; form-encoded and multipart bodies are not checked here.
        if (name === 'sendMessage') errors.push(`body must be sent as application/json, got ${request.headers['content-type'] ?? 'no content-type'}`);
      } else if (request.body === undefined) {
        errors.push('body is not valid JSON');
      } else if (!op.body(request.body)) {
        // Say what is wrong with the message type that was meant, not with the ten others.
        const d = op.bodyByDiscriminator;
        const meant = d && typeof request.body === 'object' && request.body !== null ? d.validators.get(String((request.body as Record<string, unknown>)[d.property])) : undefined;
        const found = meant && !meant(request.body) ? meant.errors : op.body.errors;
        errors.push(...describe('body', found));
        const required = (found ?? []).find((e) => e.keyword === 'required' && e.instancePath === '');
        if (required) missing = String((required.params as { missingProperty?: unknown }).missingProperty);
      }
    }
    if (errors.length === 0) return null;
    return missing ? { operation: name, where: 'request', errors, missing } : { operation: name, where: 'request', errors };
  }

  /** Checks an answer of the fake against the response schema the spec gives for its status. */
  checkResponse(name: GraphOperation, status: number, body: unknown): ContractViolation | null {
    const op = this.operation(name);
    const validate = op.responses.get(String(status)) ?? op.responses.get(`${String(status)[0]}XX`) ?? op.responses.get('default');
    if (!validate) return null;
    return validate(body) ? null : { operation: name, where: 'response', errors: describe(`${status} body`, validate.errors) };
  }
}

function describe(what: string, errors: ErrorObject[] | null | undefined): string[] {
  const list = errors ?? [];
  const specific = list.filter((e) => e.keyword !== 'oneOf' && e.keyword !== 'anyOf' && e.keyword !== 'if');
  return (specific.length > 0 ? specific : list).slice(0, 8).map((e) => `${what}${e.instancePath || ''} ${e.message ?? e.keyword}${e.params && Object.keys(e.params).length > 0 ? ` ${JSON.stringify(e.params)}` : ''}`);
}

let shared: GraphContract | undefined;
/** One parsed and compiled contract per process (the spec is 1 MB of YAML). */
export function graphContract(): GraphContract {
  shared ??= GraphContract.load();
  return shared;
}

/**
 * Which operation of the spec a request to the fake is, from its method and Graph path
 * (`/v23.0/<id>/<edge>`); null where the spec says nothing (oauth, smb_app_data, lookaside URLs, the
 * phone-number node) or the fake does not model it. `isMedia` tells a media id from other node ids.
 */
export function graphOperationOf(method: string, path: string, isMedia: (id: string) => boolean): GraphOperation | null {
  const match = /^\/v\d+\.\d+\/([^/]+)(?:\/([^/]+))?\/?$/.exec(path);
  if (!match) return null;
  const [, id = '', edge] = match;
  if (edge === 'messages' && method === 'POST') return 'sendMessage';
  if (edge === 'media' && method === 'POST') return 'uploadMedia';
  if (edge === 'subscribed_apps') return method === 'POST' ? 'subscribeToWaba' : method === 'GET' ? 'listWabaSubscriptions' : null;
  if (edge === 'message_templates' && method === 'GET') return 'listMessageTemplates';
  if (edge === undefined && method === 'GET' && isMedia(decodeURIComponent(id))) return 'retrieveMediaUrl';
  return null;
}

/** A mark-as-read / typing-indicator call: on /messages, in the spec's examples but not in its Message schema. */
export function isReadReceipt(body: unknown): boolean {
  return typeof body === 'object' && body !== null && (body as Record<string, unknown>).status === 'read';
}
