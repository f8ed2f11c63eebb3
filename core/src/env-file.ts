import { existsSync } from 'node:fs';
import { resolve } from 'node:path';

/**
 * Loads `.env` from the working directory (or the file named by COEX_ENV_FILE) into process.env with
 * Node's own parser (`process.loadEnvFile`, the same as `--env-file-if-exists`). Variables already in
 * the environment win, so a process manager's settings are never overridden by a stray file.
 * Returns the absolute path loaded, or null when there is no file.
 */
export function loadDotEnv(env: NodeJS.ProcessEnv = process.env, cwd: string = process.cwd()): string | null {
  const path = resolve(cwd, env.COEX_ENV_FILE ?? '.env');
  if (!existsSync(path)) {
    if (env.COEX_ENV_FILE) throw new Error(`COEX_ENV_FILE names a file that does not exist: ${path}`);
    return null;
  }
  process.loadEnvFile(path);
  return path;
}
