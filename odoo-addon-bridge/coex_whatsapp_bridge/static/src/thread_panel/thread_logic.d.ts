// Types for thread_logic.js so the TypeScript tests can import it (not shipped to Odoo's bundle).
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
export const PANEL_MODELS: string[];
export const ORIGIN_BADGES: Record<string, Badge>;
export const CAUSE_KEYS: Record<string, string>;
export function shouldShowPanel(model: unknown, resId: unknown): boolean;
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
export function jsonRpcBody(params: unknown, id?: number): { jsonrpc: '2.0'; method: 'call'; params: unknown; id: number };
export function unwrapJsonRpc(envelope: unknown): unknown;
