import { ConfigError } from './config.js';

/**
 * What the CLI prints when a command fails: the message and, when there is one, a hint saying what
 * to do — no stack trace unless --verbose (a stack helps whoever debugs CoEx, not whoever runs it).
 */
export function formatCliError(error: unknown, verbose: boolean): string {
  const message = error instanceof Error ? error.message : String(error);
  const lines = [`error: ${message}`];
  const hint = hintFor(error);
  if (hint) lines.push(`hint: ${hint}`);
  if (verbose && error instanceof Error && error.stack) lines.push('', error.stack);
  else if (!(error instanceof ConfigError)) lines.push('(run again with --verbose for the stack trace)');
  return lines.join('\n');
}

function hintFor(error: unknown): string | null {
  const own = (error as { hint?: unknown } | null)?.hint;
  if (typeof own === 'string') return own;
  const code = (error as { code?: unknown } | null)?.code;
  const message = error instanceof Error ? error.message : '';
  if (code === 'ECONNREFUSED' || /ECONNREFUSED/.test(message)) return 'nothing answers at that address: is PostgreSQL running, and is DATABASE_URL right?';
  if (code === '28P01' || code === '28000') return 'PostgreSQL refused the user or password in DATABASE_URL';
  if (code === '3D000') return 'the database named in DATABASE_URL does not exist: create it (createdb) or fix the URL';
  if (code === 'ENOENT') return 'a file or directory given on the command line does not exist';
  if (code === 'EADDRINUSE') return 'another process listens on that port: stop it or set PORT';
  if (error instanceof SyntaxError && /JSON/.test(message)) return 'the file is not valid JSON';
  return null;
}
