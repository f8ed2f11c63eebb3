/** @odoo-module **/
// Pure view logic of the CoEx thread panel. No Odoo or OWL imports on purpose: vitest imports this
// file directly (test/odoo-addon.test.ts), and the OWL component only maps its output to markup.
// The thread view model and the strings come from ../vendor/coex_thread_view.js, generated from ui-shared/
// (the one source of every in-CRM UI) by `npm run build -w ui-shared`; this file adds what only
// Odoo needs (which models get the panel, JSON-RPC).
export * from "../vendor/coex_thread_view";

/** Models whose chatter gets the panel. crm.lead only exists when crm is installed. */
export const PANEL_MODELS = ["res.partner", "crm.lead"];

export function shouldShowPanel(model, resId) {
    return PANEL_MODELS.includes(model) && Number.isInteger(resId) && resId > 0;
}


/** Body of a JSON-RPC call to an Odoo type="json" route; plain fetch works the same on 17 and 18. */
export function jsonRpcBody(params, id = 1) {
    return { jsonrpc: "2.0", method: "call", params: params || {}, id };
}

/** Odoo JSON-RPC envelope → result, or throws an Error carrying Odoo's message. */
export function unwrapJsonRpc(envelope) {
    if (envelope && envelope.error) {
        const data = envelope.error.data || {};
        const error = new Error(data.message || envelope.error.message || "Odoo RPC error");
        error.code = "odoo_error";
        throw error;
    }
    if (!envelope || !("result" in envelope)) {
        const error = new Error("Malformed JSON-RPC response");
        error.code = "bad_response";
        throw error;
    }
    return envelope.result;
}
