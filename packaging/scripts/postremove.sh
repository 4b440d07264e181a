#!/bin/sh
# skiff package, after removal (deb postrm "remove" or "purge", rpm
# %postun 0). Purge also removes the agent's state; the skiff user, the
# containers and their volumes stay (docker ps --filter
# label=io.skiff.managed=true lists the containers). Honours $DPKG_ROOT.
set -e
root=${DPKG_ROOT:-}
case ${1:-} in
  purge) rm -rf "$root/var/lib/skiff" ;;
  remove | 0) ;;
  *) exit 0 ;;
esac
if [ -z "$root" ] && [ -d /run/systemd/system ]; then
  systemctl daemon-reload || true
fi
