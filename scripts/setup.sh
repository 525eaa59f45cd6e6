#!/usr/bin/env bash
# Create the environments with exact pins. Idempotent: a stamp holding the hash of
# the lock file skips an environment that is already installed from the same lock.
#   .venv-rasa/  Python 3.10: the Rasa server (requirements-rasa.lock)
#   .venv/       Python 3.11: the bot package, action server, web app (requirements.lock)
#   .cache/webchat/node_modules/  npm: the widget the browser tests embed (tests/browser/webchat/package-lock.json)
set -euo pipefail
cd "$(dirname "$0")/.."

find_python() {  # find_python 3.10 -> path of a working interpreter, or nothing
  local v="$1" c
  for c in "python$v" "$(command -v pyenv >/dev/null 2>&1 && pyenv root 2>/dev/null)/versions/$v"*/bin/"python$v" \
           /usr/bin/"python$v" /usr/local/bin/"python$v"; do
    [ -n "$c" ] || continue
    if "$c" -c 'import sys, venv' >/dev/null 2>&1; then command -v "$c" 2>/dev/null || echo "$c"; return 0; fi
  done
  return 1
}

stamp_of() { sha256sum "$1" | cut -c1-16; }

make_env() {  # make_env DIR PYVER LOCK [EXTRA PIP ARGS...]
  local dir="$1" ver="$2" lock="$3"; shift 3
  local stamp="$dir/.installed-$(stamp_of "$lock")"
  if [ -f "$stamp" ]; then echo "setup: $dir is up to date"; return 0; fi
  local py
  if ! py=$(find_python "$ver"); then
    echo "setup: Python $ver is required for $dir but was not found." >&2
    echo "       Install it (Debian/Ubuntu: apt-get install python$ver python$ver-venv; or pyenv install $ver) and run make setup again." >&2
    exit 1
  fi
  echo "setup: creating $dir with $py"
  [ -x "$dir/bin/python" ] || "$py" -m venv "$dir"
  "$dir/bin/python" -m pip install -q --upgrade pip
  # torch==2.13.0 must come from the CPU build on this machine's disk; pin it first.
  "$dir/bin/python" -m pip install -q -r "$lock" "$@"
  rm -f "$dir"/.installed-*
  touch "$stamp"
}

# make_npm SRC DEST: the npm packages SRC/package-lock.json pins (tests/browser/webchat:
# the rasa-webchat widget the browser tests embed), installed into DEST/node_modules,
# outside the source tree (third-party files are not ours to lint or search).
make_npm() {
  local src="$1" dest="$2"
  local stamp="$dest/node_modules/.installed-$(stamp_of "$src/package-lock.json")"
  if [ -f "$stamp" ]; then echo "setup: $dest/node_modules is up to date"; return 0; fi
  if ! command -v npm >/dev/null 2>&1; then
    echo "setup: npm is required for $dest (the browser tests' rasa-webchat widget) but was not found." >&2
    echo "       Install Node.js with npm (Debian/Ubuntu: apt-get install nodejs npm) and run make setup again." >&2
    exit 1
  fi
  echo "setup: installing $dest/node_modules with npm ci"
  mkdir -p "$dest"
  cp "$src/package.json" "$src/package-lock.json" "$dest/"
  npm ci --prefix "$dest" --no-audit --no-fund
  touch "$stamp"
}

make_env .venv-rasa 3.10 requirements-rasa.lock
make_env .venv 3.11 requirements.lock
make_npm tests/browser/webchat .cache/webchat
# The bot package itself, editable (cheap; always refreshed).
.venv/bin/python -m pip install -q --no-deps -e . 2>/dev/null
echo "setup: environments ready"
