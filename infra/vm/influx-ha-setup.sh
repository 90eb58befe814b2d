#!/usr/bin/env bash
# First boot of an influx-ha node (run once by cloud-init's runcmd; safe to run again by hand).
# Every value comes from /etc/influx-ha/setup.env; every config file was written by cloud-init.
# Order matters: the data disk is mounted before InfluxDB is installed, so InfluxDB never starts on the OS disk.
set -euo pipefail

SETUP_ENV=${SETUP_ENV:-/etc/influx-ha/setup.env}
# Keys whose fingerprints are checked before apt trusts them (InfluxData's primary key survives its subkey rotations).
INFLUXDATA_KEY_URL=https://repos.influxdata.com/influxdata-archive.key
INFLUXDATA_KEY_FINGERPRINT=24C975CBA61A024EE1B631787C3D57159FC2F927
NODESOURCE_KEY_URL=https://deb.nodesource.com/gpgkey/nodesource-repo.gpg.key
NODESOURCE_KEY_FINGERPRINT=6F71F525282841EEDAF851B42F59B5F99B1BE0B4

log() { echo "influx-ha-setup: $*" >&2; }
fail() {
  log "error: $*"
  exit 1
}

# retry ATTEMPTS SECONDS COMMAND...: bounded, for what comes up on its own (devices, roles, daemons).
retry() {
  local attempts=$1 pause=$2 i
  shift 2
  for ((i = 1; i <= attempts; i++)); do
    "$@" && return 0
    ((i < attempts)) && sleep "$pause"
  done
  return 1
}

# prepare_data_disk DEVICE MOUNT_DIR FSTAB: formats DEVICE only when it holds no signature at all
# (no filesystem, no partition table), records it in FSTAB by UUID with nofail, and mounts it.
prepare_data_disk() {
  local device=$1 dir=$2 fstab=$3 rc=0 type uuid
  retry 60 2 test -b "$device" -o -f "$device" || fail "data disk $device did not appear within 2 minutes"
  blkid -p "$device" >/dev/null 2>&1 || rc=$?
  if ((rc == 2)); then
    log "data disk $device is empty: formatting it ext4"
    mkfs.ext4 -q -L influxdb -m 0 "$device"
  elif ((rc != 0)); then
    fail "blkid could not read $device (exit code $rc)"
  fi
  type=$(blkid -p -s TYPE -o value "$device" || true)
  case "$type" in
  ext4 | xfs) ;;
  *) fail "data disk $device holds '${type:-a partition table}', not an ext4 or xfs filesystem; not touching it" ;;
  esac
  uuid=$(blkid -p -s UUID -o value "$device")
  [[ -n "$uuid" ]] || fail "data disk $device has no filesystem UUID"
  mkdir -p "$dir"
  # One line for the mount point, by UUID: a disk re-attached under another name still mounts.
  grep -v "[[:space:]]${dir}[[:space:]]" "$fstab" >"$fstab.influx-ha" || true
  echo "UUID=$uuid $dir $type defaults,nofail,noatime,x-systemd.device-timeout=60s 0 2" >>"$fstab.influx-ha"
  mv "$fstab.influx-ha" "$fstab"
  if ! mountpoint -q "$dir"; then
    mount -t "$type" "$device" "$dir"
  fi
  log "data disk $device (UUID $uuid) is mounted at $dir"
}

# add_apt_repository NAME KEY_URL FINGERPRINT SOURCE_LINE: the key is trusted for this repository only.
add_apt_repository() {
  local name=$1 url=$2 fingerprint=$3 line=$4 keyring=/usr/share/keyrings/$1.gpg armored
  armored=$(mktemp)
  retry 10 6 curl -fsSL --max-time 60 -o "$armored" "$url" || fail "could not fetch $url"
  gpg --show-keys --with-colons "$armored" | grep -q "^fpr:\+${fingerprint}:" || fail "$url is not the key $fingerprint"
  gpg --dearmor --yes -o "$keyring" "$armored"
  rm -f "$armored"
  echo "deb [signed-by=$keyring] $line" >"/etc/apt/sources.list.d/$name.list"
}

install_packages() {
  export DEBIAN_FRONTEND=noninteractive
  retry 5 10 apt-get update -q
  retry 5 10 apt-get install -q -y --no-install-recommends ca-certificates curl gnupg python3
  add_apt_repository influxdata "$INFLUXDATA_KEY_URL" "$INFLUXDATA_KEY_FINGERPRINT" "https://repos.influxdata.com/debian stable main"
  add_apt_repository nodesource "$NODESOURCE_KEY_URL" "$NODESOURCE_KEY_FINGERPRINT" "https://deb.nodesource.com/node_22.x nodistro main"
  retry 5 10 apt-get update -q
  # Keep the influxdb.conf and haproxy.cfg that cloud-init wrote.
  retry 5 10 apt-get install -q -y --no-install-recommends -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
    influxdb nodejs haproxy
}

# protect_relay_config FILE GROUP: relay.toml holds the relays' admin token; root owns it, the relay's group
# may only read it, and no one else may.
protect_relay_config() {
  chown "root:$2" "$1"
  chmod 0640 "$1"
}

# The relay bundle is a private blob: read with the node's managed identity, checked against its SHA-256.
install_relay() {
  local token_url token bundle
  id influx-relay >/dev/null 2>&1 || useradd --system --user-group --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin influx-relay
  protect_relay_config "$RELAY_CONFIG" influx-relay
  token_url="http://169.254.169.254/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https%3A%2F%2Fstorage.azure.com%2F&client_id=${IDENTITY_CLIENT_ID}"
  bundle=$(mktemp)
  # The identity's role assignment can take minutes to reach the storage account: retry for up to 10.
  fetch_bundle() {
    token=$(curl -fsS --max-time 10 -H Metadata:true "$token_url" | python3 -c 'import json, sys; print(json.load(sys.stdin)["access_token"])') &&
      curl -fsS --max-time 120 -H "Authorization: Bearer $token" -H "x-ms-version: 2021-08-06" -o "$bundle" "$RELAY_BUNDLE_URL"
  }
  retry 60 10 fetch_bundle || fail "could not fetch the relay bundle $RELAY_BUNDLE_URL"
  echo "$RELAY_BUNDLE_SHA256  $bundle" | sha256sum -c --quiet - || fail "the relay bundle's SHA-256 is not $RELAY_BUNDLE_SHA256"
  install -D -m 0644 "$bundle" /opt/influx-relay/influx-relay.mjs
  rm -f "$bundle"
  systemctl daemon-reload
  systemctl enable influx-relay.service
  systemctl restart influx-relay.service
}

start_influxdb() {
  chown -R influxdb:influxdb "$DATA_DIR"
  systemctl daemon-reload
  systemctl enable influxdb.service
  systemctl restart influxdb.service
  "$BOOTSTRAP_SCRIPT" "$INFLUXDB_URL" || fail "InfluxDB's admin user and databases are not in place"
}

start_haproxy() {
  haproxy -c -q -f /etc/haproxy/haproxy.cfg || fail "/etc/haproxy/haproxy.cfg does not pass haproxy -c"
  systemctl enable haproxy.service
  systemctl restart haproxy.service
}

main() {
  # Exported: bootstrap-replicas.sh reads the admin user and the statement files from it.
  set -a
  # shellcheck source=/dev/null
  source "$SETUP_ENV"
  set +a
  prepare_data_disk "$DATA_DISK" "$DATA_DIR" /etc/fstab
  install_packages
  start_influxdb
  install_relay
  start_haproxy
  log "node ready"
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
  main "$@"
fi
