#!/usr/bin/env bash
# Writes languages/coex-whatsapp.pot from the plugin's PHP with GNU gettext's xgettext and
# WordPress's i18n keyword list (the functions `wp i18n make-pot` reads). Only the coex-whatsapp
# text domain is extracted because the plugin calls the keyword functions with that domain alone
# (WooCommerce's own string goes through translate(), which is not a keyword).
# Then brings each translation (languages/coex-whatsapp-<locale>.po) up to date with the template
# (msgmerge) and compiles it (msgfmt) to the .mo WordPress loads.
#   bin/make-pot.sh
# Needs GNU gettext (Debian: apt-get install gettext). test/woocommerce-i18n.test.ts fails when the
# committed .pot, .po or .mo files differ from a fresh run.
set -euo pipefail
cd "$(dirname "$0")/.."
out=languages/coex-whatsapp.pot
fresh=$(mktemp --suffix=.pot)
trap 'rm -f "$fresh"' EXIT
version=$(sed -n 's/^ \* Version: *//p' coex-whatsapp.php)
files=$( { echo coex-whatsapp.php; echo uninstall.php; find includes -name '*.php'; } | LC_ALL=C sort)
# shellcheck disable=SC2086
xgettext --language=PHP --from-code=UTF-8 --add-comments=translators: --sort-by-file --no-wrap \
  --package-name="CoEx WhatsApp for WooCommerce" --package-version="$version" \
  --msgid-bugs-address="https://github.com/coex-platform/coex/issues" \
  --copyright-holder="CoEx contributors" \
  --keyword --keyword=__ --keyword=_e --keyword=_x:1,2c --keyword=_ex:1,2c --keyword=_n:1,2 \
  --keyword=_nx:1,2,4c --keyword=_n_noop:1,2 --keyword=_nx_noop:1,2,3c --keyword=esc_attr__ \
  --keyword=esc_html__ --keyword=esc_attr_e --keyword=esc_html_e --keyword=esc_attr_x:1,2c \
  --keyword=esc_html_x:1,2c \
  --output="$fresh" $files
# xgettext leaves the header's charset as CHARSET and the title as a placeholder: fill them in.
sed -i -e 's/charset=CHARSET/charset=UTF-8/' \
  -e "s/^# SOME DESCRIPTIVE TITLE\.$/# CoEx WhatsApp for WooCommerce $version/" \
  -e 's/^# This file is distributed under the same license as the .* package\.$/# This file is distributed under the same license as the plugin (GPL-2.0-or-later)./' "$fresh"
# Keep the committed file (and its POT-Creation-Date) when only the date would change.
if [ -f "$out" ] && diff -q <(grep -v '^"POT-Creation-Date:' "$out") <(grep -v '^"POT-Creation-Date:' "$fresh") >/dev/null; then
  echo "make-pot: $out is up to date"
else
  cp "$fresh" "$out"
fi
echo "make-pot: $(grep -c '^msgid "' "$out") entries (header included) in $out"
for po in languages/coex-whatsapp-*.po; do
  msgmerge --quiet --update --backup=none --no-wrap "$po" "$out"
  # Strings the plugin no longer has (e.g. the timeline's, now in ui-shared's catalogue) leave the file.
  msgattrib --no-obsolete --no-wrap --output-file="$po" "$po"
  msgfmt --check --output-file="${po%.po}.mo" "$po"
  echo "make-pot: $(msgfmt --statistics -o /dev/null "$po" 2>&1) ($po)"
done
