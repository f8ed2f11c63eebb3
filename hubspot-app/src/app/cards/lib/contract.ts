import { z } from 'zod';

/*
 * The CoEx extension API as the card sees it (docs/extension-api.md: GET /ext/v1/hubspot/thread,
 * POST …/bot, POST …/messages). Every response is parsed here before the UI touches it. Free-form fields that the
 * server may grow (message type, status, bot causes, sync statuses) stay strings so a new value
 * degrades to a neutral label instead of breaking the card; the enums the UI branches on are strict.
 */

const isoTimestamp = z.string().refine((s) => !Number.isNaN(Date.parse(s)), { message: 'expected an ISO timestamp' });
const id = z.union([z.string().min(1), z.number().int()]).transform(String);

export const botStateSchema = z.enum(['active', 'paused', 'handoff_requested', 'off']);
export type BotState = z.infer<typeof botStateSchema>;

export const botEventSchema = z.object({
  from: z.string().nullable(),
  to: z.string(),
  cause: z.string().nullable(),
  actor: z.string().nullable().optional().transform((v) => v ?? null),
  at: isoTimestamp,
});
export type BotEvent = z.infer<typeof botEventSchema>;

export const botSchema = z.object({
  state: botStateSchema,
  paused_until: isoTimestamp.nullable().optional().transform((v) => v ?? null),
  history: z.array(botEventSchema).optional().transform((v) => v ?? []),
});
export type Bot = z.infer<typeof botSchema>;

export const threadSchema = z.object({
  id,
  contact_name: z.string().nullable(),
  wa_id: z.string(),
  bot: botSchema,
  window: z.object({
    open: z.boolean(),
    closes_at: isoTimestamp.nullable().optional().transform((v) => v ?? null),
  }),
});
export type Thread = z.infer<typeof threadSchema>;

export const originSchema = z.enum(['customer', 'app', 'api', 'agent', 'history']);
export type Origin = z.infer<typeof originSchema>;

export const messageSchema = z.object({
  id,
  direction: z.enum(['inbound', 'outbound']),
  origin: originSchema,
  type: z.string(),
  text: z.string().nullable().optional().transform((v) => v ?? null),
  timestamp: isoTimestamp,
  status: z.string().nullable().optional().transform((v) => v ?? null),
  transcript: z.string().nullable().optional().transform((v) => v ?? null),
  transcript_state: z.string().nullable().optional().transform((v) => v ?? null),
});
export type Message = z.infer<typeof messageSchema>;

export const syncSchema = z.object({
  history: z.object({ status: z.string(), progress: z.number().min(0).max(100).nullable().optional().transform((v) => v ?? 0) }),
  contacts: z.object({ status: z.string() }),
});
export type Sync = z.infer<typeof syncSchema>;

/**
 * Approved templates the server may offer for a closed window. Not in the agreed contract yet
 * (see README): optional, so a server without it still parses and the card falls back to config.
 */
export const templateSchema = z.object({ name: z.string().min(1), language: z.string().min(2), label: z.string().optional() });
export type TemplateChoice = z.infer<typeof templateSchema>;

export const threadResponseSchema = z.object({
  thread: threadSchema.nullable(),
  messages: z.array(messageSchema),
  /** null while the tenant has no WhatsApp number connected. */
  sync: syncSchema.nullable(),
  templates: z.array(templateSchema).optional(),
});
export type ThreadResponse = z.infer<typeof threadResponseSchema>;

/** Error bodies of the CoEx API: `{ error, code? }` (409 `window_closed` on a closed window). */
export const errorBodySchema = z.object({ error: z.string(), code: z.string().optional() });
