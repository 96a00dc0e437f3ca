#!/usr/bin/env bash
# Give a fresh clone its own instance/ folder with a random secret key (never in the repo).
set -euo pipefail
mkdir -p instance
chmod 700 instance
if [ ! -f instance/config.toml ]; then
  umask 077
  key=$(.venv/bin/python -c 'import secrets; print(secrets.token_urlsafe(48))')
  printf '# Generated for this machine by make; not part of the repository.\nsecret_key = "%s"\n' "$key" \
    > instance/config.toml
  echo "created instance/config.toml with a new secret key"
fi
