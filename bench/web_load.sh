#!/usr/bin/env bash
# Load through Apache on the web guest (issue 7, "Performance"): a logged-in page vs a static file,
# 50 connections for 30 s each (bounded), printing requests/s, p99, errors and the ratio.
#
#   bench/web_load.sh                      against the molecule guest web1 (https://10.89.77.10)
#   TARGET=https://10.89.77.10 SITE=www.appliance.test PAGE=/admin/ STATIC=/static/css/tsunagu.css \
#   CONNECTIONS=50 DURATION=30 ROUNDS=3 bench/web_load.sh
#
# ROUNDS repeats the pair (page, then static file) and judges each round by itself: a shared virtual machine
# can change speed by 2x within minutes, so a page figure only means something next to the static figure of
# its own round.
#
# Log-in: with LOGIN_EMAIL + LOGIN_PASSWORD it logs in as that staff user; otherwise, when the guest is a
# local podman container (GUEST, default tsunagu-web1), it creates a viewer account for the bench once
# (`tsunagu-flask staff create`, password generated here) and logs in with it. One log-in, one session
# cookie, reused by every wrk connection.
#
# Only the guest's address is ever targeted (TARGET must be a 10.89.x.x guest address or loopback);
# wrk stops by itself after DURATION seconds. Figures are printed, never asserted (bench/ never gates CI).
set -euo pipefail

