#!/bin/sh
# skiff package, before removal (deb prerm "remove", rpm %preun 0): stop
# and disable the agent. Never on upgrade. KillMode=process: the containers
# keep running without their agent. Honours $DPKG_ROOT.
set -e
case ${1:-} in
  remove | 0) ;;
  *) exit 0 ;;
esac
if [ -z "${DPKG_ROOT:-}" ] && [ -d /run/systemd/system ]; then
  systemctl disable --now skiff.service >/dev/null 2>&1 || true
fi
