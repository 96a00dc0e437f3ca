#!/usr/bin/env bash
# `make run`: the app under gunicorn, with the outbox worker and a local mail catcher beside it, so
# mail composed in the demo is really sent over SMTP (to 127.0.0.1:8025) and can be read at
# /admin/mail/caught. Everything stops with Ctrl-C.
set -euo pipefail
BIN=.venv/bin
export TSUNAGU_SMTP_HOST=127.0.0.1 TSUNAGU_SMTP_PORT="${TSUNAGU_DEMO_SMTP_PORT:-8025}"
export TSUNAGU_MAIL_CATCH_DIR="${TSUNAGU_MAIL_CATCH_DIR:-$PWD/instance/caught-mail}"
helpers=()
stop_helpers() {
  for pid in "${helpers[@]}"; do kill "$pid" 2>/dev/null || true; done
}
trap stop_helpers EXIT INT TERM

"$BIN/flask" --app app mail catcher --port "$TSUNAGU_SMTP_PORT" &
helpers+=($!)
"$BIN/flask" --app app mail worker --interval 2 &
helpers+=($!)

echo
echo "  Tsunagu is running:  http://127.0.0.1:5000/        (registrant portal)"
echo "                       http://127.0.0.1:5000/admin/  (staff admin; logins above)"
echo "  Mail is caught on 127.0.0.1:$TSUNAGU_SMTP_PORT and shown at /admin/mail/caught"
echo
"$BIN/gunicorn" --bind 127.0.0.1:5000 --workers 2 --access-logfile - 'app:create_app()'
