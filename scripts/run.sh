#!/usr/bin/env bash
# `make run`: on first use, write local development secrets and an agent account to
# var/ (git-ignored), then start the action server, the Rasa server and the web app in
# the foreground. Ctrl-C stops all three.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p var
# Each secret the servers check (bot/settings.py says what it protects); one that is
# missing (a first run, or a secrets file from before it existed) is added.
for name in BOT_MEMBER_KEY_SECRET BOT_ACTION_SERVER_TOKEN BOT_RASA_TOKEN BOT_SESSION_SECRET; do
  if ! grep -qs "^$name=" var/secrets.env; then
    (umask 077; echo "$name=$(.venv/bin/python -c 'import secrets; print(secrets.token_hex(32))')" >> var/secrets.env)
    echo "run: wrote a local $name to var/secrets.env"
  fi
done
chmod 600 var/secrets.env
if [ ! -s var/agents.txt ]; then
  umask 077
  password=$(.venv/bin/python -c 'import secrets; print(secrets.token_urlsafe(12))')
  printf '%s\n' "$password" | .venv/bin/python -m bot.web.accounts agent --append >/dev/null
  printf '%s\n' "$password" > var/dev-agent-password.txt
  echo "run: created agent account 'agent' (password in var/dev-agent-password.txt)"
fi
set -a; . var/secrets.env; set +a
exec .venv/bin/python -m bot.devtools.stack
