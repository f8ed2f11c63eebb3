import type { ColumnType, Generated, Insertable, Selectable } from 'kysely';

/** Kysely table types for migrations/0001_initial.ts. Keep them in step with the SQL. */

type Timestamp = ColumnType<Date, Date | string, Date | string>;
/** Nullable columns default to NULL: they may be left out on insert. */
type NullableTimestamp = ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;
type Json = ColumnType<unknown, string, string>;
type NullableJson = ColumnType<unknown | null, string | null | undefined, string | null>;
type Nullable<T> = ColumnType<T | null, T | null | undefined, T | null>;
type Int8 = ColumnType<string, number | bigint | string, number | bigint | string>;
/** Server-filled columns (defaults): optional on insert. Kysely's Generated<> does not unwrap a ColumnType. */
type GeneratedTimestamp = ColumnType<Date, Date | string | undefined, Date | string>;
type GeneratedJson = ColumnType<unknown, string | undefined, string>;
type GeneratedInt8 = ColumnType<string, number | bigint | string | undefined, number | bigint | string>;

export interface TenantsTable {
  id: string;
  name: string;
  quiet_period_seconds: Generated<number>;
  settings: GeneratedJson;
  created_at: GeneratedTimestamp;
}

export interface ApiTokensTable {
  token_hash: string;
  tenant_id: string;
  label: string;
  created_at: GeneratedTimestamp;
}

export interface WhatsappNumbersTable {
  phone_number_id: string;
  tenant_id: string;
  waba_id: Nullable<string>;
  display_phone_number: Nullable<string>;
  verified_name: Nullable<string>;
  is_coexistence: Generated<boolean>;
  throughput_mps: Generated<number>;
  access_token_enc: Nullable<string>;
  connection_status: Generated<string>;
  connection_reason: Nullable<string>;
  connection_changed_at: NullableTimestamp;
  /** A warning Meta gave about the account that does not stop sending (scheduled disable, policy violation). */
  account_warning: Nullable<string>;
  account_warning_at: NullableTimestamp;
  /** Meta restricted business-initiated messaging until then ('infinity': no end given): templates are held (0013). */
  business_initiated_blocked_until: NullableTimestamp;
  last_echo_at: NullableTimestamp;
  created_at: GeneratedTimestamp;
  updated_at: GeneratedTimestamp;
}

export interface ContactsTable {
  id: Generated<string>;
  tenant_id: string;
  phone_number_id: string;
  contact_key: string;
  wa_id: Nullable<string>;
  user_id: Nullable<string>;
  username: Nullable<string>;
  country_code: Nullable<string>;
  profile_name: Nullable<string>;
  phone_book_name: Nullable<string>;
  phone_book_first_name: Nullable<string>;
  phone_book_removed_at: NullableTimestamp;
  phone_book_updated_at: NullableTimestamp;
  created_at: GeneratedTimestamp;
  updated_at: GeneratedTimestamp;
}

export interface ThreadsTable {
  id: Generated<string>;
  tenant_id: string;
  phone_number_id: string;
  contact_id: string;
  last_customer_message_at: NullableTimestamp;
  last_message_at: NullableTimestamp;
  bot_state: Generated<string>;
  bot_paused_until: NullableTimestamp;
  bot_version: GeneratedInt8;
  /** Who answers the thread under Conversation Routing (migrations/0009_meta_2026.ts). */
  control_holder: Generated<ControlHolder>;
  control_app_id: Nullable<string>;
  control_event_at: NullableTimestamp;
  created_at: GeneratedTimestamp;
  updated_at: GeneratedTimestamp;
}

export type ControlHolder = 'coex' | 'meta_agent' | 'other_app';

