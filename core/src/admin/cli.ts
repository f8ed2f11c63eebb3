import type { Command } from 'commander';
import { ConfigError } from '../config.js';
import type { WithDatabase } from '../campaigns/cli.js';
import { AdminError, listNumbers, listTenants, moveNumber, newTenantSchema, upsertTenant } from './tenants-numbers.js';

type Print = (line: string) => void;

/**
 * `coex tenant create|list`, `coex number list|move`: the same functions as the admin API
 * (core/src/admin/tenants-numbers.ts). `tenant` may already exist on the program (profile lives there).
 */
export function registerAdminCommands(program: Command, withDatabase: WithDatabase, print: Print = (l) => console.log(l)): void {
  const tenant = program.commands.find((c) => c.name() === 'tenant') ?? program.command('tenant').description('tenants (businesses) on this server');
  tenant
    .command('create')
    .description('create a tenant, or update its name and quiet period')
    .argument('<id>', 'tenant id (lowercase letters, digits, - and _)')
    .option('--name <name>', 'display name')
    .option('--quiet-period <seconds>', 'the agent resumes this long after the last human activity (default 1800)')
    .action(async (id: string, opts: { name?: string; quietPeriod?: string }) => {
      const parsed = newTenantSchema.safeParse({ id, ...(opts.name ? { name: opts.name } : {}), ...(opts.quietPeriod !== undefined ? { quiet_period_seconds: Number(opts.quietPeriod) } : {}) });
      if (!parsed.success) throw new ConfigError(`invalid tenant: ${parsed.error.issues.map((i) => `${i.path.join('.') || 'id'}: ${i.message}`).join('; ')}`);
      await withDatabase(async (db) => {
        const { created } = await upsertTenant(db, parsed.data);
        print(`tenant ${id} ${created ? 'created' : 'updated'}`);
      });
    });
  tenant
    .command('list')
    .description('tenants with their numbers and CRM connections')
    .action(async () => {
      await withDatabase(async (db) => {
        const rows = await listTenants(db, null);
        if (rows.length === 0) print('no tenants yet: coex tenant create <id>');
        for (const t of rows) print(`${t.id}\t${t.name}\tnumbers ${t.numbers}\tCRM ${t.crm_connections}\t${t.has_profile ? 'profile set' : 'no profile'}`);
      });
    });

  const number = program.command('number').description('WhatsApp business numbers on this server');
  number
    .command('list')
    .description('numbers with their tenant, connection state, app activity and history sync')
    .option('--tenant <id>', 'only this tenant')
    .action(async (opts: { tenant?: string }) => {
      await withDatabase(async (db) => {
        const rows = await listNumbers(db, opts.tenant ?? null);
        if (rows.length === 0) print('no numbers yet: they appear with their first webhook, or with coex onboard');
        for (const n of rows) {
          const inactivity = n.inactivity_warning ? `\tWARNING: Business App unused for ${n.app_inactive_days} days (Meta disconnects after 14)` : '';
          print(`${n.phone_number_id}\t${n.display_phone_number ?? '-'}\t${n.tenant_id}\t${n.connection.status}\thistory ${n.history.status} ${n.history.progress}%${inactivity}`);
        }
      });
    });
  number
    .command('move')
    .description('move a number, with its contacts, threads and messages, to another tenant')
    .argument('<phone_number_id>', 'the number (Meta phone_number_id)')
    .argument('<tenant>', 'the tenant that gets it (must exist)')
    .action(async (phoneNumberId: string, tenantId: string) => {
      await withDatabase(async (db) => {
        try {
          const moved = await moveNumber(db, phoneNumberId, tenantId);
          print(moved.from === moved.to ? `number ${phoneNumberId} already belongs to ${tenantId}` : `number ${phoneNumberId} moved from ${moved.from} to ${moved.to} (${moved.threads} threads)`);
        } catch (error) {
          if (error instanceof AdminError) throw new ConfigError(error.message);
          throw error;
        }
      });
    });
}
