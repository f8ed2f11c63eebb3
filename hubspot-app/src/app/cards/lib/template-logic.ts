import type { ApprovedTemplate, TemplatesResponse } from './contract.js';
import type { BodyParameters } from './requests.js';
import { templateBodyParameters, templatePreview } from './vendor/ui-shared/index.js';
import { ENGLISH, formatDateTime, type Badge, type CardLanguage } from './thread-logic.js';

/*
 * The template picker without React (docs/extension-api.md, GET …/templates): which approved
 * templates the card offers once the 24-hour window is closed, one input per body placeholder,
 * the checks before sending, the `body_parameters` shape the server expects, and the preview.
 */

export interface TemplateOption {
  label: string;
  value: string;
}

const VALUE_SEPARATOR = '|';

export function templateValue(t: Pick<ApprovedTemplate, 'name' | 'language'>): string {
  return `${t.name}${VALUE_SEPARATOR}${t.language}`;
}

/**
 * Only templates the reply box can fill (`sendable`): one needing a media header, a button value or
 * a one-time code would be refused by WhatsApp. Same name in several languages → one option each.
 */
export function templatePickerOptions(templates: readonly ApprovedTemplate[]): TemplateOption[] {
  return templates.filter((t) => t.sendable).map((t) => ({ label: `${t.name} (${t.language})`, value: templateValue(t) }));
}

export function findTemplate(templates: readonly ApprovedTemplate[], value: string | null): ApprovedTemplate | null {
  if (value === null) return null;
  return templates.find((t) => t.sendable && templateValue(t) === value) ?? null;
}

/**
 * Why approved templates are missing from the picker, e.g. "2 approved templates cannot be sent
 * from here: needs an image header; authentication template." (the reasons are the server's words).
 */
export function unsendableSummary(templates: readonly ApprovedTemplate[], { t }: CardLanguage = ENGLISH): string | null {
  const unsendable = templates.filter((tpl) => !tpl.sendable);
  if (unsendable.length === 0) return null;
  const reasons = [...new Set(unsendable.map((tpl) => tpl.unsendable_reason ?? t('card_unsendable_default')))];
  return t('card_unsendable', { count: unsendable.length, reasons: reasons.join('; ') });
}

export interface TemplateListView {
  options: TemplateOption[];
  /** Shown instead of the picker when nothing can be sent. */
  empty: string | null;
  unsendable: string | null;
  /** Set when the server served its last list because Meta could not be reached. */
  stale: Badge | null;
}

export function templateListView(res: TemplatesResponse, timeZone?: string, lang: CardLanguage = ENGLISH): TemplateListView {
  const { t } = lang;
  const options = templatePickerOptions(res.templates);
  const empty = options.length > 0 ? null : res.templates.length === 0 ? t('card_templates_none') : t('card_templates_none_sendable');
  const stale = res.stale
    ? { label: res.fetched_at ? t('card_templates_stale_from', { date: formatDateTime(res.fetched_at, timeZone, lang) }) : t('card_templates_stale'), variant: 'warning' as const }
    : null;
  return { options, empty, unsendable: unsendableSummary(res.templates, lang), stale };
}

export interface ParameterField {
  /** The placeholder's name in the template: "1", "2" … or "first_name". */
  name: string;
  label: string;
}

export function parameterFields(tpl: ApprovedTemplate, { t }: CardLanguage = ENGLISH): ParameterField[] {
  return tpl.parameters.names.map((name) => ({ name, label: tpl.parameters.format === 'positional' ? t('card_parameter', { name }) : name }));
}

/** The server's limit for one body parameter (core/src/api/reply.ts). */
export const MAX_PARAMETER_LENGTH = 1024;

/**
 * WhatsApp refuses a body parameter with a line break, a tab or more than four spaces in a row
 * (Graph API error 132018), so the card says so before sending instead of after.
 */
export function parameterProblem(value: string, { t }: CardLanguage = ENGLISH): string | null {
  if (value.trim() === '') return t('param_required');
  // The catalogue's sentence names the limit (1024, MAX_PARAMETER_LENGTH).
  if (value.trim().length > MAX_PARAMETER_LENGTH) return t('param_too_long');
  if (/[\n\r\t]/.test(value)) return t('card_param_line_breaks');
  if (/ {5,}/.test(value)) return t('card_param_spaces');
  return null;
}

export type ParameterCheck =
  | { ok: true; bodyParameters: BodyParameters | undefined }
  | { ok: false; problems: Record<string, string> };

/**
 * Every placeholder must have a value. Positional → an array in placeholder order; named → an
 * object keyed by name; no placeholders → no `body_parameters` at all.
 */
export function checkParameters(tpl: ApprovedTemplate, values: Readonly<Record<string, string>>, lang: CardLanguage = ENGLISH): ParameterCheck {
  const problems: Record<string, string> = {};
  for (const name of tpl.parameters.names) {
    const problem = parameterProblem(values[name] ?? '', lang);
    if (problem) problems[name] = problem;
  }
  if (Object.keys(problems).length > 0) return { ok: false, problems };
  return { ok: true, bodyParameters: templateBodyParameters({ format: tpl.parameters.format, names: tpl.parameters.names }, values) };
}

/**
 * The body as the customer will read it: filled placeholders replaced by their values, the others
 * left as `{{name}}` so the person sees what is still missing.
 */
export function previewBody(t: ApprovedTemplate, values: Readonly<Record<string, string>>): string | null {
  if (!t.body) return null;
  return templatePreview({ body: t.body }, values).text;
}