export interface MessagesTable {
  id: Generated<string>;
  tenant_id: string;
  phone_number_id: string;
  thread_id: string;
  wamid: string;
  direction: 'inbound' | 'outbound';
  origin: 'customer' | 'app' | 'api' | 'agent' | 'history';
  type: string;
  text: Nullable<string>;
  provider_timestamp: Timestamp;
  status: Nullable<string>;
  status_rank: Generated<number>;
  status_at: NullableTimestamp;
  error: NullableJson;
  history_status: Nullable<string>;
  context_wamid: Nullable<string>;
  media_id: Nullable<string>;
  media_mime: Nullable<string>;
  media_sha256: Nullable<string>;
  media_voice: Generated<boolean>;
  media_ref: Nullable<string>;
  media_state: Nullable<string>;
  edited_at: NullableTimestamp;
  revoked_at: NullableTimestamp;
  transcript: Nullable<string>;
  transcript_language: Nullable<string>;
  transcript_provider: Nullable<string>;
  transcript_model: Nullable<string>;
  transcript_state: Nullable<string>;
  transcript_error: Nullable<string>;
  transcript_duration_seconds: Nullable<number>;
  payload: Json;
  actor: ColumnType<string | null, string | null | undefined, string | null>;
  claim_seq: ColumnType<string | null, number | bigint | string | null | undefined, number | bigint | string | null>;
  send_attempts: Generated<number>;
  client_ref: ColumnType<string | null, string | null | undefined, string | null>;
  /** Received on the `standby` field: another handler (Meta's agent, another app) owned the thread. */
  standby: Generated<boolean>;
  /** Echoes: Meta's `message_creation_type` as received (null when absent). */
  creation_type: Nullable<string>;
  created_at: GeneratedTimestamp;
  updated_at: GeneratedTimestamp;
}

export interface ContactUserIdChangesTable {
  phone_number_id: string;
  previous_user_id: string;
  new_user_id: string;
  provider_timestamp: Timestamp;
  wamid: string;
  created_at: GeneratedTimestamp;
}

export interface MessageStatusesTable {
  phone_number_id: string;
  wamid: string;
  status: string;
  status_rank: number;
  provider_timestamp: Timestamp;
  recipient_id: Nullable<string>;
  errors: NullableJson;
  pricing: NullableJson;
  payload: Json;
  received_at: GeneratedTimestamp;
}

export interface MessageMutationsTable {
  phone_number_id: string;
  wamid: string;
  target_wamid: string;
  kind: 'edit' | 'revoke';
  provider_timestamp: Timestamp;
  new_text: Nullable<string>;
  payload: Json;
  received_at: GeneratedTimestamp;
}

export interface HistoryChunksTable {
  phone_number_id: string;
  chunk_hash: string;
  phase: number;
  chunk_order: number;
  progress: number;
  thread_count: number;
  message_count: number;
  received_at: GeneratedTimestamp;
}

export interface SyncStateTable {
  phone_number_id: string;
  history_status: Generated<string>;
  history_request_id: Nullable<string>;
  history_requested_at: NullableTimestamp;
  history_progress: Generated<number>;
  history_chunks: Generated<number>;
  history_messages: Generated<number>;
  history_error: NullableJson;
  history_completed_at: NullableTimestamp;
  contacts_status: Generated<string>;
  contacts_request_id: Nullable<string>;
  contacts_requested_at: NullableTimestamp;
  contacts_count: Generated<number>;
  contacts_last_at: NullableTimestamp;
  updated_at: GeneratedTimestamp;
}

export interface AccountEventsTable {
  id: GeneratedInt8;
  waba_id: string;
  phone_number_id: Nullable<string>;
  event: string;
  reason: Nullable<string>;
  initiated_by: Nullable<string>;
  payload: Json;
  /** What CoEx did: stopped_sending | resumed_sending | warning | none (0008). */
  effect: Nullable<string>;
  /** Ban state, violation type or restriction in words (0008). */
  detail: Nullable<string>;
  received_at: GeneratedTimestamp;
}

export interface WebhookInboxTable {
  id: GeneratedInt8;
  partition_key: string;
  body_sha256: string;
  /** The bytes of a delivery naming several numbers, stored once (webhook_bodies). */
  body_id: Int8 | null;
  /** The bytes of a delivery naming one number (and of every row written before migration 0007). */
  raw_body: Nullable<string>;
  received_at: GeneratedTimestamp;
  processed_at: NullableTimestamp;
  attempts: Generated<number>;
  last_error: Nullable<string>;
  outcome: NullableJson;
  /** A transient failure delays the number's next attempt until then. */
  next_attempt_at: GeneratedTimestamp;
}

export interface WebhookBodiesTable {
  id: GeneratedInt8;
  body_sha256: string;
  raw_body: string;
  received_at: GeneratedTimestamp;
}

