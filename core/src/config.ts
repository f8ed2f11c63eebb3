import { z } from 'zod';

/** Runtime configuration, from the environment. `.env.example` documents every key. */
const envSchema = z.object({
  PORT: z.coerce.number().int().min(0).max(65535).default(3000),
  HOST: z.string().default('0.0.0.0'),
  /** PostgreSQL server (postgres://…); unset: the embedded PostgreSQL in DATA_DIR/postgres. */
  DATABASE_URL: z
    .string()
    .url()
    .refine((u) => /^postgres(ql)?:\/\//i.test(u), { error: (issue) => `only PostgreSQL is supported (postgres://user:password@host:5432/db); got a ${String(issue.input).split(':')[0]}:// URL` })
    .optional(),
  DATA_DIR: z.string().default('./data'),
  /** Connections per process (the inbox worker holds one per number it applies at once). */
  DATABASE_POOL_SIZE: z.coerce.number().int().min(2).max(200).default(20),
  /** Numbers the inbox worker of one process applies at once. */
  INBOX_CONCURRENCY: z.coerce.number().int().min(1).max(64).default(8),
  WHATSAPP_APP_SECRET: z.string().min(1).optional(),
  WHATSAPP_VERIFY_TOKEN: z.string().min(1).optional(),
  GRAPH_API_BASE_URL: z.string().url().default('https://graph.facebook.com'),
  GRAPH_API_VERSION: z.string().regex(/^v\d+\.\d+$/).default('v25.0'),
  /** System-user token used for numbers that have no token of their own (single-business setups). */
  WHATSAPP_ACCESS_TOKEN: z.string().min(1).optional(),
  META_APP_ID: z.string().optional(),
  /** Embedded Signup configuration id (App Dashboard → Facebook Login for Business → Configurations): enables the /onboarding page. */
  META_CONFIG_ID: z.string().regex(/^\d+$/).optional(),
  /** When set, GET /metrics requires `Authorization: Bearer <this token>`. */
  COEX_METRICS_TOKEN: z.string().min(16).optional(),
  /** HubSpot marketplace app (OAuth install at /oauth/hubspot/install; needs PUBLIC_BASE_URL). */
  HUBSPOT_CLIENT_ID: z.string().min(1).optional(),
  /**
   * Scopes of the install URL: the same lists as `auth.requiredScopes` / `auth.optionalScopes` in
   * hubspot-app/src/app/app-hsmeta.json (HubSpot refuses an install whose scopes differ from the
   * app's; test/hubspot-scopes.test.ts keeps them equal). Optional: the inbox channel, deals, tickets.
   */
  HUBSPOT_OAUTH_SCOPES: z.string().default('oauth crm.objects.contacts.read crm.objects.contacts.write crm.schemas.contacts.write crm.schemas.communications.write crm.objects.deals.read'),
  HUBSPOT_OAUTH_OPTIONAL_SCOPES: z.string().default('crm.objects.deals.write tickets conversations.custom_channels.read conversations.custom_channels.write'),
  /** Zoho CRM client (OAuth install at /oauth/zoho/install, multi data centre). */
  ZOHO_CLIENT_ID: z.string().min(1).optional(),
  ZOHO_CLIENT_SECRET: z.string().min(1).optional(),
  /** HubSpot app client secret: verifies the app card's signed requests (signature v3) and OAuth. */
  HUBSPOT_CLIENT_SECRET: z.string().min(1).optional(),
  /** The public https URL of this server as CRMs call it (behind a TLS proxy HubSpot signs this URL). */
  PUBLIC_BASE_URL: z.string().url().optional(),
  COEX_API_TOKEN: z.string().min(16).optional(),
  COEX_ENCRYPTION_KEY: z.string().optional(),
  COEX_DEFAULT_TENANT: z.string().regex(/^[a-z0-9][a-z0-9_-]{0,62}$/).default('default'),
  COEX_WORKER: z.enum(['inline', 'off']).default('inline'),
  /** Where media blobs live: dir = <DATA_DIR>/media (default), s3 = an S3-compatible bucket (S3_* keys). */
  MEDIA_STORE: z.enum(['dir', 's3']).default('dir'),
  S3_ENDPOINT: z.string().url().optional(),
  S3_REGION: z.string().default('us-east-1'),
  S3_BUCKET: z.string().min(1).optional(),
  S3_ACCESS_KEY_ID: z.string().min(1).optional(),
  S3_SECRET_ACCESS_KEY: z.string().min(1).optional(),
  S3_PREFIX: z.string().default('media'),
  /** Defaults to true when S3_ENDPOINT is set (MinIO and most self-hosted stores need it). */
  S3_FORCE_PATH_STYLE: z.enum(['true', 'false', '1', '0']).optional(),
  WEBHOOK_MAX_BODY_BYTES: z.coerce.number().int().min(1024).default(5 * 1024 * 1024),
  GEMINI_API_KEY: z.string().optional(),
  GEMINI_MODEL: z.string().default('gemini-2.5-flash'),
  /** ggml Whisper model on disk for offline transcription (never downloaded). */
  WHISPER_MODEL_PATH: z.string().optional(),
  /** Darija transcripts in Arabic letters (default) or Latin letters with digits. */
  TRANSCRIPT_DARIJA_SCRIPT: z.enum(['arabic', 'latin']).default('arabic'),
  /** on = the agent answers customers (offline FAQ responder without a Gemini key); off = never. */
  COEX_AGENT: z.enum(['on', 'off']).default('on'),
  /** How long a voice-note turn waits for its transcript before handing off. */
  TRANSCRIPT_TIMEOUT_SECONDS: z.coerce.number().int().min(5).max(3600).default(90),
  GEMINI_BASE_URL: z.string().url().optional(),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** auto = readable lines in a terminal, JSON otherwise; json / pretty force one. */
  LOG_FORMAT: z.enum(['auto', 'json', 'pretty']).default('auto'),
});

export type Config = z.infer<typeof envSchema>;

/** Every key the configuration reads (the `.env.example` test checks the file against it). */
export const CONFIG_KEYS: readonly string[] = Object.keys(envSchema.shape);

export class ConfigError extends Error {}

export function loadConfig(env: NodeJS.ProcessEnv = process.env, overrides: Partial<Config> = {}): Config {
  const cleaned = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = envSchema.safeParse(cleaned);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`).join('\n');
    throw new ConfigError(`Invalid configuration:\n${problems}`);
  }
  const config = { ...parsed.data, ...overrides };
  // Each lane of the inbox worker holds a pooled connection while it applies, and may need one more
  // for a moment (a new number is created outside its transaction): with no connection to spare, every
  // lane would wait for one forever.
  if (config.DATABASE_POOL_SIZE < config.INBOX_CONCURRENCY + 2) {
    throw new ConfigError(
      `Invalid configuration:\n  DATABASE_POOL_SIZE (${config.DATABASE_POOL_SIZE}) must be at least INBOX_CONCURRENCY (${config.INBOX_CONCURRENCY}) + 2: each worker lane holds a connection, and needs one more for a moment`,
    );
  }
  return config;
}
