import type { Request } from 'express';

/**
 * The full URL a caller used, as it signed it (HubSpot signature v3 covers the whole URL): the
 * configured public origin when CoEx sits behind a TLS-terminating proxy, else the request's own
 * protocol and Host header.
 */
export function publicUrlOf(req: Request, publicBaseUrl: string | undefined): string {
  const base = publicBaseUrl?.replace(/\/+$/, '') ?? `${req.protocol}://${req.get('host') ?? 'localhost'}`;
  return `${base}${req.originalUrl}`;
}
