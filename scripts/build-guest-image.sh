#!/usr/bin/env bash
# Build the Debian 12 systemd guest image the molecule scenario runs (web1, db1, acme1).
#
#   scripts/build-guest-image.sh            build what is missing, print the image name
#   scripts/build-guest-image.sh --force    rebuild both layers even if present
#   scripts/build-guest-image.sh --name     only print the image name this recipe gives
#
# Two layers, each tagged by a hash of its recipe and reused while the recipe is unchanged:
#   localhost/tsunagu-guest-base:<hash>   debootstrap (minbase + systemd) -> podman import
#   localhost/tsunagu-guest:<hash>        the base + the slow packages pre-baked (apt in a
#                                         throw-away container, then podman commit)
# The baked image is also tagged localhost/tsunagu-guest:latest, the name molecule.yml uses.
#
# The packages are installed but the services the roles own are DISABLED in the image: each
# role enables what its guest needs, exactly as on a bare guest (a web guest must not run
# MariaDB just because the image has it). apt lists are kept so the apt module works offline.
# Only the build reaches the Debian mirror; the test guests run on an internal network.
set -euo pipefail

HERE=$(cd "$(dirname "$0")/.." && pwd)
export CONTAINERS_CONF=${CONTAINERS_CONF:-$HERE/containers.conf}

SUITE=bookworm
MIRROR=http://deb.debian.org/debian
SECURITY_MIRROR=http://deb.debian.org/debian-security
BASE_REPO=localhost/tsunagu-guest-base
BAKED_REPO=localhost/tsunagu-guest
BAKE_CONTAINER=tsunagu-guest-bake
LOCK=/tmp/tsunagu-guest-image.lock

BASE_INCLUDES=systemd,systemd-sysv,dbus,python3,python3-apt,iproute2,procps,ca-certificates,curl,sudo
# Units that make no sense in a container (or would reach the internet on their own).
MASKED_UNITS="getty@tty1.service console-getty.service systemd-remount-fs.service
  systemd-udevd.service systemd-modules-load.service sys-kernel-debug.mount
  sys-kernel-tracing.mount sys-kernel-config.mount e2scrub_all.timer fstrim.timer
  apt-daily.timer apt-daily-upgrade.timer"

# The slow packages: what the roles install on the guests (common, firewall, mariadb, backup,
# tls, apache, webapp, mailrelay, fail2ban) plus Pebble for the test-only ACME guest.
PACKAGES="
  openssh-server chrony locales tzdata unattended-upgrades python3-cryptography acl
  firewalld nftables
  mariadb-server mariadb-client mariadb-backup python3-pymysql zstd rsync
  apache2 certbot openssl
  python3-venv fonts-ipaexfont-gothic
  postfix
  fail2ban python3-systemd
  logrotate netcat-openbsd
  pebble
"
# Services left disabled in the image: the roles enable them where they belong.
DISABLED_UNITS="apache2 mariadb fail2ban firewalld postfix chrony ssh unattended-upgrades"
DEBCONF="postfix postfix/main_mailer_type select Local only
postfix postfix/mailname string guest.invalid"

ROOTFS_TMP=""
cleanup() {
  if [ -n "$ROOTFS_TMP" ] && [ -d "$ROOTFS_TMP" ]; then
    # an interrupted debootstrap may leave proc/sys (or a /dev bind) mounted inside
    grep -o " $ROOTFS_TMP/[^ ]*" /proc/mounts | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
    rm -rf --one-file-system "$ROOTFS_TMP"
  fi
  podman rm -f "$BAKE_CONTAINER" >/dev/null 2>&1 || true
}

say() { printf '==> [%s] %s\n' "$(date +%H:%M:%S)" "$*"; }

hash_of() { sha256sum | cut -c1-12; }

build_base() {   # $1 = image tag
  local rootfs
  rootfs=$(mktemp -d /var/tmp/tsunagu-guest-rootfs.XXXXXX)
  ROOTFS_TMP=$rootfs   # removed by the EXIT trap, also when the build fails
  say "debootstrap $SUITE (minbase + systemd) into $rootfs"
  debootstrap --variant=minbase --include="$BASE_INCLUDES" "$SUITE" "$rootfs" "$MIRROR" \
    | grep -E '^I: (Retrieving Release|Validating Packages|Installing core|Configuring|Base system)' \
    | grep -vE 'Configuring [a-z]' || true
  [ -x "$rootfs/sbin/init" ] || { echo "debootstrap failed (no /sbin/init)" >&2; return 1; }
  cat > "$rootfs/etc/apt/sources.list" <<EOS
deb $MIRROR $SUITE main
deb $MIRROR $SUITE-updates main
deb $SECURITY_MIRROR $SUITE-security main
EOS
  printf 'APT::Install-Recommends "false";\nAPT::Install-Suggests "false";\n' \
    > "$rootfs/etc/apt/apt.conf.d/90norecommends"
  for unit in $MASKED_UNITS; do ln -sf /dev/null "$rootfs/etc/systemd/system/$unit"; done
  : > "$rootfs/etc/machine-id"
  rm -f "$rootfs/var/lib/dbus/machine-id"
  chroot "$rootfs" apt-get clean
  rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin
  say "podman import -> $1"
  tar -C "$rootfs" -c . | podman import \
    --change 'CMD ["/sbin/init"]' --change 'ENV container=podman' \
    --change 'STOPSIGNAL SIGRTMIN+3' - "$1" >/dev/null
}

