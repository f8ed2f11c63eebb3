// Types for widget-core.js so the TypeScript tests can import it (the widget itself does not use them).
export interface Badge { key: string; css: string }
export interface ExtMessage {
  id?: string | number; direction?: string; origin?: string; type?: string; text?: string | null;
  timestamp?: string | number | null; status?: string | null; transcript?: string | null;
  transcript_state?: string | null; media?: unknown;
}
export interface TranscriptView { kind: 'none' | 'pending' | 'text' | 'failed'; text: string }
export interface BodyView { kind: 'text' | 'media'; text: string; mediaType?: string }
export interface TimelineItem {
  id: string | number | undefined; direction: 'inbound' | 'outbound'; badge: Badge; body: BodyView;
  transcript: TranscriptView; status: string; time: string; at: number | null;
}
export interface TimelineGroup { day: string; label: string; items: TimelineItem[] }
export interface ComposerMode { mode: 'none' | 'text' | 'template'; closesAt: number | null; minutesLeft: number | null }
export interface BotHistoryView { from: string; to: string; cause: string; causeKey: string | null; actor: string; at: number | null; index: number }
export interface BotView { state: string; key: string; toggleAction: 'pause' | 'resume'; canTurnOff: boolean; pausedUntil: number | null; history: BotHistoryView[] }
export interface SyncView {
  history: { status: string; percent: number | null; running: boolean; declined: boolean; failed: boolean; visible: boolean };
  contacts: { status: string };
}
export interface TemplateChoice { id: string; name: string; language: string; category: string; body: string; format: 'positional' | 'named'; names: string[] }
export interface TemplateChoices { choices: TemplateChoice[]; unsendable: number; stale: boolean; fetchedAt: number | null }
export interface PreviewSegment { text: string; name: string | null; filled: boolean }
export interface TemplateMessage { name: string; language: string; body_parameters?: string[] | Record<string, string> }
export interface RecipientOutcome { key: 'failed' | 'skipped' | 'pending' | 'read' | 'delivered' | 'sent'; labelKey: string; errorCode: string; error: string; sentAt: number | null; replied: boolean }
export interface CampaignView {
  id: string; name: string; status: string; statusKey: string | null; template: string; startedAt: number | null;
  outcome: RecipientOutcome | null; totals: { total: number; sent: number; delivered: number; read: number; failed: number; replied: number };
}
export interface OptOutView { source: string; sourceKey: string | null; detail: string; at: number | null }
export interface CampaignsView { campaigns: CampaignView[]; optOut: OptOutView | null }
export interface ScrollMetrics { scrollTop: number; scrollHeight: number; clientHeight: number }
export const ORIGIN_BADGES: Record<string, Badge>;
export const CAUSE_KEYS: Record<string, string>;
export function badgeFor(message: ExtMessage | null | undefined): Badge;
export function parseTimestamp(value: unknown): number | null;
export function dayKey(ms: number, timeZone?: string): string;
export function formatTime(ms: number, opts?: { timeZone?: string; locale?: string }): string;
export function formatDay(ms: number, opts?: { timeZone?: string; locale?: string }): string;
export function transcriptView(message: ExtMessage): TranscriptView;
export function bodyFor(message: ExtMessage): BodyView;
export function buildTimeline(messages: ExtMessage[] | null | undefined, opts?: { timeZone?: string; locale?: string }): TimelineGroup[];
export function composerMode(payload: unknown, nowMs: number): ComposerMode;
export function isWindowClosedError(error: unknown): boolean;
export function botView(bot: unknown, nowMs: number): BotView | null;
export function progressPercent(progress: unknown): number | null;
export function syncView(sync: unknown): SyncView;
export function templateChoices(response: unknown): TemplateChoices;
export function templateParameterProblem(value: unknown): 'param_required' | 'param_whitespace' | null;
export function templatePreview(choice: TemplateChoice | null | undefined, values: Record<string, string> | null | undefined): { segments: PreviewSegment[]; text: string };
export function templateMessage(choice: TemplateChoice | null | undefined, values: Record<string, string> | null | undefined): TemplateMessage | null;
export function recipientOutcome(recipient: unknown): RecipientOutcome | null;
export function campaignsView(response: unknown): CampaignsView;
export const STICKY_BOTTOM_PX: number;
export function isNearBottom(metrics: ScrollMetrics | null | undefined, slack?: number): boolean;
export function nextScrollTop(reason: 'load' | 'sent' | 'refresh', before: ScrollMetrics | null | undefined, after: ScrollMetrics): number;
export interface WidgetConfig { serverUrl: string; installKey: string }
export interface SignParts { method: string; pathWithQuery: string; timestamp: string | number; nonce: string; body?: string }
export const MESSAGES: Record<string, Record<string, string>>;
export const CONFIG_KEYS: { serverUrl: string; installKey: string };
export const CAMPAIGN_LIMIT: number;
export function translator(locale?: string): (key: string) => string;
export function canonicalString(parts: SignParts): string;
export function sign(key: string, parts: SignParts, subtle?: SubtleCrypto): Promise<string>;
export function randomNonce(cryptoImpl?: Crypto): string;
export function configFromOrgVariables(response: unknown): WidgetConfig;
export function orgIdFromOrgInfo(info: unknown): string;
export function configProblem(config: Partial<WidgetConfig> & { account?: string }): string | null;
export function phoneFromRecord(response: unknown): string;
export class CoexApiError extends Error {
  constructor(code: string, message: string, status?: number);
  code: string;
  status: number | undefined;
}
export interface CoexClient {
  getThread(phone: string): Promise<{ thread: Record<string, unknown> | null; messages: ExtMessage[]; sync: Record<string, unknown> }>;
  setBot(threadId: string | number, action: string): Promise<unknown>;
  sendText(threadId: string | number, text: string): Promise<unknown>;
  sendTemplate(threadId: string | number, template: TemplateMessage): Promise<unknown>;
  getTemplates(phoneNumberId?: string | null): Promise<TemplatesPayload>;
  getCampaigns(phone: string, limit?: number): Promise<CampaignsPayload>;
}
export interface TemplatesPayload { templates: Array<Record<string, unknown> & { name: string; language: string }>; stale: boolean; fetched_at: unknown }
export interface CampaignsPayload { campaigns: Array<Record<string, unknown>>; opt_out: Record<string, unknown> | null }
export function checkTemplatesPayload(payload: unknown): TemplatesPayload;
export function checkCampaignsPayload(payload: unknown): CampaignsPayload;
export function createCoexClient(options: {
  serverUrl: string; account: string; installKey: string;
  fetchImpl?: typeof fetch; cryptoImpl?: Crypto; now?: () => number;
}): CoexClient;
export function errorForStatus(status: number, json: unknown): CoexApiError;
export function checkThreadPayload(payload: unknown): { thread: Record<string, unknown> | null; messages: ExtMessage[]; sync: Record<string, unknown> };
export function escapeHtml(value: unknown): string;
export interface AsyncBlock<T> { loading?: boolean; error?: { code?: string; message?: string } | null; data?: T | null }
export interface WidgetState {
  loading?: boolean; problem?: string | null; error?: { code?: string; message?: string } | null;
  payload?: unknown; busy?: boolean; forceTemplate?: boolean; draft?: string;
  templates?: AsyncBlock<unknown> & { phoneNumberId?: string | null }; template?: string; templateValues?: Record<string, string>;
  campaigns?: AsyncBlock<unknown>;
}
export function renderWidget(state: WidgetState, opts?: { now?: number; timeZone?: string; locale?: string }): string;
export function widgetComposerMode(state: WidgetState, now?: number): ComposerMode;
export function chosenTemplate(state: WidgetState): TemplateChoice | null;
export function renderTemplatePreview(choice: TemplateChoice | null, values: Record<string, string> | null | undefined, t?: (key: string) => string): string;
export function renderCampaigns(campaigns: AsyncBlock<unknown> | null | undefined, opts?: { t?: (key: string) => string; timeZone?: string; locale?: string }): string;
