#!/usr/bin/env bash
# `make run`: on first use, write local development secrets and an agent account to
# var/ (git-ignored), then start the action server, the Rasa server and the web app in
# the foreground. Ctrl-C stops all three.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p var
if [ ! -f var/secrets.env ]; then
  umask 077
  echo "BOT_MEMBER_KEY_SECRET=$(.venv/bin/python -c 'import secrets; print(secrets.token_hex(32))')" > var/secrets.env
  echo "run: wrote local development secrets to var/secrets.env"
fi
if [ ! -s var/agents.txt ]; then
  umask 077
  password=$(.venv/bin/python -c 'import secrets; print(secrets.token_urlsafe(12))')
  printf '%s\n' "$password" | .venv/bin/python -m bot.web.accounts agent --append >/dev/null
  printf '%s\n' "$password" > var/dev-agent-password.txt
  echo "run: created agent account 'agent' (password in var/dev-agent-password.txt)"
fi
set -a; . var/secrets.env; set +a
exec .venv/bin/python -m bot.devtools.stack
