#!/usr/bin/env bash
# Installs Debian's chromium and chromium-driver for the browser tests of the
# phone page (tests/web/). Does nothing when both are present; when they are
# missing and we are not root it says so and leaves the tests to skip.
set -euo pipefail
if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then
    exit 0
fi
if [ "$(id -u)" != 0 ]; then
    echo "setup_browser: chromium/chromedriver missing and not root; browser tests will skip" >&2
    exit 0
fi
if ! command -v apt-get >/dev/null; then
    echo "setup_browser: no apt-get here; browser tests will skip" >&2
    exit 0
fi
echo "setup_browser: installing chromium and chromium-driver" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >&2
apt-get install -y -qq --no-install-recommends chromium chromium-driver >&2
