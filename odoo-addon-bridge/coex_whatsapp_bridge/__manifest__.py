# The version is series-less on purpose: Odoo prefixes it with the running series (17.0 / 18.0).
{
    "name": "CoEx WhatsApp Bridge",
    "summary": "WhatsApp Coexistence threads, voice-note transcripts and bot control in the chatter",
    "version": "1.0.0",
    "category": "Productivity/Discuss",
    "author": "CoEx contributors",
    "website": "https://github.com/coex/coex",
    "license": "Other OSI approved licence",
    "depends": ["base", "web", "mail"],
    "data": [
        "security/ir.model.access.csv",
        "views/coex_bridge_config_views.xml",
    ],
    "assets": {
        "web.assets_backend": [
            "coex_whatsapp_bridge/static/src/vendor/coex_thread_view.js",
            "coex_whatsapp_bridge/static/src/thread_panel/thread_logic.js",
            "coex_whatsapp_bridge/static/src/thread_panel/thread_panel.js",
            "coex_whatsapp_bridge/static/src/thread_panel/thread_panel.xml",
            "coex_whatsapp_bridge/static/src/thread_panel/thread_panel.scss",
            "coex_whatsapp_bridge/static/src/chatter/chatter_patch.js",
            "coex_whatsapp_bridge/static/src/chatter/chatter_patch.xml",
        ],
    },
    "installable": True,
    "application": False,
}
