# Glue module: installs itself when both the bridge and CRM are present (Odoo's usual pattern for
# optional dependencies, like sale_crm), so the bridge itself never depends on crm.
{
    "name": "CoEx WhatsApp Bridge - CRM",
    "summary": "Show CoEx WhatsApp threads in the chatter of CRM leads and opportunities",
    "version": "1.0.0",
    "category": "Sales/CRM",
    "author": "CoEx contributors",
    "license": "Other OSI approved licence",
    "depends": ["coex_whatsapp_bridge", "crm"],
    "data": [],
    "auto_install": True,
    "installable": True,
}