export interface WebhookSetAsideTable {
  id: GeneratedInt8;
  inbox_id: Int8;
  partition_key: string;
  /** The event kind that could not be stored ('message', 'status', … or 'delivery'). */
  kind: string;
  reason: string;
  payload: NullableJson;
  created_at: GeneratedTimestamp;
}

export interface UnknownEventsTable {
  id: GeneratedInt8;
  inbox_id: Int8 | null;
  phone_number_id: Nullable<string>;
  field: string;
  detail: string;
  payload: NullableJson;
  received_at: GeneratedTimestamp;
}

export interface BotEventsTable {
  id: GeneratedInt8;
  thread_id: string;
  from_state: string;
  to_state: string;
  cause: string;
  actor: Nullable<string>;
  paused_until: NullableTimestamp;
  at: GeneratedTimestamp;
  seq: ColumnType<string | null, number | bigint | string | null | undefined, number | bigint | string | null>;
}

export interface SendPacersTable {
  phone_number_id: string;
  tat: GeneratedTimestamp;
  updated_at: GeneratedTimestamp;
}

export interface OnboardingStepsTable {
  id: GeneratedInt8;
  tenant_id: string;
  waba_id: Nullable<string>;
  phone_number_id: Nullable<string>;
  step: string;
  status: string;
  request_id: Nullable<string>;
  detail: NullableJson;
  at: GeneratedTimestamp;
}

export interface AgentTurnsTable {
  id: Generated<string>;
  tenant_id: string;
  thread_id: string;
  trigger_message_id: string;
  status: Generated<string>;
  bot_version_at_start: ColumnType<string | null, number | bigint | string | null, number | bigint | string | null>;
  start_seq: ColumnType<string | null, number | bigint | string | null | undefined, number | bigint | string | null>;
  provider: Nullable<string>;
  reply_message_id: Nullable<string>;
  reason: Nullable<string>;
  created_at: GeneratedTimestamp;
  updated_at: GeneratedTimestamp;
}

export interface CrmConnectionsTable {
  id: Generated<string>;
  tenant_id: string;
  crm: 'hubspot' | 'woocommerce' | 'odoo' | 'zoho';
  account: string;
  credentials_enc: string;
  extension_key_hash: Nullable<string>;
  /** The extension install key, TokenCipher-encrypted (migration 0004); null until one is issued. */
  extension_key_enc: ColumnType<string | null, string | null | undefined, string | null>;
  status: Generated<string>;
  created_at: GeneratedTimestamp;
  updated_at: GeneratedTimestamp;
}

export interface CrmOutboxTable {
  id: GeneratedInt8;
  tenant_id: string;
  connection_id: string;
  kind: 'archive' | 'transcript' | 'bot_state' | 'consent' | 'inbox' | 'inbox_reply';
  ref_id: string;
  payload: Json;
  status: Generated<string>;
  attempts: Generated<number>;
  next_attempt_at: GeneratedTimestamp;
  last_error: Nullable<string>;
  crm_record_id: Nullable<string>;
  created_at: GeneratedTimestamp;
  done_at: NullableTimestamp;
}

/** Accepted extension-request nonces and HubSpot v3 signatures (migration 0004), for replay checks. */
export interface ExtensionNoncesTable {
  crm: string;
  account: string;
  nonce: string;
  expires_at: Timestamp;
}

export interface Database {
  tenants: TenantsTable;
  api_tokens: ApiTokensTable;
  whatsapp_numbers: WhatsappNumbersTable;
  contacts: ContactsTable;
  threads: ThreadsTable;
  messages: MessagesTable;
  message_statuses: MessageStatusesTable;
  message_mutations: MessageMutationsTable;
  history_chunks: HistoryChunksTable;
  sync_state: SyncStateTable;
  account_events: AccountEventsTable;
  webhook_inbox: WebhookInboxTable;
  webhook_bodies: WebhookBodiesTable;
  webhook_set_aside: WebhookSetAsideTable;
  unknown_events: UnknownEventsTable;
  bot_events: BotEventsTable;
  send_pacers: SendPacersTable;
  onboarding_steps: OnboardingStepsTable;
  agent_turns: AgentTurnsTable;
  crm_connections: CrmConnectionsTable;
  crm_outbox: CrmOutboxTable;
  extension_nonces: ExtensionNoncesTable;
  campaigns: CampaignsTable;
  campaign_recipients: CampaignRecipientsTable;
  opt_outs: OptOutsTable;
  opt_out_events: OptOutEventsTable;
  contact_user_id_changes: ContactUserIdChangesTable;
  coex_settings: CoexSettingsTable;
}

