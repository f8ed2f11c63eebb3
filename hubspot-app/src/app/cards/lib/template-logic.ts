import type { ApprovedTemplate, TemplatesResponse } from './contract.js';
import type { BodyParameters } from './requests.js';
import { templateBodyParameters, templatePreview } from './vendor/ui-shared/index.js';
import { formatDateTime, sharedLabel, type Badge } from './thread-logic.js';

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

/** Why approved templates are missing from the picker, e.g. "2 approved templates cannot be sent from here: needs an image header; authentication template." */
export function unsendableSummary(templates: readonly ApprovedTemplate[]): string | null {
  const unsendable = templates.filter((t) => !t.sendable);
  if (unsendable.length === 0) return null;
  const reasons = [...new Set(unsendable.map((t) => t.unsendable_reason ?? 'not supported by the reply box'))];
  const what = unsendable.length === 1 ? '1 approved template cannot' : `${unsendable.length} approved templates cannot`;
  return `${what} be sent from here: ${reasons.join('; ')}.`;
}

export interface TemplateListView {
  options: TemplateOption[];
  /** Shown instead of the picker when nothing can be sent. */
  empty: string | null;
  unsendable: string | null;
  /** Set when the server served its last list because Meta could not be reached. */
  stale: Badge | null;
}

export function templateListView(res: TemplatesResponse, timeZone?: string): TemplateListView {
  const options = templatePickerOptions(res.templates);
  const empty =
    options.length > 0
      ? null
      : res.templates.length === 0
        ? 'This WhatsApp Business Account has no approved templates. Create one in WhatsApp Manager and wait for Meta to approve it.'
        : 'None of the approved templates can be sent from this card.';
  const stale = res.stale
    ? { label: res.fetched_at ? `Template list may be out of date (from ${formatDateTime(res.fetched_at, timeZone)})` : 'Template list may be out of date', variant: 'warning' as const }
    : null;
  return { options, empty, unsendable: unsendableSummary(res.templates), stale };
}

export interface ParameterField {
  /** The placeholder's name in the template: "1", "2" … or "first_name". */
  name: string;
  label: string;
}

export function parameterFields(t: ApprovedTemplate): ParameterField[] {
  return t.parameters.names.map((name) => ({ name, label: t.parameters.format === 'positional' ? `Parameter ${name}` : name }));
}

/** The server's limit for one body parameter (core/src/api/reply.ts). */
export const MAX_PARAMETER_LENGTH = 1024;

/**
 * WhatsApp refuses a body parameter with a line break, a tab or more than four spaces in a row
 * (Graph API error 132018), so the card says so before sending instead of after.
 */
export function parameterProblem(value: string): string | null {
  if (value.trim() === '') return sharedLabel('param_required');
  if (value.trim().length > MAX_PARAMETER_LENGTH) return `At most ${MAX_PARAMETER_LENGTH} characters`;
  if (/[\n\r\t]/.test(value)) return 'No line breaks or tabs';
  if (/ {5,}/.test(value)) return 'No more than 4 spaces in a row';
  return null;
}

export type ParameterCheck =
  | { ok: true; bodyParameters: BodyParameters | undefined }
  | { ok: false; problems: Record<string, string> };

/**
 * Every placeholder must have a value. Positional → an array in placeholder order; named → an
 * object keyed by name; no placeholders → no `body_parameters` at all.
 */
export function checkParameters(t: ApprovedTemplate, values: Readonly<Record<string, string>>): ParameterCheck {
  const problems: Record<string, string> = {};
  for (const name of t.parameters.names) {
    const problem = parameterProblem(values[name] ?? '');
    if (problem) problems[name] = problem;
  }
  if (Object.keys(problems).length > 0) return { ok: false, problems };
  return { ok: true, bodyParameters: templateBodyParameters({ format: t.parameters.format, names: t.parameters.names }, values) };
}

/**
 * The body as the customer will read it: filled placeholders replaced by their values, the others
 * left as `{{name}}` so the person sees what is still missing.
 */
export function previewBody(t: ApprovedTemplate, values: Readonly<Record<string, string>>): string | null {
  if (!t.body) return null;
  return templatePreview({ body: t.body }, values).text;
}
