// Types of coex-timeline.js for TypeScript callers (the vitest suite). Not shipped (.distignore).

export declare const DEFAULT_STRINGS: Readonly<Record<string, string>>;

export interface TimelineRow {
  kind: 'message' | 'event';
  at: number;
  item: Record<string, unknown>;
}

export declare function parseTime(value: unknown): number;
export declare function buildTimeline(
  messages: ReadonlyArray<Record<string, unknown>> | null | undefined,
  events: ReadonlyArray<Record<string, unknown>> | null | undefined,
): TimelineRow[];
export declare function originBadge(
  origin: unknown,
  direction: unknown,
  strings?: Record<string, string>,
): { key: string; label: string; side: 'in' | 'out' };
export declare function replyMode(
  window: { open?: unknown; closes_at?: unknown } | null | undefined,
  now: number,
  hasThread?: boolean,
): 'text' | 'template' | 'none';
export declare function botStatus(
  bot: { state?: unknown; paused_until?: unknown } | null | undefined,
  now: number,
): { state: 'active' | 'paused' | 'handoff' | 'off'; until: number | null; actions: Array<'pause' | 'resume' | 'off'> };
export declare function botEvents(bot: { history?: unknown } | null | undefined): Array<Record<string, unknown>>;
export declare function historyImporting(sync: unknown): boolean;
export declare function eventLabel(event: Record<string, unknown>, strings?: Record<string, string>): string;
export declare function timelineStrings(locale: string | null | undefined): Readonly<Record<string, string>>;

export interface SendableTemplate {
  name: string;
  language: string;
  category: string | null;
  body: string;
  format: 'positional' | 'named';
  names: string[];
}
export declare function sendableTemplates(templates: unknown): SendableTemplate[];
export declare function templatePreviewParts(body: string, values: Record<string, string>): Array<{ text: string; placeholder: string | null; filled: boolean }>;
export declare function templateMessage(
  template: Pick<SendableTemplate, 'name' | 'language' | 'format' | 'names'>,
  values: Record<string, string>,
): { missing: string[]; template: { name: string; language: string; body_parameters?: string[] | Record<string, string> } };

export interface CampaignOutcome {
  key: 'queued' | 'sending' | 'sent' | 'delivered' | 'read' | 'failed' | 'skipped';
  error: string | null;
  replied: boolean;
}
export declare function campaignOutcome(recipient: unknown): CampaignOutcome | null;
export declare function optOutText(optOut: unknown, strings?: Record<string, string>, locale?: string): string | null;
export declare function campaignCountsText(counts: unknown, strings?: Record<string, string>, locale?: string): string;

export type TemplateState = { status: 'loading' } | { status: 'failed'; message?: string } | { status: 'ready'; templates: unknown; stale?: unknown };
export type CampaignsState = { status: 'loading' } | { status: 'failed'; message?: string } | { status: 'ready'; data: { campaigns?: unknown; opt_out?: unknown } };
export declare function renderTimeline(container: unknown, data: Record<string, unknown>, opts?: Record<string, unknown>): void;
export declare function renderTemplatePicker(box: unknown, state: TemplateState, opts?: Record<string, unknown>): void;
export declare function renderCampaigns(box: unknown, state: CampaignsState, opts?: Record<string, unknown>): void;
export declare function mount(container: unknown): Promise<void>;
export declare function boot(root?: unknown): Promise<void[]>;
