import { sql } from 'kysely';
import { loadConfig, type Config } from '../../core/src/config.js';
import { Runtime, type RuntimeOptions } from '../../core/src/runtime.js';
import { createLogger } from '../../core/src/logger.js';
import { createTestDatabase, type BackendName, type TestDatabase } from './backends.js';
import { signBody } from '../../core/src/webhooks/signature.js';

export const TEST_APP_SECRET = 'test-app-secret-0123456789';
export const TEST_VERIFY_TOKEN = 'verify-me';
export const TEST_ADMIN_TOKEN = 'admin-token-0123456789abcdef';

export interface TestServer {
  runtime: Runtime;
  url: string;
  database: TestDatabase;
  /** POSTs a webhook body signed with the test app secret; returns the HTTP status. */
  postWebhook(body: unknown | string, opts?: { secret?: string; signature?: string }): Promise<Response>;
  api(path: string, init?: RequestInit & { token?: string }): Promise<Response>;
  close(): Promise<void>;
}

export async function startTestServer(
  backend: BackendName,
  overrides: Partial<Config> = {},
  runtimeOptions: Partial<RuntimeOptions> = {},
  existing?: TestDatabase,
): Promise<TestServer> {
  const database = existing ?? (await createTestDatabase(backend));
  const config = loadConfig(
    {},
    {
      PORT: 0,
      HOST: '127.0.0.1',
      DATABASE_URL: database.databaseUrl,
      WHATSAPP_APP_SECRET: TEST_APP_SECRET,
      WHATSAPP_VERIFY_TOKEN: TEST_VERIFY_TOKEN,
      COEX_API_TOKEN: TEST_ADMIN_TOKEN,
      LOG_LEVEL: 'silent',
      // Several runtimes per test file and two files at once share one server's max_connections.
      DATABASE_POOL_SIZE: 6,
      INBOX_CONCURRENCY: 4,
      ...overrides,
    },
  );
  const runtime = await Runtime.create({
    config,
    logger: createLogger(process.env.TEST_LOG_LEVEL ?? 'silent'),
    ephemeral: true,
    pollingIntervalSeconds: 0.5,
    sweepIntervalMs: 1000,
    // Campaign tests drive their own runners; a second one in the runtime would race them.
    campaigns: false,
    ...runtimeOptions,
  });
  const url = runtimeOptions.http === false ? '' : await runtime.listen(0, '127.0.0.1');
  return {
    runtime,
    url,
    database,
    postWebhook: (body, opts = {}) => {
      const raw = typeof body === 'string' ? body : JSON.stringify(body);
      return fetch(`${url}/webhooks/whatsapp`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-hub-signature-256': opts.signature ?? signBody(raw, opts.secret ?? TEST_APP_SECRET) },
        body: raw,
      });
    },
    api: (path, init = {}) => {
      const { token, ...rest } = init;
      return fetch(`${url}${path}`, {
        ...rest,
        headers: { authorization: `Bearer ${token ?? TEST_ADMIN_TOKEN}`, 'content-type': 'application/json', ...(rest.headers ?? {}) },
      });
    },
    close: async () => {
      await runtime.close();
      if (!existing) await database.drop();
    },
  };
}

/** Whether a message with this wamid is stored (readable through the API). */
export async function isStored(server: TestServer, wamid: string): Promise<boolean> {
  return (await server.runtime.db.selectFrom('messages').select('id').where('wamid', '=', wamid).execute()).length > 0;
}

/** Whether a connection to the test database waits for a lock (a lane held inside its transaction). */
export async function lockWaiting(server: TestServer): Promise<boolean> {
  const waiting = await sql<{ n: number }>`select count(*)::int as n from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock'`.execute(server.runtime.db);
  return waiting.rows[0]!.n > 0;
}
