import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A local stand-in for the three Graph API calls the demo needs, answering in Meta's shapes, so the
 * demo reaches no outside service: GET /{version}/{media-id} (media URL), GET of that URL (the
 * bytes, on the same origin so the client sends its token there), POST /{version}/{phone-number-id}/messages
 * (accepts a send, answers a wamid). Sends are kept so the demo can show them.
 */
export interface GraphStandIn {
  url: string;
  sent: Array<{ phoneNumberId: string; body: unknown }>;
  close(): Promise<void>;
}

export async function startGraphStandIn(media: Map<string, { bytes: Buffer; mimeType: string }>): Promise<GraphStandIn> {
  const sent: GraphStandIn['sent'] = [];
  let counter = 0;
  const server = createServer((req, res) => {
    handle(req, res).catch(() => json(res, 500, { error: { message: 'stand-in failure', type: 'OAuthException', code: 1 } }));
  });
  const base = (): string => `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = new URL(req.url ?? '/', base()).pathname.split('/').filter(Boolean);
    if (req.method === 'GET' && path[0] === 'demo-media' && path[1]) {
      const item = media.get(path[1]);
      if (!item) return json(res, 404, { error: { message: 'Unsupported get request', type: 'GraphMethodException', code: 100 } });
      res.writeHead(200, { 'content-type': item.mimeType, 'content-length': item.bytes.length });
      res.end(item.bytes);
      return;
    }
    if (req.method === 'GET' && path.length === 2) {
      const item = media.get(path[1]!);
      if (!item) return json(res, 404, { error: { message: 'Unsupported get request', type: 'GraphMethodException', code: 100 } });
      return json(res, 200, {
        messaging_product: 'whatsapp',
        url: `${base()}/demo-media/${path[1]}`,
        mime_type: item.mimeType,
        sha256: createHash('sha256').update(item.bytes).digest('hex'),
        file_size: item.bytes.length,
        id: path[1],
      });
    }
    if (req.method === 'POST' && path.length === 3 && path[2] === 'messages') {
      const chunks: Buffer[] = [];
      for await (const chunk of req) chunks.push(chunk as Buffer);
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { to?: string };
      sent.push({ phoneNumberId: path[1]!, body });
      counter += 1;
      return json(res, 200, {
        messaging_product: 'whatsapp',
        contacts: [{ input: body.to ?? '', wa_id: body.to ?? '' }],
        messages: [{ id: `wamid.DEMO-OUT-${counter}`, message_status: 'accepted' }],
      });
    }
    json(res, 404, { error: { message: 'Unknown path components', type: 'OAuthException', code: 2500 } });
  }

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: base(),
    sent,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

function json(res: ServerResponse, status: number, body: unknown): void {
  const raw = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(raw) });
  res.end(raw);
}
