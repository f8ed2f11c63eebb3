import { describe, expect, it } from 'vitest';
import { ConfigError } from './config.js';
import { EncryptionKeyMismatchError } from './key-check.js';
import { formatCliError } from './cli-errors.js';

describe('formatCliError', () => {
  it('prints the message and a hint, without the stack', () => {
    const error = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });
    const out = formatCliError(error, false);
    expect(out).toContain('error: connect ECONNREFUSED 127.0.0.1:5432');
    expect(out).toContain('hint: nothing answers at that address');
    expect(out).not.toContain('    at ');
    expect(out).toContain('--verbose');
  });

  it('prints the stack with --verbose', () => {
    expect(formatCliError(new Error('boom'), true)).toMatch(/\n\s+at /);
  });

  it('configuration errors carry their own hint and need no stack', () => {
    const out = formatCliError(new EncryptionKeyMismatchError('COEX_ENCRYPTION_KEY does not match'), false);
    expect(out).toContain('hint: Start CoEx with the key');
    expect(out).not.toContain('--verbose');
    expect(formatCliError(new ConfigError('Invalid configuration'), false)).toBe('error: Invalid configuration');
  });
});
