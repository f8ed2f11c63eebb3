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
    drop: async () => {
      const c = new pg.Client({ connectionString: admin });
      await c.connect();
      await c.query(`drop database if exists ${name} with (force)`);
      await c.end();
    },
  };
}
