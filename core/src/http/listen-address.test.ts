import { describe, expect, it } from 'vitest';
import { describeBoundAddress } from './listen-address.js';

const at = (address: string, port: number) => ({ address: () => ({ address, port, family: address.includes(':') ? 'IPv6' : 'IPv4' }) });

describe('describeBoundAddress', () => {
  it('says when every interface is bound', () => {
    expect(describeBoundAddress(at('0.0.0.0', 3000))).toBe('http://0.0.0.0:3000 (all IPv4 interfaces; locally http://127.0.0.1:3000)');
    expect(describeBoundAddress(at('::', 3000))).toMatch(/^http:\/\/\[::\]:3000 \(all interfaces/);
  });
  it('prints a specific address as it is', () => {
    expect(describeBoundAddress(at('127.0.0.1', 4100))).toBe('http://127.0.0.1:4100');
    expect(describeBoundAddress(undefined)).toBe('not listening');
  });
});
