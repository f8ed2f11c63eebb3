/** @odoo-module **/
import { patch } from "@web/core/utils/patch";
import { CoexThreadPanel } from "../thread_panel/thread_panel";
import { shouldShowPanel } from "../thread_panel/thread_logic";

// The Chatter component moved between versions: @mail/core/web/chatter (17) and
// @mail/chatter/web_portal/chatter (18). A static import of the wrong one would take the whole
// backend bundle down, so it is looked up in the module loader; mail's modules are defined before
// ours because this addon depends on mail.
const loaded = odoo.loader.modules;
const Chatter = (
    loaded.get("@mail/chatter/web_portal/chatter") || loaded.get("@mail/core/web/chatter") || {}
).Chatter;

if (Chatter) {
    Chatter.components = { ...Chatter.components, CoexThreadPanel };
    patch(Chatter.prototype, {
        get coexPanelVisible() {
            return shouldShowPanel(this.props.threadModel, this.props.threadId);
        },
    });
} else {
    console.error("coex_whatsapp_bridge: Odoo's Chatter component was not found; the WhatsApp panel is disabled.");
}
