// Zoho CRM widget glue: reads the record and the extension settings through the embedded-app
// SDK, then talks to CoEx directly with signed requests. All logic lives in widget-core.js.
import {
    CONFIG_KEYS,
    chosenTemplate,
    configFromOrgVariables,
    configProblem,
    createCoexClient,
    isWindowClosedError,
    localeFromCurrentUser,
    nextScrollTop,
    orgIdFromOrgInfo,
    phoneFromRecord,
    renderTemplatePreview,
    renderWidget,
    templateMessage,
    templateParameterProblem,
    textDirection,
    translator,
    widgetComposerMode,
} from "./widget-core.js";

const root = document.getElementById("coex-root");
const state = {
    loading: true,
    problem: null,
    error: null,
    payload: null,
    busy: false,
    forceTemplate: false,
    draft: "",
    template: "",
    templateValues: {},
    // GET /templates (fetched when the picker is needed, once per number) and GET /campaigns.
    templates: { loading: false, error: null, data: null, phoneNumberId: null },
    campaigns: { loading: false, error: null, data: null },
};
let client = null;
let phone = "";
let locale = navigator.language || "en";
let t = translator(locale);

/** The widget speaks the user's language (Zoho CRM's setting once known); Arabic reads right to left. */
function useLocale(next) {
    locale = next || navigator.language || "en";
    t = translator(locale);
    document.documentElement.lang = locale;
    document.documentElement.dir = textDirection(locale);
}
useLocale(locale);

function scrollMetrics(el) {
    return el ? { scrollTop: el.scrollTop, scrollHeight: el.scrollHeight, clientHeight: el.clientHeight } : null;
}

/**
 * Re-renders the whole widget. The timeline box is replaced, so its scroll position is set again:
 * `scroll` is "load" (first thread), "sent" (own reply) or "refresh" (anything else: follows new
 * messages only when the user was at the bottom). The focused field and its caret survive too.
 */
function render(scroll = "refresh") {
    const before = scrollMetrics(root.querySelector(".coex-timeline"));
    const focused = document.activeElement && root.contains(document.activeElement) ? document.activeElement : null;
    const focusKey = focused ? focused.id || (focused.dataset.param ? `[data-param="${CSS.escape(focused.dataset.param)}"]` : "") : "";
    const caret = focused && typeof focused.selectionStart === "number" ? [focused.selectionStart, focused.selectionEnd] : null;

    root.innerHTML = renderWidget(state, { now: Date.now(), locale });
    root.dataset.ready = state.loading ? "loading" : "ready";

    const timeline = root.querySelector(".coex-timeline");
    if (timeline) {
        timeline.scrollTop = nextScrollTop(before ? scroll : "load", before, timeline);
    }
    if (focusKey) {
        const again = root.querySelector(focusKey.startsWith("[") ? focusKey : `#${CSS.escape(focusKey)}`);
        if (again) {
            again.focus();
            if (caret && typeof again.setSelectionRange === "function") {
                again.setSelectionRange(caret[0], caret[1]);
            }
        }
    }
}

async function loadThread(scroll = "refresh") {
    try {
        state.payload = await client.getThread(phone);
        state.error = null;
    } catch (error) {
        state.error = { code: error.code || "error", message: error.message };
    }
    state.loading = false;
    render(scroll);
    loadTemplatesIfNeeded();
}

async function loadCampaigns() {
    state.campaigns = { ...state.campaigns, loading: true, error: null };
    try {
        state.campaigns = { loading: false, error: null, data: await client.getCampaigns(phone) };
    } catch (error) {
        state.campaigns = { loading: false, error: { code: error.code || "error", message: error.message }, data: null };
    }
    render();
}

/** Only when the composer shows the picker; again only for another number or on Retry. */
async function loadTemplatesIfNeeded(force = false) {
    const phoneNumberId = (state.payload && state.payload.thread && state.payload.thread.phone_number_id) || null;
    const current = state.templates;
    if (widgetComposerMode(state).mode !== "template" || current.loading) {
        return;
    }
    if (!force && current.data && current.phoneNumberId === phoneNumberId) {
        return;
    }
    state.templates = { loading: true, error: null, data: null, phoneNumberId };
    render();
    try {
        state.templates = { loading: false, error: null, data: await client.getTemplates(phoneNumberId), phoneNumberId };
    } catch (error) {
        state.templates = { loading: false, error: { code: error.code || "error", message: error.message }, data: null, phoneNumberId };
    }
    render();
}

