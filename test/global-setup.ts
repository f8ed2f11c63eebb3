import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { openEmbeddedPostgres, type EmbeddedPostgres } from '../core/src/db/embedded-postgres.js';
import { dropStaleTestDatabases } from './helpers/backends.js';

/**
 * Runs once before the suite. With TEST_DATABASE_URL (CI), clears test databases a previous run could
 * not drop. Without it, starts an embedded PostgreSQL for this run (the binaries `npm start` uses),
 * which every test file reaches through `inject('embeddedDatabaseUrl')`, and stops it at the end.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const external = process.env.TEST_DATABASE_URL;
  if (external) {
    await dropStaleTestDatabases(external);
    project.provide('embeddedDatabaseUrl', '');
    return async () => undefined;
  }
  const dir = mkdtempSync(join(tmpdir(), 'coex-test-pg-'));
  let cluster: EmbeddedPostgres | undefined;
  try {
    // A throwaway cluster: durability across power loss buys nothing here, connections do (several
    // runtimes per test file, two files at once).
    cluster = await openEmbeddedPostgres({ dataDir: join(dir, 'postgres'), database: 'postgres', settings: ['fsync=off', 'synchronous_commit=off', 'full_page_writes=off', 'max_connections=400'] });
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  project.provide('embeddedDatabaseUrl', cluster.url);
  return async () => {
    await cluster?.release();
    rmSync(dir, { recursive: true, force: true });
  };
}