TARGET=${TARGET:-https://10.89.77.10}
SITE=${SITE:-www.appliance.test}
PAGE=${PAGE:-/admin/}
STATIC=${STATIC:-/static/css/tsunagu.css}
CONNECTIONS=${CONNECTIONS:-50}
DURATION=${DURATION:-30}
THREADS=${THREADS:-2}
ROUNDS=${ROUNDS:-1}
GUEST=${GUEST:-tsunagu-web1}
HERE=$(cd "$(dirname "$0")/.." && pwd)
export CONTAINERS_CONF=${CONTAINERS_CONF:-$HERE/containers.conf}

host_part=${TARGET#https://}
host_part=${host_part%%/*}
host_part=${host_part%%:*}
case "$host_part" in
  10.89.*|127.*|localhost) ;;
  *) echo "TARGET must be a test guest address (10.89.x.x) or loopback, got $host_part" >&2; exit 2 ;;
esac
[ "$CONNECTIONS" -le 200 ] && [ "$DURATION" -le 120 ] && [ "$ROUNDS" -le 10 ] \
  || { echo "bounded: CONNECTIONS<=200, DURATION<=120, ROUNDS<=10" >&2; exit 2; }

command -v wrk >/dev/null || "$HERE/scripts/ensure-system-packages.sh" wrk
command -v curl >/dev/null || "$HERE/scripts/ensure-system-packages.sh" curl

work=$(mktemp -d /tmp/tsunagu-web-load.XXXXXX)
trap 'rm -rf "$work"' EXIT
jar=$work/cookies
CURL=(curl -sk --max-time 20 --resolve "$SITE:443:$host_part" -c "$jar" -b "$jar")
BASE_URL="https://$SITE"

if [ -z "${LOGIN_EMAIL:-}" ]; then
  command -v podman >/dev/null && podman container exists "$GUEST" \
    || { echo "set LOGIN_EMAIL and LOGIN_PASSWORD (no local guest $GUEST to create a bench user in)" >&2; exit 2; }
  LOGIN_EMAIL=bench-viewer@example.jp
  pwfile=$work/pw
  # the password lives only in the guest (0600, root) so that reruns log in with the same account
  podman exec "$GUEST" sh -ec '
    f=/root/.tsunagu-bench-password
    if [ ! -s "$f" ]; then
      umask 077
      python3 -c "import secrets; print(\"Bench\" + secrets.token_urlsafe(18) + \"9a\")" > "$f"
      /opt/tsunagu/bin/tsunagu-flask staff create '"$LOGIN_EMAIL"' --role viewer --name bench --password-stdin < "$f" >/dev/null
    fi
    cat "$f"' > "$pwfile"
  LOGIN_PASSWORD=$(cat "$pwfile")
fi

# one log-in: the form's CSRF token, then the POST; the session cookie ends up in the jar
form=$("${CURL[@]}" "$BASE_URL/admin/login")
csrf=$(printf '%s' "$form" | sed -n 's/.*name="csrf_token"[^>]*value="\([^"]*\)".*/\1/p' | head -n1)
[ -n "$csrf" ] || { echo "no CSRF token on $BASE_URL/admin/login (is the site up?)" >&2; exit 1; }
"${CURL[@]}" -o /dev/null -e "$BASE_URL/admin/login" --data-urlencode "csrf_token=$csrf" --data-urlencode "email=$LOGIN_EMAIL" \
  --data-urlencode "password=$LOGIN_PASSWORD" "$BASE_URL/admin/login"
session=$(awk '$6 == "tsunagu_session" {print $7}' "$jar")
[ -n "$session" ] || { echo "log-in failed (no tsunagu_session cookie)" >&2; exit 1; }
code=$("${CURL[@]}" -o /dev/null -w '%{http_code}' "$BASE_URL$PAGE")
[ "$code" = 200 ] || { echo "$PAGE answers $code after log-in, expected 200" >&2; exit 1; }
# wrk sends the cookie as a browser would after that first page: the page put the form token (CSRF) into the
# session, and a browser keeps the cookie that carried it; the log-in's cookie would make every request mint a
# new token and re-sign the cookie
session=$(awk '$6 == "tsunagu_session" {print $7}' "$jar")
code=$("${CURL[@]}" -o /dev/null -w '%{http_code}' "$BASE_URL$STATIC")
[ "$code" = 200 ] || { echo "$STATIC answers $code, expected 200" >&2; exit 1; }

run_wrk() {  # $1 = label, $2 = path, rest = extra wrk args; prints "label rps p99 non2xx socket_errors requests"
  local label=$1 path=$2 out
  shift 2
  # wrk connects to the guest address and sends the site name as Host (SNI is the address)
  out=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" --timeout 10s --latency \
          -H "Host: $SITE" "$@" "${TARGET%/}$path")
  printf '%s\n' "$out" > "$work/$label.txt"
  local rps p99 requests non2xx sockerr
  rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
  p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
  requests=$(awk '/requests in/ {print $1}' <<<"$out")
  non2xx=$(awk '/Non-2xx or 3xx responses:/ {print $NF}' <<<"$out")
  sockerr=$(awk -F'[ ,]+' '/Socket errors:/ {s=0; for (i=1;i<=NF;i++) if ($i ~ /^[0-9]+$/) s+=$i; print s}' <<<"$out")
  echo "$label $rps $p99 ${non2xx:-0} ${sockerr:-0} $requests"
}

to_ms() {  # wrk durations: 12.34ms, 1.02s, 850.00us
  awk -v v="$1" 'BEGIN { if (v ~ /us$/) { sub(/us$/, "", v); printf "%.1f", v / 1000 }
                         else if (v ~ /ms$/) { sub(/ms$/, "", v); printf "%.1f", v }
                         else if (v ~ /s$/) { sub(/s$/, "", v); printf "%.1f", v * 1000 } }'
}

echo "web load: $TARGET (Host $SITE), $CONNECTIONS connections, ${DURATION}s each, wrk $THREADS threads, $ROUNDS round(s)"
# errors: responses other than 2xx/3xx, and socket errors (connect/read/write/timeout; a read error is a kept-alive
# connection the server closed, see the apache role's worker pool)
printf '%-5s %-28s %10s %10s %9s %9s %10s\n' "round" "" "req/s" "p99 ms" "non-2xx" "socket" "requests"
: > "$work/rounds"
for round in $(seq 1 "$ROUNDS"); do  # page and static alternate, so a drift of the machine's speed hits both
  read -r _ page_rps page_p99 page_http page_sock page_n < <(run_wrk page "$PAGE" -H "Cookie: tsunagu_session=$session")
  read -r _ static_rps static_p99 static_http static_sock static_n < <(run_wrk static "$STATIC")
  printf '%-5s %-28s %10s %10s %9s %9s %10s\n' "$round" "logged-in $PAGE" "$page_rps" "$(to_ms "$page_p99")" \
    "$page_http" "$page_sock" "$page_n"
  printf '%-5s %-28s %10s %10s %9s %9s %10s\n' "$round" "static $STATIC" "$static_rps" "$(to_ms "$static_p99")" \
    "$static_http" "$static_sock" "$static_n"
  for label in page static; do  # wrk's own breakdown (connect/read/write/timeout), when there were socket errors
    grep -h "Socket errors" "$work/$label.txt" | sed "s/^ */      $label: /" || true
  done
  echo "$page_rps $(to_ms "$page_p99") $((page_http + page_sock)) $static_rps" >> "$work/rounds"
done

# per round: the ratio of the page to the static file measured next to it, and whether the target was met
awk '{ ratio = $1 / $4; met += ($3 == 0 && $2 < 200); n++
       printf "round %d: ratio logged-in / static %.3f (%.1f%%), p99 %.1f ms, errors %d\n", n, ratio, 100 * ratio, $2, $3 }
     END { printf "target (issue 7): 0 errors, p99 < 200 ms on the logged-in page: met in %d of %d round(s)%s\n",
                  met, n, (met == n) ? "" : " (NOT met)" }' "$work/rounds"
