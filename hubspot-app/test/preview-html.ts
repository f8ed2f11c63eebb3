/**
 * Static HTML PREVIEW of a tree rendered by `@hubspot/ui-extensions/testing` (createRenderer).
 *
 * HubSpot draws UI extensions with its own React components inside the CRM; that renderer is not
 * available outside HubSpot. This module walks the component tree the testing renderer produces
 * (component names, props, text) and maps each HubSpot component to plain HTML with a small
 * stylesheet that only approximates HubSpot's look (colours, spacing, pills, tables). It is for
 * documentation screenshots and structure checks, not a pixel-faithful replica: fonts, icons,
 * exact sizes and interactive behaviour differ. Components it has no mapping for are rendered as
 * a dashed box naming the component and reported in `unknownComponents`, never silently dropped.
 */
import { RenderedNodeType, type RenderedChildNode, type RenderedElementNode, type RenderedFragmentNode, type RenderedRootNode } from '@hubspot/ui-extensions/testing';

type Props = Record<string, unknown>;
type ParentNode = RenderedRootNode | RenderedFragmentNode | RenderedElementNode;

export const PREVIEW_LABEL = 'Preview: HubSpot UI components rendered outside HubSpot';

export interface PreviewPage {
  html: string;
  /** Component names without a mapping (rendered as labelled placeholders). */
  unknownComponents: string[];
}

export function escapeHtml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');
}

const str = (p: Props, key: string): string | undefined => (typeof p[key] === 'string' ? (p[key] as string) : undefined);
const num = (p: Props, key: string): number | undefined => (typeof p[key] === 'number' ? (p[key] as number) : undefined);
/** A token used in a class name: only [a-z0-9-] so prop values cannot break out of the attribute. */
const token = (v: string | undefined, fallback: string): string => (v && /^[a-z0-9-]+$/i.test(v) ? v.toLowerCase() : fallback);

function isFragment(v: unknown): v is RenderedFragmentNode {
  return typeof v === 'object' && v !== null && (v as { nodeType?: unknown }).nodeType === RenderedNodeType.Fragment;
}

class Converter {
  readonly unknown = new Set<string>();

  children(node: ParentNode): string {
    return node.childNodes.map((c) => this.node(c)).join('');
  }

  /** A string prop, or a ReactNode prop (which the testing renderer hands over as a fragment). */
  slot(p: Props, key: string): string {
    const v = p[key];
    if (typeof v === 'string' || typeof v === 'number') return escapeHtml(String(v));
    if (isFragment(v)) return this.children(v);
    return '';
  }

