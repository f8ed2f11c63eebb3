import { Kysely, PostgresDialect, sql } from 'kysely';
import { Migrator, type Migration, type MigrationProvider } from 'kysely/migration';
import pg from 'pg';
import { openEmbeddedPostgres, type EmbeddedPostgres } from './embedded-postgres.js';
import type { Database } from './schema.js';
import * as m0001 from './migrations/0001_initial.js';
import * as m0002 from './migrations/0002_outbound_agent_crm.js';
import * as m0003 from './migrations/0003_campaigns.js';
import * as m0004 from './migrations/0004_extension_nonces.js';
import * as m0005 from './migrations/0005_crm_consent.js';
import * as m0006 from './migrations/0006_hubspot_inbox.js';
import * as m0007 from './migrations/0007_inbox_bodies.js';
import * as m0008 from './migrations/0008_consent_signals_account_state.js';
import * as m0009 from './migrations/0009_meta_2026.js';
import * as m0010 from './migrations/0010_settings.js';
import * as m0011 from './migrations/0011_messages_lean_writes.js';
import * as m0012 from './migrations/0012_customer_lean_writes.js';
import * as m0013 from './migrations/0013_business_initiated_restriction.js';
import * as m0014 from './migrations/0014_campaign_hold_resume.js';
import * as m0015 from './migrations/0015_messages_arrival_order.js';

export type { Database } from './schema.js';

/** Every migration, in order. */
const migrations: Record<string, Migration> = {
  '0001_initial': m0001,
  '0002_outbound_agent_crm': m0002,
  '0003_campaigns': m0003,
  '0004_extension_nonces': m0004,
  '0005_crm_consent': m0005,
  '0006_hubspot_inbox': m0006,
  '0007_inbox_bodies': m0007,
  '0008_consent_signals_account_state': m0008,
  '0009_meta_2026': m0009,
  '0010_settings': m0010,
  '0011_messages_lean_writes': m0011,
  '0012_customer_lean_writes': m0012,
  '0013_business_initiated_restriction': m0013,
  '0014_campaign_hold_resume': m0014,
  '0015_messages_arrival_order': m0015,
};

class StaticMigrationProvider implements MigrationProvider {
  async getMigrations(): Promise<Record<string, Migration>> {
    return migrations;
  }
}

export interface DatabaseHandle {
  db: Kysely<Database>;
  /** 'embedded': the PostgreSQL this project runs in DATA_DIR; 'postgres': the server of DATABASE_URL. */
  kind: 'postgres' | 'embedded';
  /** How pg-boss, LISTEN and other dedicated connections reach the same database. */
  connectionString: string;
  /** The Postgres URL without password (or the embedded cluster's folder), for messages. */
  location: string;
  close(): Promise<void>;
}

export interface OpenDatabaseOptions {
  /** postgres://… → that server; undefined → the embedded PostgreSQL in `embeddedDir`. */
  databaseUrl?: string | undefined;
  /** Folder of the embedded cluster (DATA_DIR/postgres). */
  embeddedDir?: string | undefined;
  poolSize?: number;
  /** Start-up and shutdown messages of the embedded cluster. */
  log?: (message: string) => void;
}

function redact(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return 'postgres';
  }
}

/** Refuses URLs that are not PostgreSQL (a mysql:// URL would otherwise fail later and obscurely). */
export function assertPostgresUrl(url: string): void {
  let protocol: string;
  try {
    protocol = new URL(url).protocol;
  } catch {
    throw new Error('DATABASE_URL is not a valid URL (expected postgres://user:password@host:5432/database)');
  }
  if (protocol !== 'postgres:' && protocol !== 'postgresql:') {
    throw new Error(`DATABASE_URL uses ${protocol.replace(/:$/, '')}://, but CoEx needs PostgreSQL (postgres://…); leave it unset for the embedded PostgreSQL`);
  }
}

// int8 (bigint) comes back as a string, timestamps as Date objects.
export async function openDatabase(options: OpenDatabaseOptions): Promise<DatabaseHandle> {
  let url = options.databaseUrl;
  let embedded: EmbeddedPostgres | undefined;
  if (url) assertPostgresUrl(url);
  else {
    embedded = await openEmbeddedPostgres({ dataDir: options.embeddedDir ?? './data/postgres', ...(options.log ? { log: options.log } : {}) });
    url = embedded.url;
  }
  const pool = new pg.Pool({ connectionString: url, max: options.poolSize ?? 10 });
  // A connection the server drops (restart, idle kill) must not crash the process: the pool replaces it.
  pool.on('error', () => undefined);
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  return {
    db,
    kind: embedded ? 'embedded' : 'postgres',
    connectionString: url,
    location: embedded ? embedded.dataDir : redact(url),
    close: async () => {
      await db.destroy();
      await embedded?.release();
    },
  };
}

/**
 * Holds the embedded database for one server process: a second `coex serve` (or `coex worker`) on the
 * same DATA_DIR is refused, while CLI commands share the database with the running server. A
 * session-level advisory lock on its own connection: it disappears with the process, even on kill -9.
 */
export async function acquireServerLock(handle: DatabaseHandle): Promise<{ release(): Promise<void> }> {
  const client = new pg.Client({ connectionString: handle.connectionString });
  client.on('error', () => undefined);
  await client.connect();
  const r = await client.query<{ ok: boolean }>("select pg_try_advisory_lock(hashtextextended('coex.embedded-server', 0)) as ok");
  if (!r.rows[0]?.ok) {
    await client.end();
    throw new Error(`another CoEx server is already running on this DATA_DIR (${handle.location}); stop it first, or give this one its own DATA_DIR or a DATABASE_URL`);
  }
  return { release: () => client.end() };
}

export async function migrateToLatest(db: Kysely<Database>): Promise<string[]> {
  const migrator = new Migrator({ db, provider: new StaticMigrationProvider() });
  const { error, results } = await migrator.migrateToLatest();
  if (error) throw error instanceof Error ? error : new Error(String(error));
  return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
}

/** Cheap liveness query for /readyz. */
export async function ping(db: Kysely<Database>): Promise<void> {
  await sql`select 1`.execute(db);
}
