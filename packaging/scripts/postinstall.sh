#!/bin/sh
# skiff package, after install or upgrade (deb postinst "configure [old
# version]", rpm %post 1 or 2).
#
# Creates the skiff system user and group, in the docker group when there is
# one: the agent can run unprivileged with User=skiff in a drop-in. The unit
# runs it as root by default (the Docker socket is root-equivalent anyway,
# and only root can give repository files to the uid a service asks for).
# The agent is not enabled on a fresh install: /etc/skiff/agent.yaml first
# needs the node's region and Git URL. An upgrade restarts a running agent;
# its containers keep running. Honours $DPKG_ROOT (dpkg --root DIR
# --force-script-chrootless), where it only creates the user.
set -e
root=${DPKG_ROOT:-}

upgrade=0
case ${1:-} in
  configure) [ -z "${2:-}" ] || upgrade=1 ;;
  [0-9]*) if [ "$1" -gt 1 ]; then upgrade=1; fi ;;
  *) exit 0 ;;
esac

has() { grep -q "^$2:" "$root/etc/$1" 2>/dev/null; }

# shadow runs a shadow-utils command inside $root.
shadow() {
  cmd=$1
  shift
  if [ -n "$root" ]; then
    "$cmd" --prefix "$root" "$@"
  else
    "$cmd" "$@"
  fi
}

mkdir -p "$root/etc"
if command -v systemd-sysusers >/dev/null 2>&1; then
  systemd-sysusers --root="${root:-/}" --inline 'u skiff - "skiff GitOps agent" /var/lib/skiff'
  if has group docker; then
    systemd-sysusers --root="${root:-/}" --inline 'm skiff docker'
  fi
else
  has group skiff || shadow groupadd --system skiff
  has passwd skiff || shadow useradd --system --gid skiff --home-dir /var/lib/skiff \
    --no-create-home --shell /usr/sbin/nologin --comment "skiff GitOps agent" skiff
  if has group docker; then
    shadow usermod --append --groups docker skiff
  fi
fi

if [ -n "$root" ] || [ ! -d /run/systemd/system ]; then
  exit 0
fi
systemctl daemon-reload || true
if [ "$upgrade" = 1 ]; then
  # Restarts the agent only if it runs; KillMode=process: containers stay.
  systemctl try-restart skiff.service || true
else
  echo "skiff: set region and source.url in /etc/skiff/agent.yaml, then: systemctl enable --now skiff"
fi
