import { readFile } from 'node:fs/promises';
import { Option, type Command } from 'commander';
import type { Kysely } from 'kysely';
import { z } from 'zod';
import { ConfigError } from '../config.js';
import type { Database } from '../db/schema.js';
import { CsvFormatError, recipientsFromCsv, recipientsFromList, type CountryCode, type PreparedList } from './recipients.js';
import type { TokenCipher } from '../crypto.js';
import { connectionSegmentSource, parseSegmentSpec, SegmentSpecError } from './segment-factory.js';
import { CampaignError, campaignReport, createCampaign, listCampaigns, pauseCampaign, startCampaign } from './store.js';

/**
 * `coex campaign create|start|pause|report|list`: the store functions from a terminal. The CLI is
 * an operator tool (admin scope); `--tenant` narrows start/pause/report/list to one tenant.
 * User mistakes (bad CSV, unknown campaign, wrong state) surface as ConfigError: one clean line.
 */

export type WithDatabase = <T>(fn: (db: Kysely<Database>) => Promise<T>) => Promise<T>;

export interface CampaignCliIo {
  out(line: string): void;
  err(line: string): void;
  readFile(path: string): Promise<string>;
}

const defaultIo: CampaignCliIo = {
  out: (line) => console.log(line),
  err: (line) => console.error(line),
  readFile: (path) => readFile(path, 'utf8'),
};

const createOptions = z.object({
  tenant: z.string().min(1),
  number: z.string().regex(/^\d+$/, 'must be the phone_number_id (digits)'),
  name: z.string().trim().min(1).max(200),
  template: z.string().min(1).max(512),
  language: z.string().min(2).max(15),
  category: z.enum(['marketing', 'utility']),
  csv: z.string().min(1).optional(),
  segment: z.string().min(1).optional(),
  connection: z.uuid('must be the CRM connection id (coex crm list)').optional(),
  bodyParam: z.array(z.string().min(1).max(1024)).max(20).optional(),
  sendAt: z.iso.datetime({ offset: true }).optional(),
  country: z.string().regex(/^[A-Z]{2}$/, 'must be an ISO country code like MA'),
  by: z.string().max(200).optional(),
  start: z.boolean().optional(),
}).refine((o) => (o.csv === undefined) !== (o.segment === undefined), { message: 'give either --csv or --segment', path: ['csv'] })
  .refine((o) => (o.segment === undefined) === (o.connection === undefined), { message: '--segment needs --connection (and --connection needs --segment)', path: ['connection'] });

function userError(error: unknown): never {
  if (error instanceof CampaignError || error instanceof CsvFormatError || error instanceof SegmentSpecError) throw new ConfigError(error.message);
  throw error;
}

function scopeOf(opts: { tenant?: string }): string | null {
  return opts.tenant ?? null;
}

/**
 * `cipher` opens the stored CRM credentials for --segment (lazy: only that option needs the key).
 */
