import { mkdirSync } from 'node:fs';
import { Kysely, PostgresDialect, sql } from 'kysely';
import { Migrator, type Migration, type MigrationProvider } from 'kysely/migration';
import pg from 'pg';
import type { PGlite } from '@electric-sql/pglite';
import { fromPglite, type Db as IDatabase } from 'pg-boss';
import { SafePGliteDialect } from './pglite-dialect.js';
import type { Database } from './schema.js';
import * as m0001 from './migrations/0001_initial.js';
import * as m0002 from './migrations/0002_outbound_agent_crm.js';
import * as m0003 from './migrations/0003_campaigns.js';
import * as m0004 from './migrations/0004_extension_nonces.js';
import * as m0005 from './migrations/0005_crm_consent.js';
import * as m0006 from './migrations/0006_hubspot_inbox.js';
import * as m0010 from './migrations/0010_settings.js';

export type { Database } from './schema.js';

/** Every migration, in order. Both dialects run the same list. */
const migrations: Record<string, Migration> = {
  '0001_initial': m0001,
  '0002_outbound_agent_crm': m0002,
  '0003_campaigns': m0003,
  '0004_extension_nonces': m0004,
  '0005_crm_consent': m0005,
  '0006_hubspot_inbox': m0006,
  '0010_settings': m0010,
};

class StaticMigrationProvider implements MigrationProvider {
  async getMigrations(): Promise<Record<string, Migration>> {
    return migrations;
  }
}

export interface DatabaseHandle {
  db: Kysely<Database>;
  kind: 'postgres' | 'pglite';
  /** How pg-boss reaches the same database (PGlite: through the same instance and its mutex). */
  boss: { connectionString: string } | { db: IDatabase; backend: 'pglite' };
  /** Where PGlite keeps its files ('memory://' in tests), or the Postgres URL without password. */
  location: string;
  close(): Promise<void>;
}

export interface OpenDatabaseOptions {
  /** postgres://… → node-postgres pool; undefined → embedded PGlite in dataDir. */
  databaseUrl?: string | undefined;
  /** PGlite data directory, or 'memory://' for a throwaway database. */
  dataDir?: string | undefined;
  poolSize?: number;
}

// Postgres returns bigint (int8) as a string; timestamps as Date objects on both drivers.
function redact(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return 'postgres';
  }
}

export async function openDatabase(options: OpenDatabaseOptions): Promise<DatabaseHandle> {
  if (options.databaseUrl) {
    const pool = new pg.Pool({ connectionString: options.databaseUrl, max: options.poolSize ?? 10 });
    const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
    return {
      db,
      kind: 'postgres',
      boss: { connectionString: options.databaseUrl },
      location: redact(options.databaseUrl),
      close: async () => {
        await db.destroy();
      },
    };
  }
  const dataDir = options.dataDir ?? './data/pglite';
  const { PGlite } = await import('@electric-sql/pglite');
  if (!dataDir.startsWith('memory://')) mkdirSync(dataDir, { recursive: true });
  const pglite: PGlite = await PGlite.create(dataDir);
  const db = new Kysely<Database>({ dialect: new SafePGliteDialect(pglite) });
  return {
    db,
    kind: 'pglite',
    boss: { db: fromPglite(pglite), backend: 'pglite' },
    location: dataDir,
    close: async () => {
      await db.destroy();
      if (!pglite.closed) await pglite.close();
    },
  };
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
