import type { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { program } from './cli.js';

function walk(cmd: Command, path: string[] = []): Array<{ path: string; cmd: Command }> {
  return cmd.commands.flatMap((c) => [{ path: [...path, c.name()].join(' '), cmd: c }, ...walk(c, [...path, c.name()])]);
}

describe('coex CLI help', () => {
  const commands = walk(program);

  it('has the tenant and number commands on top of the admin API code', () => {
    const names = commands.map((c) => c.path);
    expect(names).toEqual(expect.arrayContaining(['tenant create', 'tenant list', 'tenant profile', 'number list', 'number move']));
  });

  it('every command and every argument says what it is', () => {
    const missing = commands.filter((c) => !c.cmd.description()).map((c) => c.path);
    expect(missing, `commands without help text: ${missing.join(', ')}`).toEqual([]);
    const bareArguments = commands.flatMap((c) => c.cmd.registeredArguments.filter((a) => !a.description).map((a) => `${c.path} <${a.name()}>`));
    expect(bareArguments).toEqual([]);
  });

  it('offers --verbose for stack traces', () => {
    expect(program.options.map((o) => o.long)).toContain('--verbose');
  });
});
