#!/usr/bin/env bash
# Captures the REAL admin screens into docs/screenshots/: the WooCommerce 10 HPOS order screen with the
# CoEx box (woocommerce-order-timeline.png, woocommerce-order-templates.png) and the Odoo 19 chatter
# with the CoEx panel (odoo-chatter.png). It runs the two real-CRM integration tests, which start the
# real servers of ../shared/real-crms, seed a Moroccan shop (Amina El Idrissi in Casablanca, Youssef
# Benali in Fès, whose chat Meta's AI agent took over, Fatima Zahra Bennani in Rabat; MAD;
# Africa/Casablanca time), drive a real CoEx
# server and open the screens in Debian's headless Chromium; with COEX_REAL_SCREENSHOTS set they also
# save the pictures.
#   scripts/screenshot-real-crms.sh            (COEX_REAL_CRMS defaults to ../shared/real-crms)
set -euo pipefail
cd "$(dirname "$0")/.."
export COEX_REAL_CRMS="${COEX_REAL_CRMS:-$(cd ../shared/real-crms 2>/dev/null && pwd || true)}"
[ -n "$COEX_REAL_CRMS" ] || { echo "set COEX_REAL_CRMS to the real-crms folder" >&2; exit 2; }
[ -x /usr/bin/chromium ] || { echo "needs /usr/bin/chromium (apt-get install chromium)" >&2; exit 2; }
export COEX_REAL_SCREENSHOTS=1
npx vitest run test/real-crm-woocommerce.test.ts test/real-crm-odoo.test.ts
ls -l docs/screenshots/woocommerce-order-timeline.png docs/screenshots/woocommerce-order-templates.png docs/screenshots/odoo-chatter.png
