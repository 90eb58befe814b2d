#!/usr/bin/env bash
# Creates the admin user and the databases on each InfluxDB replica given; safe to run again.
# A VM's setup runs it for its own replica, the Kubernetes Job for every replica.
#
# Usage: bootstrap-replicas.sh URL...   (URL: http://host:port of one replica)
# Environment:
#   INFLUX_ADMIN_USER           the admin user
#   INFLUX_ADMIN_PASSWORD_FILE  file holding its password
#   CREATE_ADMIN_FILE           CREATE USER ... WITH ALL PRIVILEGES (it holds the password too)
#   CREATE_DATABASES_FILE       CREATE DATABASE ...; CREATE DATABASE ...
#   PING_ATTEMPTS               /ping tries, 2 s apart, before a replica counts as unreachable (default 90)
set -euo pipefail

log() { echo "bootstrap-replicas: $*" >&2; }
fail() {
  log "error: $*"
  exit 1
}

# influxql URL FILE [auth]: posts the statements in FILE to URL/query; prints the HTTP status, or
# "200 with an error: ..." when InfluxDB refused a statement. Credentials go in a Basic Authorization
# header read from stdin, never in argv: InfluxDB reads u and p only from the URL, not from a POST body.
influxql() {
  local url=$1 file=$2 header="" body status
  if [[ ${3:-} == auth ]]; then
    header="Authorization: Basic $(printf '%s:%s' "$INFLUX_ADMIN_USER" "$(cat "$INFLUX_ADMIN_PASSWORD_FILE")" | base64 -w 0)"
  fi
  body=$(mktemp)
  status=$(printf '%s\n' "$header" | curl -sS --max-time 30 -o "$body" -w '%{http_code}' -XPOST "$url/query" -H @- --data-urlencode "q@$file") ||
    status="no answer"
  if [[ $status == 200 ]] && grep -q '"error"' "$body"; then status="200 with an error: $(cat "$body")"; fi
  rm -f "$body"
  echo "$status"
}

wait_for_ping() {
  local url=$1 i
  for ((i = 1; i <= PING_ATTEMPTS; i++)); do
    curl -fsS --max-time 2 -o /dev/null "$url/ping" 2>/dev/null && return 0
    ((i < PING_ATTEMPTS)) && sleep 2
  done
  return 1
}

bootstrap() {
  local url=$1 status
  wait_for_ping "$url" || fail "$url did not answer /ping after $PING_ATTEMPTS tries"
  # The first admin user can be created without credentials only while there is no user at all; on
  # data that already has one (a replaced VM, a rescheduled pod), the request is refused and the user kept.
  status=$(influxql "$url" "$CREATE_ADMIN_FILE")
  case "$status" in
  200) log "$url: created the admin user $INFLUX_ADMIN_USER" ;;
  401 | 403) log "$url: already has users, keeping them" ;;
  *) fail "$url: creating the admin user answered $status" ;;
  esac
  status=$(influxql "$url" "$CREATE_DATABASES_FILE" auth)
  [[ $status == 200 ]] || fail "$url: creating the databases as $INFLUX_ADMIN_USER answered $status (is influxAdminPassword the password this replica's data has?)"
  log "$url: databases are in place"
}

main() {
  (($# > 0)) || fail "usage: bootstrap-replicas.sh URL..."
  : "${INFLUX_ADMIN_USER:?}" "${INFLUX_ADMIN_PASSWORD_FILE:?}" "${CREATE_ADMIN_FILE:?}" "${CREATE_DATABASES_FILE:?}"
  PING_ATTEMPTS=${PING_ATTEMPTS:-90}
  local url
  for url in "$@"; do bootstrap "$url"; done
}

main "$@"
