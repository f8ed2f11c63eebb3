import { z } from 'zod';
import { echoesValueSchema, messagesValueSchema, metadataSchema, profileContactSchema, unixSeconds } from './schemas.js';

/**
 * Schemas of Meta's 2026 additions (coex-spec.md §11): the `standby` and `messaging_handovers`
 * webhook fields (Conversation Routing / Meta Business Agent), `message_creation_type` on echoes and
 * the `user_changed_user_id` system message. Loose like every schema here: unknown keys pass through
 * and the raw payload is kept.
 */

/**
 * `standby`: the conversation of a thread another handler (Meta's agent, another app) owns — the
 * customer's messages, that handler's replies as echoes, and statuses — in the usual WhatsApp shapes.
 */
export const standbyValueSchema = z.looseObject({
  ...messagesValueSchema.shape,
  message_echoes: echoesValueSchema.shape.message_echoes.optional(),
});

/** The customer of a handover (Meta's samples: `sender.phone_number`; BSUID users: `user_id`). */
const handoverSenderSchema = z.looseObject({
  phone_number: z.string().optional(),
  wa_id: z.string().optional(),
  user_id: z.string().optional(),
});

/**
 * One side of a handover. Meta names "the role that held the thread before the change and the role
 * that holds it now"; the exact keys vary between its samples, so every spelling seen is accepted
 * and the raw object is kept.
 */
const handoverDetailSchema = z.looseObject({
  previous_owner: z.string().optional(),
  new_owner: z.string().optional(),
  previous_owner_role: z.string().optional(),
  new_owner_role: z.string().optional(),
  previous_owner_app_id: z.union([z.string(), z.number()]).optional(),
  new_owner_app_id: z.union([z.string(), z.number()]).optional(),
  metadata: z.string().optional(),
});

/** `messaging_handovers`: the owner of a thread changed (pass → `control_passed`, take → `control_taken`). */
export const handoverValueSchema = z.looseObject({
  messaging_product: z.literal('whatsapp').optional(),
  metadata: metadataSchema.optional(),
  /** Meta's samples carry the business number as `recipient` instead of `metadata`. */
  recipient: z.looseObject({ display_phone_number: z.string().optional(), phone_number_id: z.string() }).optional(),
  sender: handoverSenderSchema.optional(),
  contacts: z.array(profileContactSchema).optional(),
  timestamp: unixSeconds.optional(),
  type: z.string().optional(),
  control_passed: handoverDetailSchema.optional(),
  control_taken: handoverDetailSchema.optional(),
});
export type HandoverValue = z.infer<typeof handoverValueSchema>;

/** `system` of a `user_changed_user_id` message: the identity the customer had before. */
export const userIdChangeSystemSchema = z.looseObject({
  type: z.literal('user_changed_user_id'),
  body: z.string().optional(),
  previous_user_id: z.string().min(1),
  previous_parent_user_id: z.string().optional(),
  user_id: z.string().optional(),
  new_user_id: z.string().optional(),
});

/**
 * An echo's `message_creation_type` (seen in the wild, not in Meta's reference): the field alone. A
 * loose object schema around it copied every key of the message to read one (25,000 copies in a
 * history import of 50,000 messages).
 */
export const creationTypeSchema = z.string().min(1);
