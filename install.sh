#!/bin/sh
# skiff installer. The real installer (binary, systemd unit, /etc/skiff/agent.yaml,
# --url/--region/--uninstall) comes with the packaging step; until then this says so.
# The body is wrapped in main so that a truncated download runs nothing.
main() {
  echo "install.sh: not yet available; build from source with 'make build' (see README.md)" >&2
  exit 1
}
main "$@"
