import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../helpers/backends.js';
import { ADMIN, postSigned, runCli, startServerProcess, type ServerProcess } from '../helpers/server-process.js';
import { waitFor } from '../helpers/wait.js';
import * as P from '../../core/src/whatsapp/payloads.js';
import { runningEmbeddedUrl } from '../../core/src/db/embedded-postgres.js';

/*
 * Issue 12 as an operator meets it: `coex serve` as a real process on the embedded PostgreSQL (the
 * default) and on an external one; kill -9 in the middle of a burst; CLI commands run beside the
 * server; a second server on the same DATA_DIR. The full-size runs are `npm run bench`
 * (BENCH_ONLY=crash-recovery): here a small burst, and no timing asserted.
 */

const N: P.NumberRef = { wabaId: '102290129340398', phoneNumberId: '106540352242922', displayPhoneNumber: '212522123456' };
const t0 = Date.UTC(2026, 10, 24, 9, 0, 0);
const EXAMPLE_PROFILE = fileURLToPath(new URL('../../examples/knowledge/atlas-shop.json', import.meta.url));

/** Real processes, initdb and a burst on a loaded 2-core CI box: minutes, not the default minute. */
const PROCESS_TEST_TIMEOUT = 600_000;

const dirs: string[] = [];
const servers: ServerProcess[] = [];
function tempDataDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'coex-proc-'));
  dirs.push(dir);
  return dir;
}

/** Stops an embedded cluster a failed test may have left running (fast shutdown by its pid). */
function stopLeftoverCluster(dataDir: string): void {
  const pidFile = join(dataDir, 'postgres', 'postmaster.pid');
  if (!existsSync(pidFile)) return;
  const pid = Number.parseInt(readFileSync(pidFile, 'utf8').split('\n')[0] ?? '', 10);
  try {
    if (pid > 0) process.kill(pid, 'SIGINT');
  } catch {
    // already gone
  }
}

afterAll(async () => {
  for (const s of servers) s.child.kill('SIGKILL');
  await new Promise((r) => setTimeout(r, 200));
  for (const d of dirs) {
    stopLeftoverCluster(d);
    rmSync(d, { recursive: true, force: true });
  }
});

async function countMessages(url: string): Promise<{ total: number; distinct: number }> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const r = await client.query<{ total: number; distinct: number }>("select count(*)::int as total, count(distinct wamid)::int as distinct from messages where wamid like 'wamid.CRASH-%'");
    return r.rows[0]!;
  } finally {
    await client.end();
  }
}

function embeddedUrl(dataDir: string): string {
  const url = runningEmbeddedUrl(join(dataDir, 'postgres'));
  if (!url) throw new Error(`no embedded PostgreSQL running in ${dataDir}`);
  return url;
}

describe('the embedded PostgreSQL shared by the server and the CLI', () => {
  it('a CLI command run while the server is up writes where the server reads; a second server is refused; the last process out stops the database', async () => {
    const dataDir = tempDataDir();
    const server = await startServerProcess({ DATA_DIR: dataDir });
    servers.push(server);
    // The README's first steps, typed while `npm start` runs.
    const created = await runCli(['tenant', 'create', 'atlas', '--name', 'Atlas Shop'], { DATA_DIR: dataDir });
    expect(created.output).toMatch(/tenant atlas (created|ready)/);
    expect(created.code).toBe(0);
    const profile = await runCli(['tenant', 'profile', 'atlas', EXAMPLE_PROFILE], { DATA_DIR: dataDir });
    expect(profile.code).toBe(0);
    const seen = await fetch(`${server.url}/api/v1/tenants/atlas/profile`, { headers: { authorization: `Bearer ${ADMIN}` } });
    expect(seen.status).toBe(200);
    expect(JSON.stringify(await seen.json())).toContain('faq');
    // The CLI left the database running for the server.
    expect((await fetch(`${server.url}/readyz`)).status).toBe(200);

    const second = await startServerProcess({ DATA_DIR: dataDir }, 60_000).then(
      (s) => {
        servers.push(s);
        return 'started';
      },
      (error: Error) => error.message,
    );
    expect(second).toContain('another CoEx server is already running on this DATA_DIR');

    server.child.kill('SIGTERM');
    expect(await server.exited).toBe(0);
    // Nobody uses the database any more: it was stopped, not left behind.
    await waitFor(async () => !existsSync(join(dataDir, 'postgres', 'postmaster.pid')), 'the embedded PostgreSQL to stop', 30_000);
  }, PROCESS_TEST_TIMEOUT);
});

describe.each(['embedded', 'external'] as const)('kill -9 in the middle of a burst [%s]', (mode) => {
  let database: TestDatabase | undefined;
  afterAll(async () => {
    await database?.drop();
  });

  it('loses nothing acknowledged and applies it once after the restart', async () => {
    const dataDir = tempDataDir();
    if (mode === 'external') database = await createTestDatabase();
    const env = { DATA_DIR: dataDir, ...(database ? { DATABASE_URL: database.databaseUrl } : {}) };
    const first = await startServerProcess(env);
    servers.push(first);
    const acknowledged = new Set<string>();
    const total = 400;
    let next = 0;
    let killed = false;
    const sender = async (): Promise<void> => {
      while (next < total) {
        const i = next++;
        const wamid = `wamid.CRASH-${i}`;
        // Several customers of one number, and a second number: per-number order and batching both matter.
        const n = i % 5 === 0 ? { ...N, phoneNumberId: '106540352242999' } : N;
        try {
          const r = await postSigned(first.url, P.inboundMessage(n, { waId: `2126100${String(i % 30).padStart(5, '0')}` }, wamid, t0 + i * 1000, P.text(`burst ${i}`)));
          if (r.status === 200) acknowledged.add(wamid);
        } catch {
          // the server died under us: not acknowledged, Meta would retry
        }
        if (!killed && acknowledged.size >= total / 2) {
          killed = true;
          first.child.kill('SIGKILL');
        }
      }
    };
    await Promise.all(Array.from({ length: 16 }, sender));
    expect(await first.exited).toBe('SIGKILL');
    expect(acknowledged.size).toBeGreaterThanOrEqual(total / 2);

    const second = await startServerProcess(env);
    servers.push(second);
    const url = database ? database.databaseUrl : embeddedUrl(dataDir);
    const counts = await waitFor(
      async () => {
        const c = await countMessages(url);
        return c.total >= acknowledged.size ? c : undefined;
      },
      'every acknowledged message to be visible after the restart',
      90_000,
    );
    expect(counts.total).toBe(counts.distinct);
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      const rows = await client.query<{ wamid: string }>("select wamid from messages where wamid like 'wamid.CRASH-%'");
      const visible = new Set(rows.rows.map((r) => r.wamid));
      const lost = [...acknowledged].filter((w) => !visible.has(w));
      expect(lost).toEqual([]);
      const pending = await client.query<{ n: number }>('select count(*)::int as n from webhook_inbox where processed_at is null');
      expect(pending.rows[0]!.n).toBe(0);
      const twice = await client.query<{ n: number }>('select count(*)::int as n from webhook_inbox where attempts > 1');
      expect(twice.rows[0]!.n).toBe(0);
    } finally {
      await client.end();
    }
    second.child.kill('SIGTERM');
    expect(await second.exited).toBe(0);
  }, PROCESS_TEST_TIMEOUT);
});
