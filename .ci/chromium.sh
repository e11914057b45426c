#!/usr/bin/env bash
# Installs headless Chromium and ChromeDriver (Debian's packages chromium and chromium-driver) for
# the browser tests of the HTML report and the dashboard, if they are missing.
set -euo pipefail
if ! command -v chromedriver >/dev/null || ! command -v chromium >/dev/null; then
    echo "installing Chromium and ChromeDriver (Debian packages chromium, chromium-driver)" >&2
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >&2
fi
chromium --version >&2
chromedriver --version >&2
