#!/usr/bin/env bash
# Install what gridmap needs on a Debian/Ubuntu machine: PostgreSQL 15 + PostGIS 3 and
# python3-venv (through apt, when missing), and gridmap with its Python dependencies in the
# project's own virtual environment .venv/ (never in the system Python: Debian and Ubuntu
# mark it EXTERNALLY-MANAGED, PEP 668). --test adds the test tools and Debian's Chromium for
# the browser tests. Idempotent and quick on a second run: pip runs again only when
# pyproject.toml changed (a stamp in the venv holds its hash) or the venv does not import.
#
#   scripts/install.sh [--test]     PYTHON=python3.12 picks the interpreter, GRIDMAP_VENV the folder
set -euo pipefail
cd "$(dirname "$0")/.."

level=base
[ "${1:-}" = "--test" ] && level=test
PYTHON=${PYTHON:-python3}
VENV=${GRIDMAP_VENV:-.venv}

SUDO=""
[ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null && SUDO="sudo"

apt_install() {
  if ! command -v apt-get >/dev/null; then
    echo "please install: $* (PostgreSQL 15 with PostGIS 3, Python 3.11+ with venv)" >&2
    exit 1
  fi
  echo "installing Debian packages: $*"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "$@" >/dev/null
}

pkgs=()
command -v "$PYTHON" >/dev/null || pkgs+=(python3 python3-venv)
ls /usr/share/postgresql/*/extension/postgis.control >/dev/null 2>&1 || pkgs+=(postgresql-15 postgresql-15-postgis-3 postgresql-contrib)
if [ "$level" = test ]; then
  command -v chromium >/dev/null || pkgs+=(chromium)
  command -v chromedriver >/dev/null || pkgs+=(chromium-driver)
  fc-list 2>/dev/null | grep -qi "wenquanyi\|wqy" || pkgs+=(fonts-wqy-microhei)  # Chinese labels in screenshots
fi
if [ ${#pkgs[@]} -gt 0 ]; then apt_install "${pkgs[@]}"; fi

py="$VENV/bin/python"
if ! "$py" -c "" 2>/dev/null; then
  rm -rf "$VENV"
  log=$(mktemp)
  if ! "$PYTHON" -m venv "$VENV" >"$log" 2>&1; then
    # Debian/Ubuntu ship venv's pip (ensurepip) in a separate package.
    rm -rf "$VENV"
    ver=$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
    if command -v apt-get >/dev/null; then
      apt_install python3-venv "python$ver-venv"
    else
      cat "$log" >&2
      exit 1
    fi
    "$PYTHON" -m venv "$VENV"
  fi
  rm -f "$log"
  echo "created the virtual environment $VENV ($("$py" --version))"
fi

check="import gridmap.partition, gridmap.cli, api.app"  # fails loudly if pip left a dependency out
stamp="$VENV/.gridmap-installed"
hash=$(sha256sum pyproject.toml | cut -d' ' -f1)
installed() { grep -qxF "$hash $1" "$stamp" 2>/dev/null; }
if { installed "$level" || { [ "$level" = base ] && installed test; }; } && "$py" -c "$check" 2>/dev/null; then
  exit 0
fi

extras=""
[ "$level" = test ] && extras="[test]"
echo "installing gridmap$extras and its dependencies into $VENV ..."
"$py" -m pip install --disable-pip-version-check -q -e ".$extras"
"$py" -c "$check"
{ grep -F "$hash " "$stamp" 2>/dev/null || true; echo "$hash $level"; } >"$stamp.tmp"
mv "$stamp.tmp" "$stamp"
echo "installed; run gridmap as $VENV/bin/gridmap (or after: . $VENV/bin/activate)"
