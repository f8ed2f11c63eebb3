// Zoho CRM widget core: everything the widget does except touching the DOM and the ZOHO global:
// Web Crypto signing, the CoEx client, org-variable parsing and HTML rendering. The thread view
// model and the strings come from vendor/coex-thread-view.js, generated from ui-shared/ (the one source
// of every in-CRM UI) by `npm run build -w ui-shared`. Plain ES modules, so vitest runs them in
// Node (test/zoho-widget.test.ts) and widget.js loads them in the browser.
import {
    botView,
    buildTimeline,
    campaignsView,
    composerMode,
    controlView,
    syncView,
    templateChoices,
    templateMessage,
    templateParameterProblem,
    templatePreview,
    translator,
} from "./vendor/coex-thread-view.js";

export * from "./vendor/coex-thread-view.js";

// ── signing ────────────────────────────────────────────────────────────────────────────────

const encoder = new TextEncoder();

function toHex(buffer) {
    return Array.from(new Uint8Array(buffer), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** The string that is signed: METHOD \n path-with-query \n timestamp \n nonce \n raw body. */
export function canonicalString({ method, pathWithQuery, timestamp, nonce, body }) {
    return [String(method).toUpperCase(), pathWithQuery, String(timestamp), nonce, body || ""].join("\n");
}

/** hex HMAC-SHA256 with Web Crypto (browser, and Node's globalThis.crypto in tests). */
export async function sign(key, parts, subtle = globalThis.crypto.subtle) {
    const cryptoKey = await subtle.importKey("raw", encoder.encode(key), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
    return toHex(await subtle.sign("HMAC", cryptoKey, encoder.encode(canonicalString(parts))));
}

export function randomNonce(cryptoImpl = globalThis.crypto) {
    const bytes = new Uint8Array(16);
    cryptoImpl.getRandomValues(bytes);
    return toHex(bytes);
}

// ── configuration ──────────────────────────────────────────────────────────────────────────

/** API names of the extension's org variables (Custom Properties); see README.md. */
export const CONFIG_KEYS = {
    serverUrl: "coex_server_url",
    installKey: "coex_install_key",
};

/**
 * ZOHO.CRM.API.getOrgVariable({ apiKeys }) answers { Success: { Content: { name: { value } } } };
 * a packaged extension prefixes names with its namespace ("coexwhatsapp__coex_server_url"), so
 * names are matched by suffix.
 */
export function configFromOrgVariables(response) {
    const content = response && response.Success && response.Success.Content;
    const read = (name) => {
        if (!content || typeof content !== "object") {
            return "";
        }
        const hit = Object.keys(content).find((k) => k === name || k.endsWith(`__${name}`));
        const entry = hit === undefined ? undefined : content[hit];
        const value = entry && typeof entry === "object" ? entry.value : entry;
        return typeof value === "string" && value !== "null" ? value.trim() : "";
    };
    return {
        serverUrl: read(CONFIG_KEYS.serverUrl).replace(/\/+$/, ""),
        installKey: read(CONFIG_KEYS.installKey),
    };
}

/**
 * ZOHO.CRM.CONFIG.getCurrentUser() answers { users: [{ language: "fr_FR", locale: "fr_FR", ... }] }:
 * the language the user chose in Zoho CRM, as a BCP 47 tag ("fr-FR"), or "" when it says none.
 */
export function localeFromCurrentUser(info) {
    const user = info && Array.isArray(info.users) ? info.users[0] : undefined;
    const value = user && [user.language, user.locale].find((v) => typeof v === "string" && /^[A-Za-z]{2,3}([_-][A-Za-z0-9]+)*$/.test(v));
    return value ? value.replace(/_/g, "-") : "";
}

/** ZOHO.CRM.CONFIG.getOrgInfo() answers { org: [{ zgid, ... }] }: zgid is the org id CoEx knows. */
export function orgIdFromOrgInfo(info) {
    const org = info && Array.isArray(info.org) ? info.org[0] : undefined;
    const id = org && (org.zgid ?? org.id);
    return id === undefined || id === null ? "" : String(id);
}

export function configProblem(config) {
    if (!config.serverUrl || !/^https?:\/\/[^/]/.test(config.serverUrl)) {
        return "not_configured";
    }
    if (!config.installKey || !config.account) {
        return "not_configured";
    }
    return null;
}

/** ZOHO.CRM.API.getRecord answers { data: [record] }: Mobile first (WhatsApp lives on mobiles). */
export function phoneFromRecord(response) {
    const record = response && Array.isArray(response.data) ? response.data[0] : undefined;
    if (!record) {
        return "";
    }
    for (const field of ["Mobile", "Phone"]) {
        const value = record[field];
        if (typeof value === "string" && value.trim()) {
            return value.trim();
        }
    }
    return "";
}

// ── CoEx client ────────────────────────────────────────────────────────────────────────────

export class CoexApiError extends Error {
    constructor(code, message, status) {
        super(message);
        this.code = code;
        this.status = status;
    }
}

/**
 * Calls {serverUrl}/ext/v1/zoho/... with the signed headers. The signed path is the URL's
 * pathname + search exactly as sent (so a server mounted under a prefix signs the same string).
 */
export function createCoexClient({ serverUrl, account, installKey, fetchImpl = globalThis.fetch, cryptoImpl = globalThis.crypto, now = () => Date.now() }) {
    const base = serverUrl.replace(/\/+$/, "");
    async function call(method, path, payload) {
        const url = new URL(base + path);
        const body = payload === undefined ? "" : JSON.stringify(payload);
        const timestamp = String(now());
        const nonce = randomNonce(cryptoImpl);
        const signature = await sign(installKey, { method, pathWithQuery: url.pathname + url.search, timestamp, nonce, body }, cryptoImpl.subtle);
        const headers = {
            Accept: "application/json",
            "X-Coex-Account": account,
            "X-Coex-Timestamp": timestamp,
            "X-Coex-Nonce": nonce,
            "X-Coex-Signature": signature,
        };
        if (payload !== undefined) {
            headers["Content-Type"] = "application/json";
        }
        let response;
        try {
            response = await fetchImpl(url.toString(), { method, headers, body: payload === undefined ? undefined : body });
        } catch (error) {
            throw new CoexApiError("unreachable", `CoEx is unreachable: ${error && error.message}`);
        }
        const text = await response.text();
        let json = null;
        try {
            json = text ? JSON.parse(text) : null;
        } catch {
            json = null;
        }
        if (!response.ok) {
            throw errorForStatus(response.status, json);
        }
        if (text && json === null) {
            throw new CoexApiError("bad_response", "CoEx answered with something that is not JSON.", response.status);
        }
        return json;
    }
    const threadPath = (id, tail) => `/ext/v1/zoho/threads/${encodeURIComponent(String(id))}/${tail}`;
    return {
        async getThread(phone) {
            return checkThreadPayload(await call("GET", `/ext/v1/zoho/thread?${new URLSearchParams({ phone })}`));
        },
        setBot(threadId, action) {
            if (!["pause", "resume", "off"].includes(action)) {
                throw new CoexApiError("bad_request", `Unknown bot action ${action}`);
            }
            return call("POST", threadPath(threadId, "bot"), { action });
        },
        sendText(threadId, text) {
            return call("POST", threadPath(threadId, "messages"), { text });
        },
        /** template: { name, language, body_parameters? } as built by templateMessage(). */
        sendTemplate(threadId, template) {
            if (!template || !template.name || !template.language) {
                throw new CoexApiError("bad_request", "Choose a template.");
            }
            const message = { name: template.name, language: template.language };
            if (template.body_parameters !== undefined) {
                message.body_parameters = template.body_parameters;
            }
            return call("POST", threadPath(threadId, "messages"), { template: message });
        },
        /** Approved templates of the thread's number (phone_number_id from the thread payload). */
        async getTemplates(phoneNumberId) {
            const query = phoneNumberId ? `?${new URLSearchParams({ phone_number_id: String(phoneNumberId) })}` : "";
            return checkTemplatesPayload(await call("GET", `/ext/v1/zoho/templates${query}`));
        },
        /** Campaigns that included this customer, newest first, and their marketing opt-out. */
        async getCampaigns(phone, limit = CAMPAIGN_LIMIT) {
            return checkCampaignsPayload(await call("GET", `/ext/v1/zoho/campaigns?${new URLSearchParams({ phone, limit: String(limit) })}`));
        },
    };
}

/** Campaigns shown in the widget (the server allows 1..50). */
export const CAMPAIGN_LIMIT = 5;

export function errorForStatus(status, json) {
    const code = json && typeof json.code === "string" ? json.code : undefined;
    // The extension API's sentence for people is in "error"; "message" kept for older servers.
    const serverMessage = json && [json.error, json.message].find((v) => typeof v === "string" && v);
    if (status === 409 && code === "window_closed") {
        return new CoexApiError("window_closed", "The 24-hour window is closed: send a template.", status);
    }
    if (status === 401 || status === 403) {
        return new CoexApiError("unauthorized", "CoEx refused the signature: check the install key.", status);
    }
    if (status === 404) {
        return new CoexApiError("not_found", "CoEx does not know this thread.", status);
    }
    if (status >= 400 && status < 500) {
        return new CoexApiError(code || "bad_request", serverMessage || `CoEx rejected the request (HTTP ${status}).`, status);
    }
    if (status === 502 && code === "templates_unavailable") {
        return new CoexApiError(code, "WhatsApp did not give the template list and CoEx has none cached; try again shortly.", status);
    }
    if (code === "send_failed") {
        return new CoexApiError(code, serverMessage || "WhatsApp refused the message.", status);
    }
    return new CoexApiError("server_error", `CoEx failed (HTTP ${status}).`, status);
}

/** Shape check of GET /thread before rendering (the widget renders defensively after this). */
export function checkThreadPayload(payload) {
    if (!payload || typeof payload !== "object") {
        throw new CoexApiError("bad_response", "CoEx answered with an unexpected thread payload.");
    }
    const thread = payload.thread ?? null;
    if (thread !== null && (typeof thread !== "object" || !("id" in thread))) {
        throw new CoexApiError("bad_response", "CoEx answered with a thread without an id.");
    }
    const messages = payload.messages ?? [];
    if (!Array.isArray(messages) || messages.some((m) => !m || typeof m !== "object")) {
        throw new CoexApiError("bad_response", "CoEx answered with malformed messages.");
    }
    return { thread, messages, sync: payload.sync && typeof payload.sync === "object" ? payload.sync : {} };
}

/** Shape check of GET /templates: a list of objects with a name and a language. */
export function checkTemplatesPayload(payload) {
    const templates = payload && payload.templates;
    if (!Array.isArray(templates) || templates.some((t) => !t || typeof t.name !== "string" || typeof t.language !== "string")) {
        throw new CoexApiError("bad_response", "CoEx answered with an unexpected template list.");
    }
    return { templates, stale: payload.stale === true, fetched_at: payload.fetched_at ?? null };
}

/** Shape check of GET /campaigns: a list of campaign objects and an optional opt-out object. */
export function checkCampaignsPayload(payload) {
    const campaigns = payload && payload.campaigns;
    if (!Array.isArray(campaigns) || campaigns.some((c) => !c || typeof c !== "object")) {
        throw new CoexApiError("bad_response", "CoEx answered with an unexpected campaign list.");
    }
    return { campaigns, opt_out: payload.opt_out && typeof payload.opt_out === "object" ? payload.opt_out : null };
}

// ── rendering ──────────────────────────────────────────────────────────────────────────────

export function escapeHtml(value) {
    return String(value ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}

function formatDateTime(ms, { timeZone, locale } = {}) {
    return ms === null || ms === undefined
        ? ""
        : new Intl.DateTimeFormat(locale || "en", { timeZone, dateStyle: "medium", timeStyle: "short" }).format(new Date(ms));
}

/**
 * The whole widget body as an HTML string (every value escaped). Buttons carry data-action
 * attributes that widget.js wires up: bot-pause | bot-resume | bot-off | send-text | send-template.
 */
export function renderWidget(state, { now = Date.now(), timeZone, locale } = {}) {
    const t = translator(locale);
    const e = escapeHtml;
    if (state.problem) {
        return `<div class="coex-notice coex-problem" data-problem="${e(state.problem)}">${e(t(state.problem))}</div>`;
    }
    if (state.loading) {
        return `<div class="coex-notice">${e(t("loading"))}</div>`;
    }
    const out = [];
    const payload = state.payload || { thread: null, messages: [], sync: {} };
    const thread = payload.thread;
    const bot = botView(thread && thread.bot, now);
    // Meta's agent or another app holds the chat: CoEx's agent is silent whatever the bot state says.
    const control = thread ? controlView(thread.control) : null;
    out.push(`<header class="coex-header"><span class="coex-title">WhatsApp${thread ? ` · ${e(thread.contact_name || thread.wa_id || "")}` : ""}</span>`);
    if (bot) {
        out.push(`<span class="coex-bot coex-bot-${e(bot.state)}" data-bot-state="${e(bot.state)}">${e(t(bot.key))}</span>`);
    }
    if (control) {
        out.push(`<span class="coex-control" data-control="${e(control.holder)}">${e(t(control.labelKey))}${control.appId ? ` (${e(control.appId)})` : ""}</span>`);
    }
    if (bot) {
        out.push(`<button type="button" class="coex-btn" data-action="bot-${bot.toggleAction}"${state.busy ? " disabled" : ""}>${e(t(bot.toggleAction))}</button>`);
        if (bot.canTurnOff) {
            out.push(`<button type="button" class="coex-btn coex-btn-danger" data-action="bot-off"${state.busy ? " disabled" : ""}>${e(t("off"))}</button>`);
        }
    }
    out.push("</header>");
    if (control) {
        const since = control.since ? ` <span class="coex-control-since">${e(t("control_since"))} ${e(formatDateTime(control.since, { timeZone, locale }))}</span>` : "";
        out.push(`<div class="coex-control-detail" role="status">${e(t(control.detailKey))}${since}</div>`);
    }

    const sync = syncView(payload.sync);
    if (sync.history.visible) {
        if (sync.history.running) {
            const pct = sync.history.percent ?? 0;
            out.push(`<div class="coex-sync" data-sync="running">${e(t("history_running"))} <progress max="100" value="${pct}">${pct}%</progress> <span class="coex-sync-pct">${pct}%</span></div>`);
        } else if (sync.history.declined) {
            out.push(`<div class="coex-sync" data-sync="declined">${e(t("history_declined"))}</div>`);
        } else {
            out.push(`<div class="coex-sync" data-sync="failed">${e(t("history_failed"))}</div>`);
        }
    }
    if (state.error) {
        out.push(`<div class="coex-error" role="alert" data-error="${e(state.error.code || "")}">${e(state.error.message || state.error.code)}</div>`);
    }
    if (!thread) {
        out.push(`<div class="coex-notice coex-empty">${e(t("no_thread"))}</div>`);
        out.push(renderCampaigns(state.campaigns, { t, timeZone, locale }));
        return out.join("");
    }

    if (bot && bot.history.length) {
        out.push('<ul class="coex-bot-history">');
        if (bot.pausedUntil) {
            out.push(`<li class="coex-paused-until">${e(t("paused_until"))} ${e(formatDateTime(bot.pausedUntil, { timeZone, locale }))}</li>`);
        }
        for (const h of bot.history.slice(0, 5)) {
            const cause = h.causeKey ? t(h.causeKey) : h.cause;
            out.push(`<li>${e(formatDateTime(h.at, { timeZone, locale }))} · ${e(h.from)} → ${e(h.to)} · <span class="coex-cause">${e(cause)}</span>${h.actor ? ` (${e(h.actor)})` : ""}</li>`);
        }
        out.push("</ul>");
    }

    out.push('<div class="coex-timeline">');
    for (const group of buildTimeline(payload.messages, { timeZone, locale })) {
        out.push(`<div class="coex-day">${e(group.label)}</div>`);
        for (const item of group.items) {
            out.push(`<div class="coex-msg coex-msg-${item.direction}" data-id="${e(item.id)}"><div class="coex-bubble">`);
            out.push(`<span class="coex-badge coex-badge-${e(item.badge.css)}">${e(t(item.badge.key))}</span> `);
            out.push(item.body.kind === "text" ? `<span class="coex-text">${e(item.body.text)}</span>` : `<span class="coex-media">[${e(item.body.mediaType)}]</span>`);
            if (item.transcript.kind === "text") {
                out.push(`<div class="coex-transcript" title="Voice-note transcript">${e(item.transcript.text)}</div>`);
            } else if (item.transcript.kind === "pending") {
                out.push(`<div class="coex-transcript coex-muted">${e(t("transcribing"))}</div>`);
            } else if (item.transcript.kind === "failed") {
                out.push(`<div class="coex-transcript coex-muted">${e(t("transcript_failed"))}</div>`);
            }
            out.push(`<span class="coex-meta">${e(item.time)} ${e(item.status)}</span></div></div>`);
        }
    }
    out.push("</div>");

    const composer = widgetComposerMode(state, now);
    if (composer.mode === "text") {
        out.push(`<div class="coex-composer" data-mode="text"><textarea id="coex-reply" rows="2" placeholder="${e(t("reply_placeholder"))}">${e(state.draft || "")}</textarea><button type="button" class="coex-btn coex-btn-primary" data-action="send-text"${state.busy ? " disabled" : ""}>${e(t("send"))}</button></div>`);
    } else {
        out.push(`<div class="coex-composer" data-mode="template"><div class="coex-muted">${e(t("window_closed"))}</div>`);
        out.push(renderTemplatePicker(state, t));
        out.push("</div>");
    }
    out.push(renderCampaigns(state.campaigns, { t, timeZone, locale }));
    return out.join("");
}

/** Free text or template picker: the window decides, and a 409 window_closed forces the picker. */
export function widgetComposerMode(state, now = Date.now()) {
    const composer = composerMode(state.payload, now);
    return state.forceTemplate && composer.mode === "text" ? { ...composer, mode: "template" } : composer;
}

/** The chosen template (state.template is its id) among the sendable ones, or null. */
export function chosenTemplate(state) {
    const templates = state.templates && state.templates.data;
    return templateChoices(templates).choices.find((c) => c.id === state.template) || null;
}

/** Body preview with the placeholders still missing marked (widget.js refreshes it on input). */
export function renderTemplatePreview(choice, values, t = translator()) {
    const e = escapeHtml;
    const parts = templatePreview(choice, values).segments.map((seg) =>
        seg.name === null ? e(seg.text) : `<span class="coex-placeholder ${seg.filled ? "coex-filled" : "coex-missing"}" data-placeholder="${e(seg.name)}">${e(seg.text)}</span>`,
    );
    return `<span class="coex-muted">${e(t("preview"))}: </span>${parts.join("")}`;
}

function renderTemplatePicker(state, t) {
    const e = escapeHtml;
    const templates = state.templates || {};
    if (templates.loading) {
        return `<div class="coex-muted" data-templates="loading">${e(t("templates_loading"))}</div>`;
    }
    if (templates.error) {
        return `<div class="coex-error" data-templates="failed">${e(t("templates_failed"))} ${e(templates.error.message || templates.error.code)} <button type="button" class="coex-btn" data-action="retry-templates">${e(t("retry"))}</button></div>`;
    }
    if (!templates.data) {
        return "";
    }
    const view = templateChoices(templates.data);
    const out = [];
    if (view.stale) {
        out.push(`<div class="coex-stale" data-templates="stale">${e(t("templates_stale"))}</div>`);
    }
    if (!view.choices.length) {
        out.push(`<div class="coex-muted" data-templates="empty">${e(t("no_templates"))}</div>`);
    } else {
        const choice = view.choices.find((c) => c.id === state.template) || null;
        const values = state.templateValues || {};
        out.push(`<select id="coex-template" data-templates="ready"><option value="">${e(t("choose_template"))}</option>`);
        for (const tpl of view.choices) {
            out.push(`<option value="${e(tpl.id)}"${choice && choice.id === tpl.id ? " selected" : ""}>${e(tpl.name)} (${e(tpl.language)})</option>`);
        }
        out.push("</select>");
        if (choice) {
            out.push('<div class="coex-params">');
            for (const name of choice.names) {
                const problem = templateParameterProblem(values[name]);
                out.push(`<label class="coex-param"><span class="coex-param-name">{{${e(name)}}}</span><input type="text" required data-param="${e(name)}" value="${e(values[name] || "")}"><span class="coex-param-problem" data-problem-for="${e(name)}">${problem ? e(t(problem)) : ""}</span></label>`);
            }
            out.push(`</div><div class="coex-preview" data-preview>${renderTemplatePreview(choice, values, t)}</div>`);
        }
        const ready = templateMessage(choice, values) !== null;
        out.push(`<button type="button" class="coex-btn coex-btn-primary" data-action="send-template"${state.busy || !ready ? " disabled" : ""}>${e(t("send_template"))}</button>`);
    }
    if (view.unsendable) {
        out.push(`<div class="coex-muted" data-unsendable="${view.unsendable}">${e(t("unsendable_hidden"))} ${view.unsendable}</div>`);
    }
    return out.join("");
}

function formatDate(ms, { timeZone, locale } = {}) {
    return ms === null || ms === undefined ? "" : new Intl.DateTimeFormat(locale || "en", { timeZone, dateStyle: "medium" }).format(new Date(ms));
}

/** The Campaigns block: opt-out first (it decides whether marketing may be sent), then each campaign. */
export function renderCampaigns(campaigns, { t = translator(), timeZone, locale } = {}) {
    const e = escapeHtml;
    const block = campaigns || {};
    const out = [`<section class="coex-campaigns" aria-label="${e(t("campaigns"))}"><div class="coex-section-title">${e(t("campaigns"))}</div>`];
    const view = campaignsView(block.data);
    if (view.optOut) {
        const source = view.optOut.sourceKey ? t(view.optOut.sourceKey) : view.optOut.source;
        const detail = view.optOut.detail ? ` (“${e(view.optOut.detail)}”)` : "";
        const at = view.optOut.at ? ` · ${e(formatDate(view.optOut.at, { timeZone, locale }))}` : "";
        out.push(`<div class="coex-opt-out" role="status" data-opt-out="${e(view.optOut.source)}"><strong>${e(t("opt_out"))}</strong> · ${e(source)}${detail}${at}</div>`);
    }
    if (block.loading && !block.data) {
        out.push(`<div class="coex-muted" data-campaigns="loading">${e(t("campaigns_loading"))}</div>`);
    } else if (block.error) {
        out.push(`<div class="coex-muted coex-campaigns-error" data-campaigns="failed">${e(t("campaigns_failed"))} ${e(block.error.message || block.error.code)}</div>`);
    } else if (block.data && !view.campaigns.length) {
        out.push(`<div class="coex-muted" data-campaigns="empty">${e(t("no_campaigns"))}</div>`);
    } else if (block.data) {
        out.push('<ul class="coex-campaign-list" data-campaigns="ready">');
        for (const c of view.campaigns) {
            const status = c.statusKey ? t(c.statusKey) : c.status;
            out.push(`<li class="coex-campaign" data-campaign="${e(c.id)}"><div class="coex-campaign-head"><strong class="coex-campaign-name">${e(c.name)}</strong><span class="coex-campaign-status coex-campaign-${e(c.status)}">${e(status)}</span></div>`);
            out.push(`<div class="coex-muted">${e(c.template)}${c.startedAt ? ` · ${e(formatDate(c.startedAt, { timeZone, locale }))}` : ""}</div>`);
            if (c.outcome) {
                const o = c.outcome;
                const error = o.errorCode || o.error ? ` <span class="coex-outcome-error">${o.errorCode ? `#${e(o.errorCode)}` : ""}${o.error ? ` ${e(o.error)}` : ""}</span>` : "";
                out.push(`<div class="coex-outcome" data-outcome="${e(o.key)}"${o.replied ? ' data-replied="1"' : ""}><span class="coex-pill coex-outcome-${e(o.key)}">${e(t(o.labelKey))}</span>${o.replied ? ` <span class="coex-pill coex-outcome-replied">${e(t("replied"))}</span>` : ""}${error}</div>`);
            }
            const n = c.totals;
            out.push(`<div class="coex-totals coex-muted" data-totals="${n.sent}/${n.delivered}/${n.read}/${n.failed}/${n.replied}/${n.total}">${n.total} ${e(t("totals_recipients"))}: ${n.sent} ${e(t("totals_sent"))} · ${n.delivered} ${e(t("totals_delivered"))} · ${n.read} ${e(t("totals_read"))} · ${n.failed} ${e(t("totals_failed"))} · ${n.replied} ${e(t("totals_replied"))}</div></li>`);
        }
        out.push("</ul>");
    }
    out.push("</section>");
    return out.join("");
}
