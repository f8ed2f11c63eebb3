import express, { type NextFunction, type Request, type Response, type Router } from 'express';
import type { Kysely } from 'kysely';
import { z } from 'zod';
import { CrmError } from '@coex/connectors';
import type { Database } from '../db/schema.js';
import { bearerAuth } from './auth.js';
import { CsvFormatError, recipientsFromCsv, recipientsFromList, type CountryCode, type PreparedList } from '../campaigns/recipients.js';
import { CampaignError, campaignReport, createCampaign, listCampaigns, pauseCampaign, startCampaign } from '../campaigns/store.js';
import type { SegmentSource } from '../campaigns/segments.js';
import { parseSegmentSpec, SegmentSpecError, type SegmentSpec } from '../campaigns/segment-factory.js';

/** The CRM segment asked for in POST /api/v1/campaigns, validated for the connection's CRM. */
export interface SegmentRequest {
  tenantId: string;
  connectionId: string;
  segment: SegmentSpec;
}

export interface CampaignApiOptions {
  db: Kysely<Database>;
  adminToken: string | undefined;
  /** Builds the SegmentSource for a tenant's CRM connection; absent = segments not available (501). */
  segmentSource?: (req: SegmentRequest) => Promise<SegmentSource>;
  /** Largest request body (CSV of 100 000 rows is about 4 MB). Default 8 MB. */
  maxBodyBytes?: number;
}

const templateSchema = z.object({
  name: z.string().min(1).max(512),
  language: z.string().min(2).max(15),
  category: z.enum(['marketing', 'utility']).default('marketing'),
});
const recipientSchema = z.object({
  phone: z.string().min(1).max(40),
  name: z.string().max(200).nullish(),
  variables: z.array(z.string().max(1024)).max(20).optional(),
});
const createFields = z.object({
  phone_number_id: z.string().regex(/^\d+$/),
  name: z.string().trim().min(1).max(200),
  template: templateSchema,
  body_parameters: z.array(z.string().min(1).max(1024)).max(20).optional(),
  send_at: z.iso.datetime({ offset: true }).optional(),
  /** Start at once (or at send_at) instead of waiting for POST …/start. */
  start: z.boolean().optional(),
  default_country: z.string().regex(/^[A-Z]{2}$/).default('MA'),
  created_by: z.string().max(200).optional(),
  recipients: z.array(recipientSchema).min(1).max(100_000).optional(),
  csv: z.string().min(1).optional(),
  /** { connection_id, …the fields of that connection's CRM (see campaigns/segment-factory.ts) }. */
  segment: z.looseObject({ connection_id: z.uuid() }).optional(),
});
const createBody = createFields.refine((b) => [b.recipients, b.csv, b.segment].filter((x) => x !== undefined).length === 1, { message: 'give exactly one of "recipients", "csv" or "segment"' });

const csvQuery = createFields.omit({ recipients: true, csv: true, segment: true, template: true, body_parameters: true, start: true }).extend({
  template: z.string().min(1).max(512),
  language: z.string().min(2).max(15),
  category: z.enum(['marketing', 'utility']).default('marketing'),
  start: z.enum(['true', 'false']).optional(),
});

function badRequest(res: Response, error: z.ZodError): void {
  res.status(400).json({ error: 'invalid request', issues: error.issues.map((i) => ({ path: i.path.join('.'), message: i.message })) });
}

function tenantOf(req: Request): string | null {
  return req.tenantScope ?? null;
}

/**
 * /api/v1/campaigns: create (JSON with recipients / csv / segment, or a text/csv body with the
 * campaign in the query string), list, report, start, pause. Tenant scoped like routes.ts: a
 * tenant token sees its campaigns only; the admin token sees all.
 */
