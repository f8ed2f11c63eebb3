#!/usr/bin/env node
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { loadDotEnv } from './env-file.js';
import { formatCliError } from './cli-errors.js';
import { describeBoundAddress } from './http/listen-address.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command, Option } from 'commander';
import { ConfigError, loadConfig } from './config.js';
import { migrateToLatest, openDatabase } from './db/index.js';
import { createLogger } from './logger.js';
import { webhookSubscription } from './outbound/capability.js';
import { Runtime } from './runtime.js';
import { signBody } from './webhooks/signature.js';
import { sha256Hex, TokenCipher } from './crypto.js';
import { runDemo } from './demo/run.js';
import { DEMO_LANGUAGES, demoLanguageFromEnv, type DemoLanguage } from './demo/labels.js';
import { registerCampaignCommands } from './campaigns/cli.js';
import { registerAdminCommands } from './admin/cli.js';

const program = new Command();
program.name('coex').description('CoEx: WhatsApp Coexistence platform').option('--verbose', 'print the stack trace of an error').showHelpAfterError();

function config() {
  return loadConfig();
}

program
  .command('serve')
  .description('HTTP server (webhooks, API, metrics) with the inbox worker in the same process unless COEX_WORKER=off')
  .option('-p, --port <port>', 'port (default: $PORT or 3000)')
  .action(async (opts: { port?: string }) => {
    const cfg = config();
    const runtime = await Runtime.create({ config: cfg, exclusive: true });
    const url = await runtime.listen(opts.port ? Number(opts.port) : cfg.PORT);
    runtime.logger.info({ url, listening: describeBoundAddress(runtime.server), database: runtime.handle.kind, location: runtime.handle.location, worker: cfg.COEX_WORKER }, `CoEx is serving on ${describeBoundAddress(runtime.server)}`);
    shutdownOnSignal(runtime);
  });

program
  .command('worker')
  .description('inbox worker and jobs only, no HTTP (run any number against one PostgreSQL to scale out; serve with COEX_WORKER=off)')
  .action(async () => {
    const cfg = config();
    const runtime = await Runtime.create({ config: cfg, http: false, worker: true });
    runtime.logger.info({ database: runtime.handle.kind }, 'CoEx worker started');
    shutdownOnSignal(runtime);
  });

program
  .command('migrate')
  .description('apply database migrations and exit')
  .action(async () => {
    const cfg = config();
    const handle = await openDatabase({ databaseUrl: cfg.DATABASE_URL, embeddedDir: join(cfg.DATA_DIR, 'postgres') });
    try {
      const applied = await migrateToLatest(handle.db);
      console.log(applied.length ? `applied: ${applied.join(', ')}` : 'database is up to date');
    } finally {
      await handle.close();
    }
  });

program
  .command('replay')
  .description('POST recorded webhook JSON (a file, or every .json file of a directory in name order) through the signed endpoint')
  .argument('<path>', 'file or directory')
  .option('--url <url>', 'server base URL', `http://127.0.0.1:${process.env.PORT ?? 3000}`)
  .addOption(new Option('--secret <secret>', 'app secret used to sign (default: $WHATSAPP_APP_SECRET)').env('WHATSAPP_APP_SECRET'))
  .action(async (path: string, opts: { url: string; secret?: string }) => {
    if (!opts.secret) throw new ConfigError('replay needs the app secret: --secret or WHATSAPP_APP_SECRET');
    const files = statSync(path).isDirectory()
      ? readdirSync(path).filter((f) => f.endsWith('.json')).sort().map((f) => join(path, f))
      : [path];
    let failed = 0;
    for (const file of files) {
      // The file's bytes are sent as they are: the signature covers exactly what was recorded.
      const raw = readFileSync(file);
      const res = await fetch(`${opts.url.replace(/\/$/, '')}/webhooks/whatsapp`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-hub-signature-256': signBody(raw, opts.secret) },
        body: raw,
      });
      console.log(`${res.status}  ${file}`);
      if (res.status !== 200) failed += 1;
    }
    if (failed > 0) {
      console.error(`${failed} of ${files.length} deliveries were not accepted`);
      process.exitCode = 1;
    }
  });

