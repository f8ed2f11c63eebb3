import { randomBytes } from 'node:crypto';
import pg from 'pg';

/**
 * The database backends every store test runs on: PGlite always; PostgreSQL when TEST_DATABASE_URL
 * is set (CI sets and requires it). Each Postgres test database is created fresh and dropped after.
 */
export type BackendName = 'pglite' | 'postgres';

export function backends(): BackendName[] {
  return process.env.TEST_DATABASE_URL ? ['pglite', 'postgres'] : ['pglite'];
}

export interface TestDatabase {
  /** undefined → PGlite in memory. */
  databaseUrl: string | undefined;
  pgliteDir: string;
  drop(): Promise<void>;
}

export async function createTestDatabase(backend: BackendName): Promise<TestDatabase> {
  if (backend === 'pglite') return { databaseUrl: undefined, pgliteDir: 'memory://', drop: async () => undefined };
  const admin = process.env.TEST_DATABASE_URL;
  if (!admin) throw new Error('TEST_DATABASE_URL is required for the postgres backend');
  const name = `coex_test_${Date.now().toString(36)}_${randomBytes(4).toString('hex')}`;
  const client = new pg.Client({ connectionString: admin });
  await client.connect();
  await client.query(`create database ${name}`);
  await client.end();
  const url = new URL(admin);
  url.pathname = `/${name}`;
  return {
    databaseUrl: url.toString(),
    pgliteDir: 'memory://',
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
export async function dropStaleTestDatabases(): Promise<void> {
  const admin = process.env.TEST_DATABASE_URL;
  if (!admin) return;
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