  node(n: RenderedChildNode): string {
    if (n.nodeType === RenderedNodeType.Text) return escapeHtml(n.text);
    const p = n.props as Props;
    const inner = (): string => this.children(n);
    const testId = str(p, 'testId');
    const data = testId ? ` data-testid="${escapeHtml(testId)}"` : '';
    switch (n.name) {
      case 'Flex': {
        const wrap = p.wrap === true || p.wrap === 'wrap';
        const cls = ['hs-flex', `dir-${token(str(p, 'direction'), 'row')}`, `gap-${token(str(p, 'gap'), 'flush')}`, `justify-${token(str(p, 'justify'), 'start')}`, `align-${token(str(p, 'align'), 'stretch')}`, wrap ? 'wrap' : ''];
        return `<div class="${cls.join(' ').trim()}"${data}>${inner()}</div>`;
      }
      case 'Box':
        return `<div class="hs-box"${data}>${inner()}</div>`;
      case 'Heading':
        return `<h2 class="hs-heading"${data}>${inner()}</h2>`;
      case 'Divider':
        return `<hr class="hs-divider"${data}>`;
      case 'Text': {
        const format = (typeof p.format === 'object' && p.format !== null ? p.format : {}) as Props;
        const cls = ['hs-text', `variant-${token(str(p, 'variant'), 'bodytext')}`, `weight-${token(str(format, 'fontWeight'), 'regular')}`, format.italic === true ? 'italic' : ''];
        const tag = p.inline === true ? 'span' : 'p';
        return `<${tag} class="${cls.join(' ').trim()}"${data}>${inner()}</${tag}>`;
      }
      case 'Tag':
        return `<span class="hs-tag tag-${token(str(p, 'variant'), 'default')}"${data}>${inner()}</span>`;
      case 'Button': {
        const cls = ['hs-button', `btn-${token(str(p, 'variant'), 'secondary')}`, `size-${token(str(p, 'size'), 'md')}`];
        return `<button type="button" class="${cls.join(' ')}"${p.disabled === true ? ' disabled' : ''}${data}>${inner()}</button>`;
      }
      case 'Alert':
        return `<div class="hs-alert alert-${token(str(p, 'variant'), 'info')}" role="alert"${data}><p class="hs-alert-title">${this.slot(p, 'title')}</p><div class="hs-alert-body">${inner()}</div></div>`;
      case 'LoadingSpinner':
        return `<div class="hs-spinner"${data}><span class="hs-spinner-ring"></span>${this.slot(p, 'label')}</div>`;
      case 'ProgressBar': {
        const max = num(p, 'maxValue') ?? 100;
        const pct = Math.max(0, Math.min(100, Math.round(((num(p, 'value') ?? 0) / max) * 100)));
        const shown = p.showPercentage === true ? `<span class="hs-progress-pct">${pct}%</span>` : '';
        return `<div class="hs-progress"${data}><div class="hs-progress-head"><span class="hs-progress-title">${this.slot(p, 'title')}</span>${shown}</div><div class="hs-progress-track"><div class="hs-progress-fill" style="width:${pct}%"></div></div></div>`;
      }
      case 'TextArea': {
        const description = this.slot(p, 'description');
        return `<label class="hs-field"${data}><span class="hs-label">${this.slot(p, 'label')}</span>${description ? `<span class="hs-description">${description}</span>` : ''}<textarea class="hs-input" rows="${num(p, 'rows') ?? 3}" placeholder="${escapeHtml(str(p, 'placeholder') ?? '')}">${escapeHtml(str(p, 'value') ?? '')}</textarea></label>`;
      }
      case 'Input': {
        const description = this.slot(p, 'description');
        const invalid = p.error === true;
        const message = str(p, 'validationMessage');
        return `<label class="hs-field${invalid ? ' invalid' : ''}"${data}><span class="hs-label">${this.slot(p, 'label')}${p.required === true ? '<span class="hs-required">*</span>' : ''}</span>${description ? `<span class="hs-description">${description}</span>` : ''}<input class="hs-input" type="text" value="${escapeHtml(str(p, 'value') ?? '')}" placeholder="${escapeHtml(str(p, 'placeholder') ?? '')}">${message ? `<span class="hs-validation">${escapeHtml(message)}</span>` : ''}</label>`;
      }
      case 'Accordion': {
        // The open state a person sees first; HubSpot toggles it on click.
        const open = p.open === true || (p.open === undefined && p.defaultOpen === true);
        return `<details class="hs-accordion size-${token(str(p, 'size'), 'sm')}"${open ? ' open' : ''}${data}><summary>${this.slot(p, 'title')}</summary><div class="hs-accordion-body">${inner()}</div></details>`;
      }
      case 'Select': {
        const options = Array.isArray(p.options) ? (p.options as { label?: unknown; value?: unknown }[]) : [];
        const value = p.value === undefined ? undefined : String(p.value);
        const placeholder = str(p, 'placeholder');
        const opts = [
          ...(placeholder && value === undefined ? [`<option selected>${escapeHtml(placeholder)}</option>`] : []),
          ...options.map((o) => `<option${String(o.value) === value ? ' selected' : ''}>${escapeHtml(String(o.label ?? o.value ?? ''))}</option>`),
        ];
        return `<label class="hs-field"${data}><span class="hs-label">${this.slot(p, 'label')}</span><select class="hs-input">${opts.join('')}</select></label>`;
      }
      case 'Table':
        return `<table class="hs-table${p.bordered === false ? '' : ' bordered'} density-${token(str(p, 'density'), 'default')}"${data}>${inner()}</table>`;
      case 'TableHead':
        return `<thead>${inner()}</thead>`;
      case 'TableBody':
        return `<tbody>${inner()}</tbody>`;
      case 'TableRow':
        return `<tr${data}>${inner()}</tr>`;
      case 'TableHeader':
        return `<th class="width-${token(str(p, 'width'), 'auto')}">${inner()}</th>`;
      case 'TableCell': {
        const span = num(p, 'colSpan');
        return `<td class="width-${token(str(p, 'width'), 'auto')}"${span ? ` colspan="${span}"` : ''}>${inner()}</td>`;
      }
      default:
        this.unknown.add(n.name);
        return `<div class="hs-unknown"><span class="hs-unknown-name">&lt;${escapeHtml(n.name)}&gt; (no preview mapping)</span>${inner()}</div>`;
    }
  }
}