build_baked() {   # $1 = base image, $2 = baked image tag
  podman rm -f "$BAKE_CONTAINER" >/dev/null 2>&1 || true
  say "bake container $BAKE_CONTAINER from $1 (default podman network, for the mirror)"
  podman run -d --name "$BAKE_CONTAINER" --systemd=always "$1" /sbin/init >/dev/null
  # shellcheck disable=SC2016  # expanded inside the container
  podman exec -e PACKAGES="$PACKAGES" -e DEBCONF="$DEBCONF" -e DISABLED_UNITS="$DISABLED_UNITS" \
    "$BAKE_CONTAINER" bash -ec '
      export DEBIAN_FRONTEND=noninteractive
      echo "$DEBCONF" | debconf-set-selections
      echo "--- apt-get update"; apt-get -q update | tail -n 2
      echo "--- apt-get upgrade"; apt-get -qy upgrade | tail -n 1
      echo "--- apt-get install:" $PACKAGES
      apt-get -qy install $PACKAGES | grep -E "^(Need to get|After this|[0-9]+ upgraded)" || true
      for u in $DISABLED_UNITS; do systemctl disable --now "$u" >/dev/null 2>&1 || true; done
      apt-get clean
      # no shared secrets in an image: each guest gets its own ssh host keys (common role)
      rm -f /etc/ssh/ssh_host_*
      rm -rf /var/lib/systemd/timers/* /var/log/journal/* /tmp/* /var/tmp/*
      : > /etc/machine-id
    '
  podman stop -t 20 "$BAKE_CONTAINER" >/dev/null
  say "podman commit -> $2"
  podman commit --quiet --change 'CMD ["/sbin/init"]' "$BAKE_CONTAINER" "$2" >/dev/null 2>&1
  podman rm "$BAKE_CONTAINER" >/dev/null
}

image_exists() { podman image exists "$1"; }

main() {
  local force=0 name_only=0
  case "${1:-}" in
    --force) force=1 ;;
    --name) name_only=1 ;;
    "") ;;
    *) echo "usage: $0 [--force|--name]" >&2; exit 2 ;;
  esac
  local base_hash baked_hash base_img baked_img
  base_hash=$( { echo "$SUITE $MIRROR $SECURITY_MIRROR $BASE_INCLUDES $MASKED_UNITS"
                 declare -f build_base; } | hash_of)
  baked_hash=$( { echo "$base_hash $PACKAGES $DISABLED_UNITS $DEBCONF"
                  declare -f build_baked; } | hash_of)
  base_img=$BASE_REPO:$base_hash
  baked_img=$BAKED_REPO:$baked_hash
  if [ "$name_only" -eq 1 ]; then echo "$baked_img"; exit 0; fi

  "$HERE/scripts/ensure-system-packages.sh" podman runc debootstrap
  [ "$(id -u)" -eq 0 ] || { echo "run as root (debootstrap, rootful podman)" >&2; exit 1; }

  # Several people (and CI) may run this at once: one build at a time.
  exec 9>"$LOCK"
  if ! flock -n 9; then say "another build holds $LOCK; waiting"; flock 9; fi
  trap cleanup EXIT   # only once we hold the lock: the bake container is then ours

  local t0=$SECONDS
  if [ "$force" -eq 1 ] || ! image_exists "$base_img"; then
    say "base image $base_img: building"
    build_base "$base_img"
    say "base image done in $((SECONDS - t0)) s"
  else
    say "base image $base_img: present, reused"
  fi
  local t1=$SECONDS
  if [ "$force" -eq 1 ] || ! image_exists "$baked_img"; then
    say "guest image $baked_img: baking packages"
    build_baked "$base_img" "$baked_img"
    say "guest image done in $((SECONDS - t1)) s"
  else
    say "guest image $baked_img: present, reused"
  fi
  podman tag "$baked_img" "$BAKED_REPO:latest"
  say "ready in $((SECONDS - t0)) s: $baked_img (also $BAKED_REPO:latest)"
  echo "$baked_img"
}

main "$@"