export function registerCampaignCommands(program: Command, withDatabase: WithDatabase, io: CampaignCliIo = defaultIo, cipher?: () => TokenCipher): Command {
  const campaign = program.command('campaign').description('template campaigns (broadcasts): create from a CSV, start, pause, report');

  campaign
    .command('create')
    .description('create a campaign from a CSV (columns phone, name, var1..varN) or a CRM segment; it stays a draft until `campaign start`')
    .requiredOption('--tenant <id>', 'tenant that owns the number')
    .requiredOption('--number <phone_number_id>', 'the sending number')
    .requiredOption('--name <name>', 'campaign name')
    .requiredOption('--template <name>', 'approved template name')
    .requiredOption('--language <code>', 'template language, e.g. fr or ar')
    .addOption(new Option('--category <category>', 'template category').choices(['marketing', 'utility']).default('marketing'))
    .option('--csv <file>', 'recipients CSV')
    .option('--segment <file>', 'JSON file describing a CRM segment (HubSpot filter_groups, WooCommerce product_id, Odoo domain, Zoho criteria; see README)')
    .option('--connection <id>', 'the CRM connection the segment is read from (coex crm list)')
    .option('--body-param <entry...>', 'template body parameters, may use {{name}} and {{varN}} (default: the row variables in order)')
    .option('--send-at <iso>', 'schedule, e.g. 2026-12-01T09:00:00+01:00')
    .option('--country <code>', 'country for national numbers (06…)', 'MA')
    .option('--by <actor>', 'recorded as created_by')
    .option('--start', 'start at once (or at --send-at)')
    .action(async (raw: Record<string, unknown>) => {
      const parsed = createOptions.safeParse(raw);
      if (!parsed.success) throw new ConfigError(`invalid options: ${parsed.error.issues.map((i) => `--${String(i.path[0] ?? '')}: ${i.message}`).join('; ')}`);
      const o = parsed.data;
      const file = (o.csv ?? o.segment)!;
      let text: string;
      try {
        text = await io.readFile(file);
      } catch (error) {
        throw new ConfigError(`cannot read ${file}: ${error instanceof Error ? error.message : String(error)}`);
      }
      let list: PreparedList;
      if (o.csv !== undefined) {
        try {
          list = recipientsFromCsv(text, o.country as CountryCode);
        } catch (error) {
          userError(error);
        }
      } else {
        let json: unknown;
        try {
          json = JSON.parse(text);
        } catch {
          throw new ConfigError(`${file} is not JSON`);
        }
        if (!cipher) throw new ConfigError('CRM segments need the encryption key of the stored connections');
        list = await withDatabase(async (db) => {
          const connection = await db.selectFrom('crm_connections').select(['crm', 'tenant_id']).where('id', '=', o.connection!).executeTakeFirst();
          if (!connection || connection.tenant_id !== o.tenant) throw new ConfigError(`no CRM connection ${o.connection} in tenant ${o.tenant}`);
          try {
            const source = await connectionSegmentSource(db, cipher())({ tenantId: o.tenant, connectionId: o.connection!, segment: parseSegmentSpec(connection.crm, json) });
            io.err(`segment: ${source.description}`);
            return recipientsFromList(await source.members(), o.country as CountryCode);
          } catch (error) {
            userError(error);
          }
        });
      }
      for (const row of list.invalid) io.err(`line ${row.line}: ${row.reason} (${row.phone || 'empty'})`);
      for (const d of list.duplicates) io.err(`line ${d.line}: duplicate of line ${d.firstLine} (${d.phone})`);
      if (list.ignoredColumns.length > 0) io.err(`ignored columns: ${list.ignoredColumns.join(', ')}`);
      if (list.recipients.length === 0) throw new ConfigError(`no valid recipients in the ${o.csv !== undefined ? 'CSV' : 'segment'}`);
      if (!o.bodyParam && new Set(list.recipients.map((r) => r.variables.length)).size > 1) {
        throw new ConfigError('rows have different numbers of variables; give --body-param or fix the CSV');
      }
      await withDatabase(async (db) => {
        try {
          const created = await createCampaign(db, {
            tenantId: o.tenant,
            phoneNumberId: o.number,
            name: o.name,
            template: { name: o.template, language: o.language, category: o.category },
            bodyParameters: o.bodyParam ?? null,
            source: o.csv !== undefined ? 'csv' : 'segment',
            sendAt: o.sendAt ? new Date(o.sendAt) : null,
            createdBy: o.by ?? 'cli',
            recipients: list.recipients,
          });
          io.out(`campaign ${created.id} ${created.status}: ${created.recipients} recipients (${list.invalid.length} invalid, ${list.duplicates.length} duplicates skipped${created.excludedOptedOut ? `, ${created.excludedOptedOut} opted out` : ''})`);
          if (o.start) {
            const started = await startCampaign(db, o.tenant, created.id);
            io.out(`campaign ${created.id} ${started.status}`);
          }
        } catch (error) {
          userError(error);
        }
      });
    });

  campaign
    .command('start')
    .description('start (or resume) a campaign; scheduled ones wait for their send time')
    .argument('<id>', 'campaign id')
    .option('--tenant <id>', 'only within this tenant')
    .action(async (id: string, opts: { tenant?: string }) => {
      await withDatabase(async (db) => {
        const r = await startCampaign(db, scopeOf(opts), id).catch(userError);
        io.out(`campaign ${id} ${r.status}`);
      });
    });

  campaign
    .command('pause')
    .description('pause a campaign (recipients not yet sent wait; `campaign start` resumes); a campaign held by Meta’s restriction stays paused after it ends')
    .argument('<id>', 'campaign id')
    .option('--tenant <id>', 'only within this tenant')
    .option('--reason <text>', 'shown in the report', 'paused from the CLI')
    .action(async (id: string, opts: { tenant?: string; reason: string }) => {
      await withDatabase(async (db) => {
        const r = await pauseCampaign(db, scopeOf(opts), id, opts.reason).catch(userError);
        io.out(`campaign ${id} ${r.status}`);
      });
    });

  campaign
    .command('report')
    .description('sent, delivered, read, failed (by error code) and replied counts of a campaign')
    .argument('<id>', 'campaign id')
    .option('--tenant <id>', 'only within this tenant')
    .option('--json', 'print the report as JSON')
    .action(async (id: string, opts: { tenant?: string; json?: boolean }) => {
      await withDatabase(async (db) => {
        const r = await campaignReport(db, scopeOf(opts), id);
        if (!r) throw new ConfigError(`campaign ${id} not found`);
        if (opts.json) return io.out(JSON.stringify(r, null, 2));
        const c = r.counts;
        io.out(`${r.name} (${r.id}) ${r.status}${r.status_reason ? ` — ${r.status_reason}` : ''}`);
        io.out(`template ${r.template.name} [${r.template.language}, ${r.template.category}], number ${r.phone_number_id}`);
        io.out(`total ${c.total}  queued ${c.queued}  sending ${c.sending}  skipped ${c.skipped}  sent ${c.sent}  delivered ${c.delivered}  read ${c.read}  failed ${c.failed}  replied ${c.replied}`);
        for (const f of r.failures) io.out(`failed ${f.count} × ${f.code}${f.example ? `: ${f.example}` : ''}`);
        for (const s of r.skipped_reasons) io.out(`skipped ${s.count} × ${s.label}`);
      });
    });

  campaign
    .command('list')
    .description('campaigns, most recent first, with their status')
    .option('--tenant <id>', 'only this tenant')
    .option('--limit <n>', 'most recent first', '50')
    .action(async (opts: { tenant?: string; limit: string }) => {
      const limit = Number(opts.limit);
      if (!Number.isInteger(limit) || limit < 1 || limit > 1000) throw new ConfigError('--limit must be 1..1000');
      await withDatabase(async (db) => {
        for (const c of await listCampaigns(db, scopeOf(opts), { limit })) {
          io.out(`${c.id}\t${c.status}\t${c.recipients}\t${c.template_name}\t${c.phone_number_id}\t${c.created_at.toISOString()}\t${c.name}`);
        }
      });
    });

  return campaign;
}