export function campaignRouter(opts: CampaignApiOptions): Router {
  const router = express.Router();
  const limit = opts.maxBodyBytes ?? 8 * 1024 * 1024;
  router.use('/api/v1/campaigns', express.json({ limit }), express.text({ type: ['text/csv', 'text/plain'], limit }), bearerAuth(opts.db, opts.adminToken));

  router.post('/api/v1/campaigns', async (req: Request, res: Response) => {
    let body: z.infer<typeof createBody>;
    if (typeof req.body === 'string') {
      const q = csvQuery.safeParse(req.query);
      if (!q.success) return badRequest(res, q.error);
      const { template, language, category, start, ...rest } = q.data;
      body = { ...rest, template: { name: template, language, category }, csv: req.body, ...(start ? { start: start === 'true' } : {}) };
    } else {
      const parsed = createBody.safeParse(req.body);
      if (!parsed.success) return badRequest(res, parsed.error);
      body = parsed.data;
    }
    const number = await opts.db.selectFrom('whatsapp_numbers').select('tenant_id').where('phone_number_id', '=', body.phone_number_id).executeTakeFirst();
    const scope = tenantOf(req);
    if (!number || (scope !== null && number.tenant_id !== scope)) return void res.status(404).json({ error: 'number not found' });
    const country = body.default_country as CountryCode;
    let list: PreparedList;
    let source: 'csv' | 'api' | 'segment';
    let segmentDescription: string | undefined;
    try {
      if (body.csv !== undefined) {
        list = recipientsFromCsv(body.csv, country);
        source = 'csv';
      } else if (body.recipients !== undefined) {
        list = recipientsFromList(body.recipients, country);
        source = 'api';
      } else {
        if (!opts.segmentSource) return void res.status(501).json({ error: 'CRM segments are not configured on this server' });
        const seg = body.segment!;
        const connection = await opts.db.selectFrom('crm_connections').select(['id', 'tenant_id', 'status', 'crm']).where('id', '=', seg.connection_id).executeTakeFirst();
        if (!connection || connection.tenant_id !== number.tenant_id) return void res.status(404).json({ error: 'CRM connection not found for this tenant' });
        if (connection.status !== 'active') return void res.status(409).json({ error: `the ${connection.crm} connection is ${connection.status}: connect its API first` });
        const { connection_id: _id, ...fields } = seg;
        const sourceImpl = await opts.segmentSource({ tenantId: number.tenant_id, connectionId: seg.connection_id, segment: parseSegmentSpec(connection.crm, fields) });
        list = recipientsFromList(await sourceImpl.members(), country);
        source = 'segment';
        segmentDescription = sourceImpl.description;
      }
    } catch (error) {
      if (error instanceof CsvFormatError || error instanceof SegmentSpecError) return void res.status(422).json({ error: error.message });
      // The CRM refused or failed (bad credentials, outage): the caller's segment, not our server.
      if (error instanceof CrmError) return void res.status(502).json({ error: `${error.crm}: ${error.message}`, code: 'crm_error', retryable: error.retryable });
      throw error;
    }
    if (list.recipients.length === 0) return void res.status(422).json({ error: 'no valid recipients', invalid: list.invalid, duplicates: list.duplicates });
    const counts = new Set(list.recipients.map((r) => r.variables.length));
    if (!body.body_parameters && counts.size > 1) return void res.status(422).json({ error: 'recipients have different numbers of variables; give body_parameters or fix the list' });
    if (body.body_parameters) {
      const maxVar = Math.max(0, ...body.body_parameters.flatMap((p) => [...p.matchAll(/\{\{\s*var(\d{1,2})\s*\}\}/gi)].map((m) => Number(m[1]))));
      const short = list.recipients.find((r) => r.variables.length < maxVar);
      if (short) return void res.status(422).json({ error: `body_parameters use var${maxVar} but ${short.phone} has ${short.variables.length} variables` });
    }
    const created = await createCampaign(opts.db, {
      tenantId: number.tenant_id,
      phoneNumberId: body.phone_number_id,
      name: body.name,
      template: body.template,
      bodyParameters: body.body_parameters ?? null,
      source,
      sendAt: body.send_at ? new Date(body.send_at) : null,
      createdBy: body.created_by ?? null,
      recipients: list.recipients,
    });
    let status = created.status;
    if (body.start) status = (await startCampaign(opts.db, null, created.id)).status;
    res.status(201).json({
      campaign: { id: created.id, status, recipients: created.recipients },
      import: {
        source,
        ...(segmentDescription ? { segment: segmentDescription } : {}),
        accepted: list.recipients.length,
        excluded_opted_out: created.excludedOptedOut,
        invalid: list.invalid,
        duplicates: list.duplicates,
        ignored_columns: list.ignoredColumns,
      },
    });
  });

  router.get('/api/v1/campaigns', async (req: Request, res: Response) => {
    const q = z.object({ limit: z.coerce.number().int().min(1).max(500).optional() }).safeParse(req.query);
    if (!q.success) return badRequest(res, q.error);
    res.json({ campaigns: await listCampaigns(opts.db, tenantOf(req), { limit: q.data.limit }) });
  });

  router.get('/api/v1/campaigns/:id', async (req: Request, res: Response) => {
    const report = await campaignReport(opts.db, tenantOf(req), String(req.params.id));
    if (!report) return void res.status(404).json({ error: 'campaign not found' });
    res.json({ campaign: report });
  });

  const transition = (fn: typeof startCampaign) => async (req: Request, res: Response, next: NextFunction) => {
    try {
      const r = await fn(opts.db, tenantOf(req), String(req.params.id));
      res.json({ campaign: { id: String(req.params.id), status: r.status } });
    } catch (error) {
      if (error instanceof CampaignError) return void res.status(error.code === 'not_found' ? 404 : 409).json({ error: error.message, code: error.code });
      next(error);
    }
  };
  router.post('/api/v1/campaigns/:id/start', transition(startCampaign));
  router.post('/api/v1/campaigns/:id/pause', transition((db, scope, id) => pauseCampaign(db, scope, id)));

  return router;
}