async function act(run, scroll = "refresh") {
    state.busy = true;
    state.error = null;
    render();
    let ok = false;
    try {
        await run(state.payload.thread.id);
        ok = true;
        await loadThread(scroll);
    } catch (error) {
        if (isWindowClosedError(error)) {
            state.forceTemplate = true;
        }
        state.error = { code: error.code || "error", message: error.message };
    } finally {
        state.busy = false;
        render();
    }
    if (!ok) {
        loadTemplatesIfNeeded();
    }
    return ok;
}

root.addEventListener("click", async (event) => {
    const button = event.target.closest("[data-action]");
    if (!button || !client) {
        return;
    }
    const action = button.dataset.action;
    if (action === "retry-templates") {
        loadTemplatesIfNeeded(true);
        return;
    }
    if (!state.payload || !state.payload.thread) {
        return;
    }
    if (action.startsWith("bot-")) {
        act((id) => client.setBot(id, action.slice(4)));
    } else if (action === "send-text") {
        const text = state.draft.trim();
        if (text && (await act((id) => client.sendText(id, text), "sent"))) {
            state.draft = "";
            render();
        }
    } else if (action === "send-template") {
        const message = templateMessage(chosenTemplate(state), state.templateValues);
        if (message && (await act((id) => client.sendTemplate(id, message), "sent"))) {
            state.template = "";
            state.templateValues = {};
            render();
        }
    }
});

root.addEventListener("change", (event) => {
    if (event.target.id === "coex-template") {
        state.template = event.target.value;
        state.templateValues = {};
        render();
    }
});

// Typing updates the state and the preview in place: a full render per key would be wasteful.
root.addEventListener("input", (event) => {
    const target = event.target;
    if (target.id === "coex-reply") {
        state.draft = target.value;
        return;
    }
    const name = target.dataset && target.dataset.param;
    if (name === undefined) {
        return;
    }
    state.templateValues = { ...state.templateValues, [name]: target.value };
    const choice = chosenTemplate(state);
    const preview = root.querySelector("[data-preview]");
    if (preview) {
        preview.innerHTML = renderTemplatePreview(choice, state.templateValues, t);
    }
    const problem = templateParameterProblem(target.value);
    const hint = root.querySelector(`[data-problem-for="${CSS.escape(name)}"]`);
    if (hint) {
        hint.textContent = problem ? t(problem) : "";
    }
    const send = root.querySelector('[data-action="send-template"]');
    if (send) {
        send.disabled = state.busy || templateMessage(choice, state.templateValues) === null;
    }
});

ZOHO.embeddedApp.on("PageLoad", async (data) => {
    try {
        const recordId = Array.isArray(data.EntityId) ? data.EntityId[0] : data.EntityId;
        if (!data.Entity || !recordId) {
            state.problem = "no_phone";
            state.loading = false;
            return render();
        }
        const [variables, orgInfo, record, user] = await Promise.all([
            ZOHO.CRM.API.getOrgVariable({ apiKeys: Object.values(CONFIG_KEYS) }),
            ZOHO.CRM.CONFIG.getOrgInfo(),
            ZOHO.CRM.API.getRecord({ Entity: data.Entity, RecordID: recordId }),
            // The language is a nicety: without it the browser's language is used.
            typeof ZOHO.CRM.CONFIG.getCurrentUser === "function" ? ZOHO.CRM.CONFIG.getCurrentUser().catch(() => null) : null,
        ]);
        useLocale(localeFromCurrentUser(user));
        const config = { ...configFromOrgVariables(variables), account: orgIdFromOrgInfo(orgInfo) };
        state.problem = configProblem(config);
        phone = phoneFromRecord(record);
        if (!state.problem && !phone) {
            state.problem = "no_phone";
        }
        if (state.problem) {
            state.loading = false;
            return render();
        }
        client = createCoexClient({ serverUrl: config.serverUrl, account: config.account, installKey: config.installKey });
        // The campaigns block fills in when it arrives; the thread does not wait for it.
        loadCampaigns();
        await loadThread("load");
    } catch (error) {
        state.loading = false;
        state.error = { code: "zoho_error", message: (error && error.message) || String(error) };
        render();
    }
});

render();
ZOHO.embeddedApp.init();
