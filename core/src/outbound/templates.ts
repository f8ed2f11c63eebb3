import type { GraphClient, MessageTemplateDefinition } from './graph-client.js';

/**
 * The approved templates a person can send from a CRM card when the 24-hour window is closed.
 * Read from Meta (GET /{waba}/message_templates?status=APPROVED), summarised for a reply box (body
 * text, its placeholders, whether the box can fill everything the template needs) and cached per
 * WhatsApp Business Account: every card load asks, and Meta's template list changes rarely.
 */

export interface TemplateSummary {
  name: string;
  language: string;
  category: string;
  /** The body text with its {{1}} / {{name}} placeholders ('' when the template has no body). */
  body: string;
  /** Body placeholders in order of first appearance. */
  parameters: { format: 'positional' | 'named'; names: string[] };
  /** False when the template needs more than body parameters (media header, button values, codes). */
  sendable: boolean;
  unsendable_reason: string | null;
}

const PLACEHOLDER = /\{\{\s*([A-Za-z0-9_]+)\s*\}\}/g;

function placeholders(text: string | undefined): string[] {
  if (!text) return [];
  return [...new Set([...text.matchAll(PLACEHOLDER)].map((m) => m[1] ?? ''))];
}

/** Why the reply box cannot send this template, or null when body parameters are all it needs. */
function unsendableReason(t: MessageTemplateDefinition): string | null {
  if (t.category?.toUpperCase() === 'AUTHENTICATION') return 'authentication template (one-time codes are sent by the login flow, not by people)';
  for (const c of t.components) {
    const type = c.type.toUpperCase();
    if (type === 'HEADER') {
      const format = (c.format ?? 'TEXT').toUpperCase();
      if (format !== 'TEXT') return `needs ${format === 'IMAGE' ? 'an' : 'a'} ${format.toLowerCase()} header`;
      if (placeholders(c.text).length > 0) return 'needs a header parameter';
    } else if (type === 'BUTTONS') {
      const buttons = c.buttons ?? [];
      for (const [i, b] of buttons.entries()) {
        const kind = b.type.toUpperCase();
        if (kind === 'URL' && placeholders(b.url).length > 0) return `needs a value for button ${i + 1} (dynamic URL)`;
        if (kind === 'COPY_CODE' || kind === 'OTP') return `needs a code for button ${i + 1}`;
        if (kind === 'FLOW' || kind === 'CATALOG' || kind === 'MPM') return `button ${i + 1} (${kind.toLowerCase()}) needs parameters`;
      }
    } else if (type !== 'BODY' && type !== 'FOOTER') {
      return `has a ${type.toLowerCase().replace(/_/g, ' ')} component`;
    }
  }
  return null;
}

export function summarizeTemplate(t: MessageTemplateDefinition): TemplateSummary {
  const body = t.components.find((c) => c.type.toUpperCase() === 'BODY')?.text ?? '';
  const names = placeholders(body);
  const named = t.parameter_format?.toUpperCase() === 'NAMED' || names.some((n) => !/^\d+$/.test(n));
  const reason = unsendableReason(t);
  return {
    name: t.name,
    language: t.language,
    category: (t.category ?? 'UTILITY').toUpperCase(),
    body,
    parameters: { format: named ? 'named' : 'positional', names },
    sendable: reason === null,
    unsendable_reason: reason,
  };
}

export interface TemplateList {
  templates: TemplateSummary[];
  /** True when Meta could not be reached and this is the last list read. */
  stale: boolean;
  fetchedAt: Date;
}

export interface TemplateCatalogOptions {
  graph: Pick<GraphClient, 'listMessageTemplates'>;
  /** How long a list is served without asking Meta again (default 5 minutes). */
  ttlMs?: number;
  now?: () => number;
}

/** Approved templates per WABA, cached; concurrent loads of one WABA share one Graph call. */
export class TemplateCatalog {
  private readonly cache = new Map<string, { at: number; templates: TemplateSummary[] }>();
  private readonly inFlight = new Map<string, Promise<TemplateSummary[]>>();
  private readonly ttlMs: number;
  private readonly now: () => number;

  constructor(private readonly options: TemplateCatalogOptions) {
    this.ttlMs = options.ttlMs ?? 5 * 60_000;
    this.now = options.now ?? Date.now;
  }

  /** `tokenOf`: a phone number of that WABA whose stored access token is used for the call. */
  async list(wabaId: string, tokenOf: string): Promise<TemplateList> {
    const cached = this.cache.get(wabaId);
    if (cached && this.now() - cached.at < this.ttlMs) return { templates: cached.templates, stale: false, fetchedAt: new Date(cached.at) };
    try {
      const templates = await this.load(wabaId, tokenOf);
      const at = this.now();
      this.cache.set(wabaId, { at, templates });
      return { templates, stale: false, fetchedAt: new Date(at) };
    } catch (error) {
      // Meta down or the token revoked: the last list is better than none for a person replying.
      if (cached) return { templates: cached.templates, stale: true, fetchedAt: new Date(cached.at) };
      throw error;
    }
  }

  private load(wabaId: string, tokenOf: string): Promise<TemplateSummary[]> {
    let p = this.inFlight.get(wabaId);
    if (!p) {
      p = this.options.graph
        .listMessageTemplates(wabaId, { status: 'APPROVED', tokenOf })
        // Meta filters by status already; checked again so a server ignoring the filter cannot offer a paused template.
        .then((all) => all.filter((t) => t.status.toUpperCase() === 'APPROVED').map(summarizeTemplate).sort((a, b) => a.name.localeCompare(b.name) || a.language.localeCompare(b.language)))
        .finally(() => this.inFlight.delete(wabaId));
      this.inFlight.set(wabaId, p);
    }
    return p;
  }
}
