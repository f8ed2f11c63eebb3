// Zoho CRM widget glue: reads the record and the extension settings through the embedded-app
// SDK, then talks to CoEx directly with signed requests. All logic lives in widget-core.js.
import {
    CONFIG_KEYS,
    configFromOrgVariables,
    configProblem,
    createCoexClient,
    isWindowClosedError,
    orgIdFromOrgInfo,
    parseTemplateChoices,
    phoneFromRecord,
    renderWidget,
} from "./widget-core.js";

const root = document.getElementById("coex-root");
const state = { loading: true, problem: null, error: null, payload: null, templates: "", busy: false, forceTemplate: false };
let client = null;
let phone = "";

function render() {
    root.innerHTML = renderWidget(state, { now: Date.now(), locale: navigator.language });
    root.dataset.ready = state.loading ? "loading" : "ready";
}

async function loadThread() {
    try {
        state.payload = await client.getThread(phone);
        state.error = null;
    } catch (error) {
        state.error = { code: error.code || "error", message: error.message };
    }
    state.loading = false;
    render();
}

async function act(run) {
    state.busy = true;
    state.error = null;
    render();
    try {
        await run(state.payload.thread.id);
        await loadThread();
    } catch (error) {
        if (isWindowClosedError(error)) {
            state.forceTemplate = true;
        }
        state.error = { code: error.code || "error", message: error.message };
    } finally {
        state.busy = false;
        render();
    }
}

root.addEventListener("click", (event) => {
    const button = event.target.closest("[data-action]");
    if (!button || !client || !state.payload || !state.payload.thread) {
        return;
    }
    const action = button.dataset.action;
    if (action.startsWith("bot-")) {
        act((id) => client.setBot(id, action.slice(4)));
    } else if (action === "send-text") {
        const text = root.querySelector("#coex-reply").value.trim();
        if (text) {
            act((id) => client.sendText(id, text));
        }
    } else if (action === "send-template") {
        const chosen = parseTemplateChoices(state.templates).find((t) => t.id === root.querySelector("#coex-template").value);
        if (chosen) {
            act((id) => client.sendTemplate(id, chosen));
        }
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
        const [variables, orgInfo, record] = await Promise.all([
            ZOHO.CRM.API.getOrgVariable({ apiKeys: Object.values(CONFIG_KEYS) }),
            ZOHO.CRM.CONFIG.getOrgInfo(),
            ZOHO.CRM.API.getRecord({ Entity: data.Entity, RecordID: recordId }),
        ]);
        const config = { ...configFromOrgVariables(variables), account: orgIdFromOrgInfo(orgInfo) };
        state.templates = config.templates;
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
        await loadThread();
    } catch (error) {
        state.loading = false;
        state.error = { code: "zoho_error", message: (error && error.message) || String(error) };
        render();
    }
});

render();
ZOHO.embeddedApp.init();
