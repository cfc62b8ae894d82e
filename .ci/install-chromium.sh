#!/usr/bin/env bash
# Debian's Chromium for the console suite (test/console), which drives it with playwright-core.
# Installed from the distribution rather than downloaded by Playwright: one browser, updated with
# the system, no binaries fetched from elsewhere. A no-op when it is already there.
set -euo pipefail
if [ ! -x /usr/bin/chromium ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
/usr/bin/chromium --version 2>/dev/null | sed -n 1p
