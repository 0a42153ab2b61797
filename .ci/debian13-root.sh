#!/usr/bin/env bash
# A Debian 13 (trixie) system tree beside the host, so the suite also runs against trixie's bpftrace
# (0.23), Python (3.13), libbpf-tools (*-libbpf names) and bpfcc-tools on the host's kernel.
#
#   .ci/debian13-root.sh build            create the tree once (debootstrap + apt, ~5 min, ~600 MB)
#   .ci/debian13-root.sh mount            mount /proc, /sys, tracefs, debugfs, bpffs and /dev inside it
#   .ci/debian13-root.sh umount           undo mount (and the checkout's bind mount)
#   .ci/debian13-root.sh test [PYTEST...] build, mount, bind this checkout, install it into a venv in
#                                         the tree and run pytest there; then unmounts what it mounted
#
# The tree lives in $MCPTRACE_CI_ROOT (default /var/cache/mcptrace-ci/trixie) and is reused by later
# runs on the same machine; delete the folder to start over. Needs root; asks nothing (CI has no stdin).
set -euo pipefail
TREE=${MCPTRACE_CI_ROOT:-/var/cache/mcptrace-ci/trixie}
CHECKOUT=$(cd "$(dirname "$0")/.." && pwd)
SRC_IN_TREE=/srv/mcptrace
VENV_IN_TREE=/opt/mcptrace-ci-venv
# sudo and OpenSSH: the unprivileged-user and fleet tests run there too.
PACKAGES=(bpftrace python3 python3-venv python3-pip ca-certificates libbpf-tools bpfcc-tools procps util-linux
          sudo openssh-server openssh-client)
STAMP=.mcptrace-ci-packages  # in the tree: the package list it was last brought up to
# Kernel file systems bpftrace needs, in mount order (unmounted in reverse).
KERNEL_MOUNTS=(proc sys sys/kernel/tracing sys/kernel/debug sys/fs/bpf dev dev/pts)

inside() {  # a command in the tree with a clean environment
  chroot "$TREE" /usr/bin/env -i HOME=/root LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive CI="${CI:-true}" \
    PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "$@"
}

mirror() {
  local uri
  uri=$(sed -n 's/^URIs:[[:space:]]*//p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -n 1)
  echo "${uri:-http://deb.debian.org/debian}"
}

host_mounts() {
  mountpoint -q /sys/kernel/tracing || mount -t tracefs tracefs /sys/kernel/tracing
  mountpoint -q /sys/kernel/debug || mount -t debugfs debugfs /sys/kernel/debug
}

MADE=()  # what this invocation mounted, so that it unmounts only that (another user may share the tree)

do_mount() {
  host_mounts
  local target
  for target in "${KERNEL_MOUNTS[@]}"; do
    mkdir -p "$TREE/$target"
    mountpoint -q "$TREE/$target" && continue
    MADE+=("$TREE/$target")
    case "$target" in
      proc) mount -t proc proc "$TREE/proc" ;;
      sys/kernel/debug) mount --rbind /sys/kernel/debug "$TREE/$target" ;;
      sys/fs/bpf) if mountpoint -q /sys/fs/bpf; then mount --bind /sys/fs/bpf "$TREE/$target";
                  else mount -t bpf bpf "$TREE/$target"; fi ;;
      *) mount --bind "/$target" "$TREE/$target" ;;
    esac
  done
}

unmount() {  # a process of the tests may take a moment to end (a server's watchdog): wait for it, then detach
  local attempt
  for attempt in 1 2 3 4 5; do
    umount -R "$1" 2>/dev/null && return 0
    sleep 1
  done
  umount -R -l "$1"
}

do_umount() {  # every mount in the tree
  if mountpoint -q "$TREE$SRC_IN_TREE"; then unmount "$TREE$SRC_IN_TREE"; fi
  local index
  for ((index = ${#KERNEL_MOUNTS[@]} - 1; index >= 0; index--)); do
    if mountpoint -q "$TREE/${KERNEL_MOUNTS[$index]}"; then unmount "$TREE/${KERNEL_MOUNTS[$index]}" || true; fi
  done
}

undo_mounts() {  # only what this invocation mounted
  local index
  for ((index = ${#MADE[@]} - 1; index >= 0; index--)); do unmount "${MADE[$index]}" || true; done
}

do_build() {
  if [ -x "$TREE/usr/bin/bpftrace" ] && [ -x "$TREE/usr/bin/python3" ]; then
    if [ "$(cat "$TREE/$STAMP" 2>/dev/null)" != "${PACKAGES[*]}" ]; then  # built by an earlier, older list
      do_mount
      inside apt-get update -qq
      inside apt-get install -y -qq "${PACKAGES[@]}" >/dev/null
      echo "${PACKAGES[*]}" > "$TREE/$STAMP"
    fi
    return 0  # built by an earlier run: reuse it
  fi
  command -v debootstrap >/dev/null || { apt-get update -qq; apt-get install -y -qq debootstrap >/dev/null; }
  mkdir -p "$TREE"
  if [ ! -x "$TREE/usr/bin/apt-get" ]; then
    debootstrap --variant=minbase --keyring=/usr/share/keyrings/debian-archive-keyring.gpg \
      trixie "$TREE" "$(mirror)"
  fi
  cp /etc/resolv.conf "$TREE/etc/resolv.conf"
  # The host's extra certificate authorities (package registries may sit behind a TLS proxy).
  mkdir -p "$TREE/usr/local/share/ca-certificates"
  cp /usr/local/share/ca-certificates/*.crt "$TREE/usr/local/share/ca-certificates/" 2>/dev/null || true
  do_mount
  inside apt-get update -qq
  inside apt-get install -y -qq "${PACKAGES[@]}" >/dev/null
  inside update-ca-certificates >/dev/null
  echo "${PACKAGES[*]}" > "$TREE/$STAMP"
}

do_test() {
  do_build
  do_mount
  trap undo_mounts EXIT
  mkdir -p "$TREE$SRC_IN_TREE"
  if ! mountpoint -q "$TREE$SRC_IN_TREE"; then
    mount --bind "$CHECKOUT" "$TREE$SRC_IN_TREE"
    MADE+=("$TREE$SRC_IN_TREE")
  fi
  [ -f /etc/pip.conf ] && cp /etc/pip.conf "$TREE/etc/pip.conf"
  cp /etc/hosts "$TREE/etc/hosts"  # the tree shares the host's name: sudo resolves it and warns otherwise
  inside bpftrace --version
  [ -x "$TREE$VENV_IN_TREE/bin/python3" ] || inside python3 -m venv "$VENV_IN_TREE"
  inside "$VENV_IN_TREE/bin/python3" -m pip install -q --upgrade pip
  inside sh -c "cd $SRC_IN_TREE && $VENV_IN_TREE/bin/python3 -m pip install -q -e '.[test]'"
  # -p no:cacheprovider: the checkout is shared with the host leg; its .pytest_cache stays the host's.
  inside sh -c 'cd "$0" && exec "$@"' "$SRC_IN_TREE" \
    "$VENV_IN_TREE/bin/python3" -m pytest -p no:cacheprovider "$@"
}

action=${1:-test}
shift || true
case "$action" in
  build) do_build ;;
  mount) do_build; do_mount ;;
  umount) do_umount ;;
  test) do_test -q "$@" ;;
  *) echo "usage: $0 build|mount|umount|test [PYTEST ARGS...]" >&2; exit 2 ;;
esac