program
  .command('demo')
  .description('start a throwaway CoEx, play a Coexistence day of a Moroccan shop through the real webhook endpoint (offline agent answering, Meta stood in locally), print the threads')
  .option('--data-dir <dir>', 'keep the demo database in this directory instead of a temporary one')
  .addOption(new Option('--lang <lang>', "the owner's language for the demo's labels (default: from LANG)").choices([...DEMO_LANGUAGES]))
  .addOption(new Option('--whisper-model <path>', 'a ggml Whisper model on disk: transcribe the voice note locally (default: $WHISPER_MODEL_PATH)').env('WHISPER_MODEL_PATH'))
  .action(async (opts: { dataDir?: string; lang?: DemoLanguage; whisperModel?: string }) => {
    await runDemo({
      language: opts.lang ?? demoLanguageFromEnv(),
      ...(opts.dataDir ? { dataDir: opts.dataDir } : {}),
      ...(opts.whisperModel ? { whisperModelPath: opts.whisperModel } : {}),
    });
  });

const tenant = program.command('tenant').description('tenants (businesses) on this server');
tenant
  .command('profile')
  .description("set the tenant's business profile (hours, zones, prices, policies, FAQ) that the agent answers from")
  .argument('<id>', 'tenant id')
  .argument('<file>', 'JSON file, e.g. examples/knowledge/atlas-shop.json')
  .action(async (id: string, file: string) => {
    const { businessProfileSchema } = await import('./agent/offline-responder.js');
    const parsed = businessProfileSchema.safeParse(JSON.parse(readFileSync(file, 'utf8')));
    if (!parsed.success) throw new ConfigError(`invalid profile: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
    await withDatabase(async (db) => {
      const { setTenantProfile } = await import('./store/tenants.js');
      await setTenantProfile(db, id, parsed.data);
      console.log(`profile of ${id} set (${parsed.data.faq?.length ?? 0} FAQ entries)`);
    });
  });

const token = program.command('token').description('API tokens scoped to one tenant');
token
  .command('create')
  .description('create an API token that sees only this tenant (printed once; only its hash is stored)')
  .argument('<tenant>', 'tenant id')
  .option('--label <label>', 'what the token is for', 'api')
  .action(async (tenantId: string, opts: { label: string }) => {
    await withDatabase(async (db) => {
      const exists = await db.selectFrom('tenants').select('id').where('id', '=', tenantId).executeTakeFirst();
      if (!exists) throw new ConfigError(`no tenant '${tenantId}' (create it with: coex tenant create ${tenantId})`);
      const value = `coex_${randomBytes(24).toString('base64url')}`;
      await db.insertInto('api_tokens').values({ token_hash: sha256Hex(value), tenant_id: tenantId, label: opts.label }).execute();
      console.log(value);
      console.error('(shown once; only its hash is stored)');
    });
  });

program
  .command('onboard')
  .description('finish Embedded Signup (v4) for a Coexistence number: token exchange, app subscription and webhook fields, number record, contact and history sync requests')
  .requiredOption('--tenant <id>', 'tenant that owns the number')
  .requiredOption('--code <code>', 'the code from the Embedded Signup session (valid a few minutes)')
  .option('--waba <id>', 'WhatsApp Business Account id (from the FINISH_WHATSAPP_BUSINESS_APP_ONBOARDING event)')
  .option('--number <phone_number_id>', 'the phone number id (v4 finish events carry it); else the WABA\'s Coexistence number')
  .option('--event <json>', 'the whole WA_EMBEDDED_SIGNUP message event as the page received it (instead of --waba/--number)')
  .action(async (opts: { tenant: string; code: string; waba?: string; number?: string; event?: string }) => {
    const cfg = config();
    if (!cfg.META_APP_ID || !cfg.WHATSAPP_APP_SECRET) throw new ConfigError('onboarding needs META_APP_ID and WHATSAPP_APP_SECRET');
    const { onboardNumber } = await import('./outbound/onboarding.js');
    const { interpretSessionEvent, sessionEventSchema } = await import('./outbound/embedded-signup.js');
    let wabaId = opts.waba;
    let phoneNumberId = opts.number;
    if (opts.event) {
      let raw: unknown;
      try {
        raw = JSON.parse(opts.event);
      } catch {
        throw new ConfigError('--event is not JSON');
      }
      const parsed = sessionEventSchema.safeParse(raw);
      if (!parsed.success) throw new ConfigError(`--event is not a WA_EMBEDDED_SIGNUP message event: ${parsed.error.issues.map((i) => i.message).join('; ')}`);
      const outcome = interpretSessionEvent(parsed.data);
      if (outcome.kind === 'cancelled') throw new ConfigError(`the business left Embedded Signup${outcome.currentStep ? ` at ${outcome.currentStep}` : ''}: nothing to onboard`);
      if (outcome.kind === 'error') throw new ConfigError(`Embedded Signup reported an error: ${outcome.message}`);
      if (outcome.kind === 'invalid') throw new ConfigError(outcome.reason);
      wabaId = outcome.wabaId;
      phoneNumberId = phoneNumberId ?? outcome.phoneNumberId ?? undefined;
    }
    if (!wabaId) throw new ConfigError('give --waba or --event');
    const runtime = await Runtime.create({ config: cfg, http: false, worker: false });
    try {
      const result = await onboardNumber(
        { db: runtime.db, graph: runtime.graph, cipher: runtime.cipher, logger: runtime.logger },
        { tenantId: opts.tenant, code: opts.code, wabaId, appId: cfg.META_APP_ID, appSecret: cfg.WHATSAPP_APP_SECRET, ...(phoneNumberId ? { phoneNumberId } : {}), ...webhookSubscription(cfg) },
      );
      for (const s of result.steps) console.log(`${s.status === 'ok' ? '✓' : '✗'} ${s.step}${s.requestId ? ` (request ${s.requestId})` : ''}${s.detail ? `: ${s.detail}` : ''}`);
      console.log(`number ${result.phoneNumberId} ${result.isCoexistence ? 'onboarded in Coexistence' : 'onboarded (not on the Business App)'}`);
    } finally {
      await runtime.close();
    }
  });

const crmCmd = program.command('crm').description('CRM connections (HubSpot, WooCommerce, Odoo, Zoho)');
crmCmd
  .command('connect')
  .description('connect a CRM account to a tenant: the credentials are checked with one call to the CRM, then stored encrypted')
  .argument('<tenant>', 'tenant id')
  .argument('<credentials>', 'JSON file: { "crm": "hubspot" | "woocommerce" | "odoo" | "zoho", … } (see README)')
  .action(async (tenantId: string, file: string) => {
    const { crmCredentialsSchema } = await import('./crm/registry.js');
    const { connectCrm } = await import('./crm/connections.js');
    const parsed = crmCredentialsSchema.safeParse(JSON.parse(readFileSync(file, 'utf8')));
    if (!parsed.success) throw new ConfigError(`invalid credentials file: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
    const cfg = config();
    const cipher = cipherFromConfig(cfg);
    await withDatabase(async (db) => {
      const { checkEncryptionKey } = await import('./key-check.js');
      await checkEncryptionKey(db, cipher);
      const c = await connectCrm(db, cipher, tenantId, parsed.data);
      console.log(`connected ${c.crm} ${c.account} (${c.id}) to tenant ${tenantId}`);
    });
  });
crmCmd
  .command('list')
  .description('connections with their outbox health (pending, done, dead-lettered)')
  .action(async () => {
    const { listCrmConnections } = await import('./crm/connections.js');
    await withDatabase(async (db) => {
      for (const c of await listCrmConnections(db, null)) console.log(`${c.tenant_id}\t${c.crm}\t${c.account}\t${c.status}\tpending ${c.pending}, done ${c.done}, dead ${c.dead}${c.last_dead_reason ? ` (last: ${c.last_dead_reason})` : ''}`);
    });
  });

program
  .command('account')
  .argument('<phone_number_id>', 'the number')
  .description("the number's account state: sending or not and why, Meta's warnings (scheduled disable, policy violations), every account update")
  .option('--lift-hold', "lift Meta's hold on business-initiated messaging by hand (Meta ended the restriction early without a webhook): templates go out again, held campaigns resume")
  .option('--actor <name>', 'who lifts it (kept in the account history)', 'cli')
  .action(async (phoneNumberId: string, opts: { liftHold?: boolean; actor: string }) => {
    const { getAccountState, accountStateLines } = await import('./store/queries.js');
    await withDatabase(async (db) => {
      if (opts.liftHold) {
        const { liftTemplatesHold } = await import('./store/account-hold.js');
        const outcome = await liftTemplatesHold(db, null, phoneNumberId, opts.actor);
        if (outcome.kind === 'not_found') throw new ConfigError(`number ${phoneNumberId} not found`);
        if (outcome.kind === 'nothing_held') throw new ConfigError(`nothing is held: Meta restricts no business-initiated messaging of number ${phoneNumberId}`);
        console.log(`hold lifted (Meta's end was ${outcome.until ?? 'not given'}); held campaigns resume with the runner's next pass`);
      }
      const state = await getAccountState(db, null, phoneNumberId);
      if (!state) throw new ConfigError(`number ${phoneNumberId} not found`);
      for (const line of accountStateLines(state)) console.log(line);
    });
  });

const hubspotCmd = program.command('hubspot').description('HubSpot inbox (Conversations custom channel): see hubspot-app/README.md');
hubspotCmd
  .command('channel')
  .description('the CoEx custom channel of your HubSpot app')
  .command('register')
  .description('one-time: register the CoEx WhatsApp channel for your HubSpot app (developer API key in $HUBSPOT_DEVELOPER_API_KEY)')
  .requiredOption('--app-id <id>', 'the HubSpot app id')
  .requiredOption('--webhook-url <url>', 'public URL of this server\'s /webhooks/hubspot/inbox')
  .option('--name <name>', 'channel name shown in HubSpot', 'WhatsApp (CoEx)')
  .action(async (opts: { appId: string; webhookUrl: string; name: string }) => {
    const developerApiKey = process.env.HUBSPOT_DEVELOPER_API_KEY;
    if (!developerApiKey) throw new ConfigError('set HUBSPOT_DEVELOPER_API_KEY (the developer account\'s API key; it is not stored)');
    const { registerHubSpotCustomChannel } = await import('@coex/connectors');
    const channel = await registerHubSpotCustomChannel({ developerApiKey, appId: opts.appId, name: opts.name, webhookUrl: opts.webhookUrl, channelDescription: 'WhatsApp conversations of your Coexistence number, through CoEx' });
    console.log(`registered channel ${channel.id} (${channel.name}); next: coex hubspot inbox connect <tenant> --channel ${channel.id} --inbox <inboxId> --number <phone_number_id>`);
  });
hubspotCmd
  .command('inbox')
  .description('HubSpot inboxes that receive the WhatsApp threads of a number')
  .command('connect')
  .description('create the channel account of a number in a HubSpot inbox and start publishing its WhatsApp threads there')
  .argument('<tenant>', 'tenant id (its HubSpot connection is used)')
  .requiredOption('--channel <id>', 'channel id from `coex hubspot channel register`')
  .requiredOption('--inbox <id>', 'HubSpot inbox id (GET /conversations/v3/conversations/inboxes)')
  .requiredOption('--number <phone_number_id>', 'the WhatsApp number whose threads go to this inbox')
  .option('--name <name>', 'channel account name shown in HubSpot')
  .action(async (tenantId: string, opts: { channel: string; inbox: string; number: string; name?: string }) => {
    const { connectHubSpotInbox } = await import('./crm/hubspot-inbox.js');
    const { persistentConnectorFactory } = await import('./crm/token-store.js');
    const cfg = config();
    const cipher = cipherFromConfig(cfg);
    await withDatabase(async (db) => {
      const connectorFor = persistentConnectorFactory({ db, cipher, logger: createLogger('warn') });
      const c = await connectHubSpotInbox({ db, cipher, connectorFor }, { tenantId, channelId: opts.channel, inboxId: opts.inbox, phoneNumberId: opts.number, ...(opts.name ? { name: opts.name } : {}) });
      console.log(`channel account ${c.channelAccountId} connected: number ${c.phoneNumberId} → inbox ${c.inboxId} (messages from ${c.connectedAt} on)`);
    });
  });

const extKey = program.command('extension-key').description('per-install keys of the WooCommerce plugin, Odoo addon and Zoho widget');
extKey
  .command('issue')
  .description('issue the key a CRM extension (WooCommerce plugin, Odoo addon, Zoho widget) signs its requests with (printed once)')
  .argument('<tenant>', 'tenant id')
  .argument('<crm>', 'woocommerce | odoo | zoho')
  .argument('<account>', 'site URL (WooCommerce), <base URL>#<database> (Odoo), org id (Zoho)')
  .action(async (tenantId: string, crm: string, account: string) => {
    const { issueExtensionKey } = await import('./api/extension-auth.js');
    const cfg = config();
    const cipher = cipherFromConfig(cfg);
    await withDatabase(async (db) => {
      const issued = await issueExtensionKey(db, { tenantId, crm, account, cipher });
      console.log(issued.key);
      console.error(`(key for ${issued.crm} ${issued.account}: shown once, stored encrypted)`);
    });
  });
extKey
  .command('revoke')
  .description('revoke the extension key of a CRM account: its requests are refused from now on')
  .argument('<crm>', 'woocommerce | odoo | zoho')
  .argument('<account>', 'as given to extension-key issue')
  .action(async (crm: string, account: string) => {
    const { revokeExtensionKey } = await import('./api/extension-auth.js');
    await withDatabase(async (db) => {
      await revokeExtensionKey(db, { crm: crm as Parameters<typeof revokeExtensionKey>[1]['crm'], account });
      console.log(`revoked the extension key of ${crm} ${account}`);
    });
  });

/** The key that encrypts tokens and CRM credentials at rest: COEX_ENCRYPTION_KEY, else DATA_DIR/encryption.key. */
function cipherFromConfig(cfg: ReturnType<typeof config>): TokenCipher {
  return cfg.COEX_ENCRYPTION_KEY ? TokenCipher.fromKey(cfg.COEX_ENCRYPTION_KEY) : TokenCipher.fromKeyFile(join(cfg.DATA_DIR, 'encryption.key'));
}

async function withDatabase<T>(fn: (db: Awaited<ReturnType<typeof openDatabase>>['db']) => Promise<T>): Promise<T> {
  const cfg = config();
  // The embedded database is shared with a running `coex serve` (found through its postmaster.pid):
  // what a command writes is written where the server reads.
  const handle = await openDatabase({ databaseUrl: cfg.DATABASE_URL, embeddedDir: join(cfg.DATA_DIR, 'postgres') });
  try {
    await migrateToLatest(handle.db);
    return await fn(handle.db);
  } finally {
    await handle.close();
  }
}

function shutdownOnSignal(runtime: Runtime): void {
  let closing = false;
  const stop = (signal: string) => {
    if (closing) return;
    closing = true;
    runtime.logger.info({ signal }, 'shutting down');
    runtime.close().then(
      () => process.exit(0),
      (error: unknown) => {
        runtime.logger.error({ err: String(error) }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
}

registerCampaignCommands(program, withDatabase, undefined, () => cipherFromConfig(config()));
registerAdminCommands(program, withDatabase);

export { program };

// Run only as the program (not when a test imports the command tree to check its help).
if (process.argv[1] && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const verbose = process.argv.includes('--verbose');
  Promise.resolve()
    .then(() => loadDotEnv())
    .then(() => program.parseAsync(process.argv))
    .catch((error: unknown) => {
      console.error(formatCliError(error, verbose));
      process.exit(1);
    });
}
