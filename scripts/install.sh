#!/usr/bin/env bash
# Install what gridmap needs on a Debian/Ubuntu machine: PostgreSQL 15 + PostGIS 3
# (through apt, when missing), the Python package and its test tools, and Debian's
# Chromium for the browser tests. Idempotent: a second run installs nothing.
set -euo pipefail
cd "$(dirname "$0")/.."

want_browser=0
[ "${1:-}" = "--test" ] && want_browser=1

SUDO=""
[ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null && SUDO="sudo"

pkgs=()
ls /usr/share/postgresql/*/extension/postgis.control >/dev/null 2>&1 || pkgs+=(postgresql-15 postgresql-15-postgis-3 postgresql-contrib)
if [ "$want_browser" = 1 ]; then
  command -v chromium >/dev/null || pkgs+=(chromium)
  command -v chromedriver >/dev/null || pkgs+=(chromium-driver)
  fc-list 2>/dev/null | grep -qi "wenquanyi\|wqy" || pkgs+=(fonts-wqy-microhei)  # Chinese labels in screenshots
fi
if [ ${#pkgs[@]} -gt 0 ]; then
  if command -v apt-get >/dev/null; then
    echo "installing Debian packages: ${pkgs[*]}"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${pkgs[@]}" >/dev/null
  else
    echo "please install: ${pkgs[*]} (PostgreSQL 15 with PostGIS 3)" >&2
    exit 1
  fi
fi

python3 -m pip install -q --disable-pip-version-check -e '.[test]' 2>&1 | grep -v "Running pip as the 'root' user" || true
python3 -c "import gridmap.partition, gridmap.cli, api.app" >/dev/null  # fails loudly if pip left a dependency out
