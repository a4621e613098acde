#!/usr/bin/env bash
# System libraries the report path uses, installed from Debian's packages when missing:
# - libharfbuzz-subset0: WeasyPrint subsets fonts with it (faster, and byte-identical PDFs);
# - poppler-utils: pdfinfo/pdftotext/pdftoppm for the PDF checks in the tests;
# - with --browser (make test): chromium, chromium-driver, the headless browser the web
#   workspace's end-to-end tests drive (not needed to run audits or the demo).
# Acts only as root with apt-get; otherwise prints what to install and carries on.
set -u
missing=()
dpkg -s libharfbuzz-subset0 >/dev/null 2>&1 || missing+=(libharfbuzz-subset0)
command -v pdftotext >/dev/null 2>&1 || missing+=(poppler-utils)
if [ "${1:-}" = --browser ]; then
  command -v chromium >/dev/null 2>&1 || missing+=(chromium chromium-driver)
fi
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" \
    || echo "warning: could not install ${missing[*]}; PDFs render slower and PDF/browser tests skip" >&2
else
  echo "note: install ${missing[*]} (Debian/Ubuntu) for faster, reproducible PDFs and the browser tests" >&2
fi
exit 0
