import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { inject } from 'vitest';

/**
 * The database every store test runs on: one real PostgreSQL. In CI (and wherever TEST_DATABASE_URL is
 * set) that server; elsewhere the embedded PostgreSQL that test/global-setup.ts starts for the run —
 * the same binaries `npm start` uses with no DATABASE_URL. Each test database is created fresh and
 * dropped after, so files and parallel runs never see each other's rows.
 */
export type BackendName = 'postgres';

export function backends(): BackendName[] {
  return ['postgres'];
}

export interface TestDatabase {
  databaseUrl: string;
  drop(): Promise<void>;
}

/** The server tests create their databases on (an admin connection string). */
export function testServerUrl(): string {
  const url = process.env.TEST_DATABASE_URL || inject('embeddedDatabaseUrl');
  if (!url) throw new Error('no test database: set TEST_DATABASE_URL, or let test/global-setup.ts start the embedded PostgreSQL');
  return url;
}

export async function createTestDatabase(_backend: BackendName = 'postgres'): Promise<TestDatabase> {
  const admin = testServerUrl();
  const name = `coex_test_${Date.now().toString(36)}_${randomBytes(4).toString('hex')}`;
  const client = new pg.Client({ connectionString: admin });
  await client.connect();
  await client.query(`create database ${name}`);
  await client.end();
  const url = new URL(admin);
  url.pathname = `/${name}`;
  return {
    databaseUrl: url.toString(),
    // No `with (force)`: terminating a pool that a test left open raises an unhandled error in that
    // pool. A database still in use is left behind and dropped by the next run's global setup.
    drop: async () => {
      const c = new pg.Client({ connectionString: admin });
      await c.connect();
      try {
        for (let attempt = 0; attempt < 20; attempt++) {
          const busy = await c.query('select count(*)::int as n from pg_stat_activity where datname = $1', [name]);
          if (busy.rows[0].n === 0) break;
          await new Promise((r) => setTimeout(r, 100));
        }
        await c.query(`drop database if exists ${name}`);
      } catch {
        // still in use: see dropStaleTestDatabases
      } finally {
        await c.end();
      }
    },
  };
}

/** Drops test databases left behind by earlier runs (called once from vitest's global setup). */
export async function dropStaleTestDatabases(admin: string): Promise<void> {
  const c = new pg.Client({ connectionString: admin });
  await c.connect();
  try {
    const rows = await c.query<{ datname: string }>("select datname from pg_database where datname like 'coex_test_%'");
    // Without force: a database still in use belongs to a run in progress (another checkout, CI).
    for (const r of rows.rows) await c.query(`drop database if exists ${r.datname}`).catch(() => undefined);
  } finally {
    await c.end();
  }
}

declare module 'vitest' {
  export interface ProvidedContext {
    /** Admin URL of the embedded PostgreSQL started for this run ('' when TEST_DATABASE_URL is set). */
    embeddedDatabaseUrl: string;
  }
}
