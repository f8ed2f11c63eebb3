import { readFileSync } from 'node:fs';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CONFIG_KEYS, ConfigError, loadConfig } from './config.js';
import { loadDotEnv } from './env-file.js';
import { resolveLogFormat } from './logger.js';

const example = readFileSync(new URL('../../.env.example', import.meta.url), 'utf8');
/** Keys read outside the config schema: documented in .env.example all the same. */
const READ_ELSEWHERE = new Set(['HUBSPOT_DEVELOPER_API_KEY']);

/** `KEY=value` and commented `# KEY=value` lines of .env.example. */
function documentedKeys(text: string): Map<string, { value: string; commented: boolean }> {
  const keys = new Map<string, { value: string; commented: boolean }>();
  for (const line of text.split('\n')) {
    const m = /^(#\s*)?([A-Z][A-Z0-9_]*)=(.*)$/.exec(line.trim());
    if (m) keys.set(m[2]!, { value: m[3]!.replace(/\s+\(.*$/, '').trim(), commented: Boolean(m[1]) });
  }
  return keys;
}

describe('.env.example', () => {
  const documented = documentedKeys(example);

  it('documents every configuration key', () => {
    const missing = CONFIG_KEYS.filter((k) => !documented.has(k));
    expect(missing, `add these keys to .env.example: ${missing.join(', ')}`).toEqual([]);
  });

  it('names no key the configuration does not read', () => {
    const unknown = [...documented.keys()].filter((k) => !CONFIG_KEYS.includes(k) && !READ_ELSEWHERE.has(k));
    expect(unknown).toEqual([]);
  });

  it('its uncommented values are valid configuration as they stand', () => {
    const env = Object.fromEntries([...documented].filter(([, v]) => !v.commented).map(([k, v]) => [k, v.value]));
    expect(() => loadConfig(env)).not.toThrow();
  });
});

describe('loadConfig', () => {
  it('refuses a database URL that is not PostgreSQL, saying so', () => {
    expect(() => loadConfig({ DATABASE_URL: 'mysql://root@127.0.0.1:3306/coex' })).toThrow(ConfigError);
    expect(() => loadConfig({ DATABASE_URL: 'mysql://root@127.0.0.1:3306/coex' })).toThrow(/only PostgreSQL is supported .* got a mysql:\/\/ URL/);
    expect(loadConfig({ DATABASE_URL: 'postgresql://coex@db/coex' }).DATABASE_URL).toBe('postgresql://coex@db/coex');
    expect(loadConfig({ DATABASE_URL: 'postgres://coex@db/coex' }).DATABASE_URL).toBe('postgres://coex@db/coex');
  });
});

describe('loadConfig: the pool and the worker lanes', () => {
  it('refuses a pool with no connection to spare beside the inbox worker\'s lanes, saying what to change', () => {
    expect(() => loadConfig({ DATABASE_POOL_SIZE: '20', INBOX_CONCURRENCY: '19' })).toThrow(ConfigError);
    expect(() => loadConfig({ DATABASE_POOL_SIZE: '9', INBOX_CONCURRENCY: '8' })).toThrow(/DATABASE_POOL_SIZE \(9\) must be at least INBOX_CONCURRENCY \(8\) \+ 2/);
    expect(loadConfig({ DATABASE_POOL_SIZE: '10', INBOX_CONCURRENCY: '8' }).DATABASE_POOL_SIZE).toBe(10);
    // The defaults: 20 connections, 8 lanes.
    expect(loadConfig({})).toMatchObject({ DATABASE_POOL_SIZE: 20, INBOX_CONCURRENCY: 8 });
  });
});

describe('loadDotEnv', () => {
  it('loads .env from the working directory without overriding the environment', () => {
    const dir = mkdtempSync(join(tmpdir(), 'coex-env-'));
    writeFileSync(join(dir, '.env'), 'COEX_TEST_FROM_FILE=file\nCOEX_TEST_BOTH=file\n');
    const env: NodeJS.ProcessEnv = {};
    process.env.COEX_TEST_BOTH = 'environment';
    try {
      expect(loadDotEnv(env, dir)).toBe(join(dir, '.env'));
      expect(process.env.COEX_TEST_FROM_FILE).toBe('file');
      expect(process.env.COEX_TEST_BOTH).toBe('environment');
    } finally {
      delete process.env.COEX_TEST_FROM_FILE;
      delete process.env.COEX_TEST_BOTH;
    }
  });

  it('is silent without a file, and loud when COEX_ENV_FILE names a missing one', () => {
    const dir = mkdtempSync(join(tmpdir(), 'coex-env-'));
    expect(loadDotEnv({}, dir)).toBeNull();
    expect(() => loadDotEnv({ COEX_ENV_FILE: 'nope.env' }, dir)).toThrow(/does not exist/);
  });
});

describe('log format', () => {
  it('is pretty in a terminal and JSON otherwise, unless forced', () => {
    expect(resolveLogFormat('auto', true)).toBe('pretty');
    expect(resolveLogFormat('auto', false)).toBe('json');
    expect(resolveLogFormat('json', true)).toBe('json');
    expect(resolveLogFormat('pretty', false)).toBe('pretty');
  });
});