/** Approximates HubSpot's CRM card styling; not HubSpot's stylesheet. */
const STYLESHEET = `
* { box-sizing: border-box; }
body { margin: 0; background: #f5f8fa; color: #33475b; font: 14px/1.45 "Lexend Deca", "Liberation Sans", "DejaVu Sans", Arial, sans-serif; }
.preview-banner { background: #fff3cd; border-bottom: 1px solid #f5c26b; padding: 6px 20px; font-size: 13px; color: #6b4a00; }
.preview-banner strong { display: block; font-size: 14px; }
.record-tab { margin: 10px 20px; background: #fff; border: 1px solid #cbd6e2; border-radius: 4px; }
.record-tab-head { border-bottom: 1px solid #dfe3eb; padding: 10px 16px; font-weight: 600; color: #213343; }
.record-tab-body { padding: 16px; }
.hs-flex { display: flex; }
.dir-row { flex-direction: row; } .dir-column { flex-direction: column; }
.wrap { flex-wrap: wrap; }
.gap-flush { gap: 0; } .gap-xs { gap: 4px; } .gap-sm { gap: 8px; } .gap-md { gap: 16px; } .gap-lg { gap: 24px; } .gap-xl { gap: 32px; }
.justify-start { justify-content: flex-start; } .justify-center { justify-content: center; } .justify-end { justify-content: flex-end; }
.justify-between { justify-content: space-between; } .justify-around { justify-content: space-around; }
.align-start { align-items: flex-start; } .align-center { align-items: center; } .align-end { align-items: flex-end; }
.align-baseline { align-items: baseline; } .align-stretch { align-items: stretch; }
.hs-heading { margin: 0; font-size: 16px; font-weight: 600; color: #213343; }
.hs-divider { border: 0; border-top: 1px solid #dfe3eb; margin: 0; width: 100%; }
.hs-text { margin: 0; } .variant-microcopy { font-size: 12px; color: #516f90; }
.weight-bold { font-weight: 700; } .weight-demibold { font-weight: 600; } .italic { font-style: italic; }
.hs-tag { display: inline-block; border: 1px solid; border-radius: 3px; padding: 0 6px; font-size: 12px; line-height: 18px; white-space: nowrap; }
.tag-default { background: #eaf0f6; border-color: #cbd6e2; color: #33475b; }
.tag-info { background: #e5f5f8; border-color: #7fd1de; color: #00606f; }
.tag-success { background: #e5f8f6; border-color: #7fded2; color: #00715f; }
.tag-warning { background: #fef8f0; border-color: #fbc57a; color: #8a5300; }
.tag-error { background: #fde8e9; border-color: #f8a9ad; color: #a4272e; }
.hs-button { font: inherit; font-weight: 600; border-radius: 3px; border: 1px solid; cursor: pointer; padding: 8px 16px; }
.hs-button.size-sm, .hs-button.size-small, .hs-button.size-xs { padding: 4px 10px; font-size: 12px; }
.btn-primary { background: #ff5c35; border-color: #ff5c35; color: #fff; }
.btn-secondary { background: #fff; border-color: #ff5c35; color: #ff5c35; }
.btn-destructive { background: #fff; border-color: #d9363e; color: #d9363e; }
.btn-transparent { background: none; border-color: transparent; color: #0068b1; padding-left: 0; }
.hs-button[disabled] { opacity: .5; cursor: default; }
.hs-alert { border: 1px solid; border-left-width: 4px; border-radius: 3px; padding: 10px 14px; }
.hs-alert-title { margin: 0 0 2px; font-weight: 600; }
.alert-info { background: #e5f5f8; border-color: #00a4bd; } .alert-success { background: #e5f8f6; border-color: #00bda5; }
.alert-warning { background: #fef8f0; border-color: #f5c26b; } .alert-error, .alert-danger { background: #fde8e9; border-color: #f2545b; }
.hs-spinner { display: flex; gap: 8px; align-items: center; justify-content: center; color: #516f90; }
.hs-spinner-ring { width: 16px; height: 16px; border: 2px solid #cbd6e2; border-top-color: #ff5c35; border-radius: 50%; }
.hs-progress-head { display: flex; justify-content: space-between; font-size: 12px; color: #516f90; margin-bottom: 4px; }
.hs-progress-track { height: 8px; background: #eaf0f6; border-radius: 4px; overflow: hidden; }
.hs-progress-fill { height: 100%; background: #00a4bd; }
.hs-field { display: flex; flex-direction: column; gap: 4px; }
.hs-label { font-weight: 600; color: #213343; } .hs-description { font-size: 12px; color: #516f90; }
.hs-input { font: inherit; color: #33475b; background: #f5f8fa; border: 1px solid #cbd6e2; border-radius: 3px; padding: 8px 10px; width: 100%; resize: none; }
.hs-required { color: #d9363e; margin-left: 2px; }
.hs-field.invalid .hs-input { border-color: #f2545b; }
.hs-validation { font-size: 12px; color: #a4272e; }
.hs-accordion { border-bottom: 1px solid #dfe3eb; padding: 6px 0; }
.hs-accordion summary { cursor: pointer; font-weight: 600; color: #0068b1; list-style-position: inside; }
.hs-accordion-body { padding: 8px 0 4px 18px; }
.hs-table { border-collapse: collapse; width: 100%; }
.hs-table.bordered { border: 1px solid #cbd6e2; }
.hs-table th { text-align: left; font-size: 11px; text-transform: uppercase; letter-spacing: .03em; color: #516f90; background: #f5f8fa; border-bottom: 1px solid #cbd6e2; padding: 6px 8px; }
.hs-table td { border-bottom: 1px solid #eaf0f6; padding: 6px 8px; vertical-align: baseline; }
.hs-table.density-compact td { padding: 4px 8px; } .hs-table.density-condensed td { padding: 3px 8px; }
.hs-table td[colspan] { background: #fafbfc; }
.width-min { width: 1%; white-space: nowrap; }
/* HubSpot sizes width="min" columns to their content: keep a cell's tags on one line. */
.width-min .hs-flex.wrap { flex-wrap: nowrap; }
.hs-unknown { border: 1px dashed #f2545b; padding: 4px; } .hs-unknown-name { font-size: 11px; color: #a4272e; }
`;

/** The rendered tree as a standalone HTML page, framed like a record tab and labelled as a preview. */
export function renderPreviewPage(root: RenderedRootNode, opts: { cardTitle: string; note: string }): PreviewPage {
  const converter = new Converter();
  const body = converter.children(root);
  const html = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>${escapeHtml(`${opts.cardTitle} — ${PREVIEW_LABEL}`)}</title>
<style>${STYLESHEET}</style>
</head>
<body>
<div class="preview-banner" data-testid="preview-label"><strong>${escapeHtml(PREVIEW_LABEL)}</strong>${escapeHtml(opts.note)}</div>
<div class="record-tab"><div class="record-tab-head">${escapeHtml(opts.cardTitle)}</div><div class="record-tab-body">${body}</div></div>
<script>document.documentElement.dataset.height = String(Math.ceil(document.documentElement.scrollHeight));</script>
</body>
</html>
`;
  return { html, unknownComponents: [...converter.unknown].sort() };
}