export type MessageRow = Selectable<MessagesTable>;
export type NewMessageRow = Insertable<MessagesTable>;
export type ThreadRow = Selectable<ThreadsTable>;

// Campaigns (migrations/0003_campaigns.ts) --------------------------------------------------------

/** Nullable column that may be left out on insert. */
type Optional<T> = ColumnType<T | null, T | null | undefined, T | null>;
type OptionalTimestamp = ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;

export type CampaignStatus = 'draft' | 'scheduled' | 'running' | 'paused' | 'completed';
export type CampaignRecipientStatus = 'queued' | 'sending' | 'sent' | 'failed' | 'skipped';
/** 'whatsapp': the customer's own marketing preference in WhatsApp (`user_preferences` webhook). */
export type OptOutSource = 'keyword' | 'api' | 'crm' | '131050' | 'whatsapp';

export interface CampaignsTable {
  id: Generated<string>;
  tenant_id: string;
  phone_number_id: string;
  name: string;
  template_name: string;
  template_language: string;
  category: ColumnType<'marketing' | 'utility', 'marketing' | 'utility' | undefined, 'marketing' | 'utility'>;
  body_parameters: ColumnType<unknown | null, string | null | undefined, string | null>;
  source: 'csv' | 'api' | 'segment';
  status: ColumnType<CampaignStatus, CampaignStatus | undefined, CampaignStatus>;
  status_reason: Optional<string>;
  /** Paused by Meta's hold on business-initiated messaging: resumes by itself when it ends (0014). */
  paused_for_hold: Generated<boolean>;
  send_at: OptionalTimestamp;
  created_by: Optional<string>;
  created_at: GeneratedTimestamp;
  updated_at: GeneratedTimestamp;
  started_at: OptionalTimestamp;
  completed_at: OptionalTimestamp;
}

export interface CampaignRecipientsTable {
  id: GeneratedInt8;
  campaign_id: string;
  wa_id: string;
  phone: string;
  name: Optional<string>;
  variables: GeneratedJson;
  status: ColumnType<CampaignRecipientStatus, CampaignRecipientStatus | undefined, CampaignRecipientStatus>;
  thread_id: Optional<string>;
  message_id: Optional<string>;
  wamid: Optional<string>;
  error_code: Optional<number>;
  error: Optional<string>;
  attempts: Generated<number>;
  claimed_by: Optional<string>;
  claimed_at: OptionalTimestamp;
  sent_at: OptionalTimestamp;
  updated_at: GeneratedTimestamp;
}

export interface OptOutsTable {
  phone_number_id: string;
  wa_id: string;
  tenant_id: string;
  source: OptOutSource;
  detail: Optional<string>;
  message_id: Optional<string>;
  created_at: GeneratedTimestamp;
  /** When the customer gave the signal that opted them out (0008). */
  signal_at: OptionalTimestamp;
}

export interface OptOutEventsTable {
  id: GeneratedInt8;
  phone_number_id: string;
  wa_id: string;
  tenant_id: string;
  action: 'opt_out' | 'opt_in';
  source: string;
  detail: Optional<string>;
  message_id: Optional<string>;
  at: GeneratedTimestamp;
  /** When the customer gave the signal (message time, webhook timestamp); the latest applied one wins (0008). */
  signal_at: GeneratedTimestamp;
  /** False for a signal kept in the history only: older than the current state, or a repeat. */
  applied: Generated<boolean>;
  /** Webhook signals: the same delivery repeated records nothing twice. */
  dedupe_key: Optional<string>;
}

/** Server-wide settings kept with the data (migrations/0010_settings.ts), e.g. the encryption key's fingerprint. */
export interface CoexSettingsTable {
  key: string;
  value: string;
  updated_at: GeneratedTimestamp;
}
