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
export declare function renderTimeline(container: unknown, data: Record<string, unknown>, opts?: Record<string, unknown>): void;
export declare function mount(container: unknown): Promise<void>;
export declare function boot(root?: unknown): Promise<void[]>;
