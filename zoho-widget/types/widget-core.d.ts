// Types for widget-core.js so the TypeScript tests can import it (the widget itself does not use them).
// The shared thread view is re-exported from coex-thread-view.js, generated from ui-shared/src.
import type { ComposerMode, ExtMessage, TemplateChoice, TemplateMessage } from '../../ui-shared/src/index.js';
export * from '../../ui-shared/src/index.js';
export interface WidgetConfig { serverUrl: string; installKey: string }
export interface SignParts { method: string; pathWithQuery: string; timestamp: string | number; nonce: string; body?: string }
export const CONFIG_KEYS: { serverUrl: string; installKey: string };
export const CAMPAIGN_LIMIT: number;
export function canonicalString(parts: SignParts): string;
export function sign(key: string, parts: SignParts, subtle?: SubtleCrypto): Promise<string>;
export function randomNonce(cryptoImpl?: Crypto): string;
export function configFromOrgVariables(response: unknown): WidgetConfig;
export function orgIdFromOrgInfo(info: unknown): string;
export function localeFromCurrentUser(info: unknown): string;
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
