import { z } from 'zod';
import type { ThreadMessage } from '../outbound/send-service.js';

/**
 * The body of a reply typed by a person, shared by the admin API and the extension API: free text
 * (inside the 24-hour window) or an approved template with body parameters.
 */
export const replyBodySchema = z
  .object({
    text: z.string().trim().min(1).max(4096).optional(),
    template: z
      .object({
        name: z.string().min(1).max(512),
        language: z.string().min(2).max(15),
        /** Positional values in order (["v1", "v2"]) or, for a template with named parameters, { name: value }. */
        body_parameters: z
          .union([
            z.array(z.string().min(1).max(1024)).max(20),
            z.record(z.string().regex(/^[a-z0-9_]{1,64}$/, 'parameter names are lower case letters, digits and _'), z.string().min(1).max(1024)).refine((r) => Object.keys(r).length <= 20, { message: 'at most 20 parameters' }),
          ])
          .optional(),
      })
      .optional(),
    actor: z.string().trim().min(1).max(200).optional(),
    client_ref: z.string().min(1).max(200).optional(),
  })
  .refine((b) => (b.text === undefined) !== (b.template === undefined), { message: 'send either "text" or "template"' });

export type ReplyBody = z.infer<typeof replyBodySchema>;

export function toThreadMessage(body: ReplyBody): ThreadMessage {
  if (body.text !== undefined) return { type: 'text', body: body.text };
  const t = body.template!;
  const given = t.body_parameters;
  const parameters = Array.isArray(given)
    ? given.map((p) => ({ type: 'text' as const, text: p }))
    : Object.entries(given ?? {}).map(([name, value]) => ({ type: 'text' as const, text: value, parameterName: name }));
  return {
    type: 'template',
    name: t.name,
    languageCode: t.language,
    ...(parameters.length > 0 ? { components: [{ type: 'body', parameters }] } : {}),
  };
}
