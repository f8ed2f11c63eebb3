import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';

/**
 * The address the server is bound to, as it is bound: `0.0.0.0:3000 (all IPv4 interfaces)` rather
 * than a loopback URL that hides that the port is open to the network.
 */
export function describeBoundAddress(server: Pick<Server, 'address'> | undefined): string {
  const a = server?.address();
  if (!a || typeof a === 'string') return a ?? 'not listening';
  const { address, port } = a as AddressInfo;
  const host = address.includes(':') ? `[${address}]` : address;
  if (address === '0.0.0.0') return `http://${host}:${port} (all IPv4 interfaces; locally http://127.0.0.1:${port})`;
  if (address === '::') return `http://${host}:${port} (all interfaces; locally http://127.0.0.1:${port})`;
  return `http://${host}:${port}`;
}
