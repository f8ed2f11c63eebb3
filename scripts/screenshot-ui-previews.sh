#!/usr/bin/env bash
# Regenerates the PREVIEW screenshots of the four in-CRM UIs in docs/screenshots/ (the UIs outside their
# CRM, on demo data; the REAL WooCommerce and Odoo screens come from scripts/screenshot-real-crms.sh):
#   hubspot-card.png, hubspot-card-templates.png   hubspot-app/test/preview.test.ts (COEX_WRITE_SCREENSHOTS=1)
#   zoho-widget.png                                test/zoho-widget.test.ts -t screenshot (COEX_WRITE_SCREENSHOTS=1)
#   woocommerce-order-*-preview.png                test/woocommerce-plugin.test.ts (COEX_UPDATE_SCREENSHOTS=1)
#   odoo-chatter-preview.png                       scripts/screenshot-odoo-panel.mjs
# Each seeds its own demo data; the HubSpot templates card, the Zoho widget and the Odoo panel show a chat
# held by Meta's AI agent. Needs /usr/bin/chromium; the WooCommerce file also runs php and PHPUnit.
#   scripts/screenshot-ui-previews.sh
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x /usr/bin/chromium ] || { echo "needs /usr/bin/chromium (apt-get install chromium)" >&2; exit 2; }
COEX_WRITE_SCREENSHOTS=1 npx vitest run hubspot-app/test/preview.test.ts
COEX_WRITE_SCREENSHOTS=1 npx vitest run test/zoho-widget.test.ts -t screenshot
COEX_UPDATE_SCREENSHOTS=1 npx vitest run test/woocommerce-plugin.test.ts
node scripts/screenshot-odoo-panel.mjs
ls -l docs/screenshots/hubspot-card.png docs/screenshots/hubspot-card-templates.png docs/screenshots/zoho-widget.png \
  docs/screenshots/woocommerce-order-timeline-preview.png docs/screenshots/woocommerce-order-templates-preview.png \
  docs/screenshots/odoo-chatter-preview.png
