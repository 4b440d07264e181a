#!/bin/sh
# skiff installer: puts the skiff binary, its systemd unit and the node's
# /etc/skiff/agent.yaml in place, then enables and starts the agent.
#
#   sudo ./install.sh --url https://git.example.com/fleet.git --region eu-west
#   sudo ./install.sh --uninstall [--purge]
#   ./install.sh --help
#
# Run it from a skiff checkout (it builds bin/skiff with make build) or from
# a directory holding skiff.service, with --binary FILE. Running it again
# changes nothing that is already right, and says so. The body is wrapped in
# main so that a truncated download runs nothing.

usage() {
  cat <<'EOF'
usage: install.sh --url URL --region REGION [options]   install or update skiff on this node
       install.sh --uninstall [--purge] [--root DIR]      remove skiff (containers keep running)

node configuration (written to /etc/skiff/agent.yaml; --url and --region are
required when there is none yet, otherwise the existing file is kept unless
--force is given):
  --url URL             Git URL of the manifests repository (alias: --repo)
  --region REGION       the node's region
  --node NAME           the node's name (default: the hostname)
  --label KEY=VALUE     a node label, repeatable
  --branch BRANCH       the branch to follow (default: main)
  --interval DURATION   poll interval (default: 30s)
  --keyring FILE        only apply commits signed by the OpenPGP keys in FILE
  --username NAME       https user name for --password-file
  --password-file FILE  file holding the https password or token
  --age-key FILE        the node's age identity file (age-keygen output): installed as
                        /etc/skiff/age.key (0400, root) to decrypt the repository's SOPS
                        files; a new agent.yaml points secrets.age_identity_file at it

installation:
  --binary FILE         the skiff binary to install (default: build it here with make build)
  --force               overwrite an existing agent.yaml (the old one is kept as agent.yaml.bak)
  --root DIR            install into DIR instead of / (systemd and Docker are left alone)
  --dry-run             print what would be done, do nothing
  --uninstall           stop and disable the agent, remove its binary and unit;
                        keep agent.yaml, the state in /var/lib/skiff and the containers
  --purge               with --uninstall: also remove agent.yaml, age.key, /var/lib/skiff,
                        /run/skiff/secrets and the containers and networks skiff
                        manages (never volumes)
  -h, --help            this help
EOF
}

say() { printf 'install.sh: %s\n' "$*"; }
warn() { printf 'install.sh: warning: %s\n' "$*" >&2; }
die() {
  printf 'install.sh: %s\n' "$*" >&2
  exit 1
}
usage_error() {
  printf 'install.sh: %s (see --help)\n' "$*" >&2
  exit 2
}

# act DESCRIPTION COMMAND...: run COMMAND, or only say it under --dry-run.
act() {
  desc=$1
  shift
  changed=1
  if [ "$dry_run" = 1 ]; then
    say "would $desc"
    return 0
  fi
  "$@" || die "could not $desc"
  say "$desc"
}

# yaml_quote VALUE: VALUE as a YAML double-quoted scalar.
yaml_quote() {
  printf '"%s"' "$(printf '%s' "$1" | sed 's/\\/\\\\/g; s/"/\\"/g')"
}

# absolute PATH: PATH made absolute against the current directory.
absolute() {
  case $1 in
    /*) printf '%s' "$1" ;;
    *) printf '%s/%s' "$(pwd)" "$1" ;;
  esac
}

parse_args() {
  url='' region='' node='' labels='' branch='' interval='' keyring='' username='' password_file='' age_key=''
  binary='' force=0 root='' dry_run=0 uninstall=0 purge=0
  while [ "$#" -gt 0 ]; do
    opt=$1 val='' has_val=0
    case $opt in
      --*=*) val=${opt#*=} opt=${opt%%=*} has_val=1 ;;
    esac
    case $opt in
      --url | --repo | --region | --node | --label | --branch | --interval | --keyring | \
        --username | --password-file | --age-key | --binary | --root)
        if [ "$has_val" = 0 ]; then
          [ "$#" -ge 2 ] || usage_error "$opt needs a value"
          val=$2
          shift
        fi
        ;;
    esac
    shift
    case $opt in
      --url | --repo) url=$val ;;
      --region) region=$val ;;
      --node) node=$val ;;
      --label)
        case $val in
          ?*=*) ;;
          *) usage_error "--label $val: want KEY=VALUE" ;;
        esac
        labels="$labels$val$newline"
        ;;
      --branch) branch=$val ;;
      --interval) interval=$val ;;
      --keyring) keyring=$(absolute "$val") ;;
      --username) username=$val ;;
      --password-file) password_file=$(absolute "$val") ;;
      --age-key) age_key=$(absolute "$val") ;;
      --binary) binary=$(absolute "$val") ;;
      --root) root=$(absolute "$val") ;;
      --force) force=1 ;;
      --dry-run) dry_run=1 ;;
      --uninstall) uninstall=1 ;;
      --purge) purge=1 ;;
      -h | --help)
        usage
        exit 0
        ;;
      *) usage_error "unknown option $opt" ;;
    esac
  done
  root=${root%/}
  [ "$purge" = 0 ] || [ "$uninstall" = 1 ] || usage_error "--purge goes with --uninstall"
  for v in "$url" "$region" "$node" "$branch" "$interval" "$keyring" "$username" "$password_file" "$age_key"; do
    case $v in
      *"$newline"*) usage_error "values must be single lines" ;;
    esac
  done
}

set_paths() {
  bin_path=/usr/local/bin/skiff
  config_path=/etc/skiff/agent.yaml
  unit_path=/etc/systemd/system/skiff.service
  age_key_path=/etc/skiff/age.key
  state_path=/var/lib/skiff
  secrets_path=/run/skiff/secrets
  bin_file=$root$bin_path
  config_file=$root$config_path
  unit_file=$root$unit_path
  age_key_file=$root$age_key_path
  state_dir=$root$state_path
  secrets_dir=$root$secrets_path
  # systemctl only where systemd runs this machine, never into another root.
  systemd=0
  if [ -z "$root" ] && [ -d /run/systemd/system ]; then
    systemd=1
  fi
}

config_flags_given() {
  [ -n "$url$region$node$labels$branch$interval$keyring$username$password_file" ]
}

# write_config FILE: the node configuration from the flags.
write_config() {
  {
    echo "# skiff node configuration, written by install.sh from its flags."
    echo "# Every field is described in packaging/agent.yaml of the skiff sources."
    echo "# The agent reloads this file when it is saved."
    [ -z "$node" ] || echo "node: $(yaml_quote "$node")"
    echo "region: $(yaml_quote "$region")"
    if [ -n "$labels" ]; then
      echo "labels:"
      printf '%s' "$labels" | while IFS= read -r kv; do
        echo "  $(yaml_quote "${kv%%=*}"): $(yaml_quote "${kv#*=}")"
      done
    fi
    echo "source:"
    echo "  url: $(yaml_quote "$url")"
    [ -z "$branch" ] || echo "  branch: $(yaml_quote "$branch")"
    [ -z "$interval" ] || echo "  interval: $(yaml_quote "$interval")"
    if [ -n "$username$password_file" ]; then
      echo "  auth:"
      [ -z "$username" ] || echo "    username: $(yaml_quote "$username")"
      [ -z "$password_file" ] || echo "    password_file: $(yaml_quote "$password_file")"
    fi
    if [ -n "$keyring" ]; then
      echo "  verify:"
      echo "    keyring_file: $(yaml_quote "$keyring")"
    fi
    if [ -n "$age_key" ]; then
      echo "secrets:"
      echo "  age_identity_file: $(yaml_quote "$age_key_path")"
    fi
  } >"$1"
}

# check_age_key: --age-key must be an age identity file; its recipient (the
# "# public key:" line age-keygen writes) is what the repository encrypts for.
check_age_key() {
  [ -n "$age_key" ] || return 0
  if [ ! -f "$age_key" ] || [ ! -r "$age_key" ]; then
    die "--age-key $age_key is not a readable file"
  fi
  grep -q '^AGE-SECRET-KEY-' "$age_key" || die "--age-key $age_key holds no age identity (AGE-SECRET-KEY-1... lines, as age-keygen writes them)"
  recipients=$(sed -n 's/^# public key: //p' "$age_key" | tr '\n' ' ')
  [ -z "$recipients" ] || say "the node's age recipient (encrypt the repository's SOPS files for it): $recipients"
}

# install_age_key: the node's identities, readable by root alone. An
# existing agent.yaml (kept) must point at them itself. A new key restarts
# the agent: the current revision is loaded again, and the stacks it
# refused for want of the key are applied.
install_age_key() {
  [ -n "$age_key" ] || return 1
  if [ "$config_action" = keep ] && [ -f "$config_file" ] && ! grep -q 'age_identity_file:' "$config_file"; then
    warn "$config_file does not use the age key: add 'secrets: {age_identity_file: $age_key_path}' to it"
  fi
  install_file "$age_key" "$age_key_file" 0400
}

# find_binary: the skiff binary to install, built from the checkout when
# none is given.
find_binary() {
  if [ -n "$binary" ]; then
    if [ ! -f "$binary" ] || [ ! -x "$binary" ]; then
      die "--binary $binary is not an executable file"
    fi
    src_bin=$binary
    return
  fi
  if [ -f "$here/go.mod" ] && [ -d "$here/cmd/skiff" ]; then
    src_bin=$here/bin/skiff
    if command -v go >/dev/null 2>&1 && command -v make >/dev/null 2>&1; then
      say "building skiff from the checkout in $here (make build)"
      make -s -C "$here" build >"$tmp/build.log" 2>&1 || {
        cat "$tmp/build.log" >&2
        die "make build failed"
      }
      return
    fi
    [ -x "$src_bin" ] || die "no Go toolchain here to build skiff: run 'make build' as your user first, or pass --binary FILE"
    say "no Go toolchain here: installing the existing $src_bin"
    return
  fi
  die "no skiff binary: pass --binary FILE (or run install.sh from a skiff checkout)"
}

find_unit() {
  for f in "$here/packaging/skiff.service" "$here/skiff.service"; do
    if [ -f "$f" ]; then
      src_unit=$f
      return
    fi
  done
  die "skiff.service not found next to install.sh: run it from a skiff checkout or release directory"
}

# install_file SRC DEST MODE: put SRC at DEST unless it is already there.
install_file() {
  if [ -f "$2" ] && cmp -s "$1" "$2"; then
    if [ "$(stat -c %a "$2")" = "${3#0}" ]; then
      say "unchanged: $2"
      return 1
    fi
  fi
  act "install $2" install_atomically "$1" "$2" "$3"
}

# install_atomically SRC DEST MODE: the copy is never readable by others
# before it has its mode (the node's age key goes through here).
install_atomically() {
  mkdir -p "$(dirname "$2")" &&
    (umask 077 && cp "$1" "$2.tmp.$$") &&
    chmod "$3" "$2.tmp.$$" &&
    mv -f "$2.tmp.$$" "$2"
}

# prepare_config: decide what to do with agent.yaml. The configuration from
# the flags is written to a temporary file and checked by the binary before
# anything on the node changes. Sets config_action: keep, same or install.
prepare_config() {
  config_action=keep
  if [ -f "$config_file" ] && ! config_flags_given; then
    return
  fi
  [ -n "$url" ] || usage_error "--url is required: $config_file does not exist yet"
  [ -n "$region" ] || usage_error "--region is required: $config_file does not exist yet"
  write_config "$tmp/agent.yaml"
  if ! "$src_bin" config check --config "$tmp/agent.yaml" >"$tmp/check.out" 2>&1; then
    sed "s|$tmp/agent.yaml|$config_path|g" "$tmp/check.out" >&2
    die "the configuration from the flags is invalid; nothing was changed"
  fi
  sed "s|$tmp/agent.yaml|$config_path|g; s|^|install.sh: |" "$tmp/check.out"
  config_action=install
  if [ -f "$config_file" ] && cmp -s "$tmp/agent.yaml" "$config_file"; then
    config_action=same
  fi
}

install_config() {
  case $config_action in
    keep)
      if [ -f "$config_file" ] && config_flags_given; then
        warn "kept $config_file: it differs from the flags (--force overwrites it)"
      else
        say "kept: $config_file"
      fi
      return 1
      ;;
    same)
      say "unchanged: $config_file"
      return 1
      ;;
  esac
  if [ -f "$config_file" ]; then
    if [ "$force" = 0 ]; then
      warn "kept $config_file: it differs from the flags (--force overwrites it)"
      return 1
    fi
    act "keep the old configuration as $config_file.bak" cp -p "$config_file" "$config_file.bak"
  fi
  install_file "$tmp/agent.yaml" "$config_file" 0644
}

check_docker() {
  if [ -n "$root" ]; then
    return
  fi
  if command -v docker >/dev/null 2>&1; then
    if version=$(docker version --format '{{.Server.Version}}' 2>/dev/null); then
      say "docker: the engine answers (version $version)"
    else
      warn "the Docker engine does not answer: start it (systemctl start docker) and check that root may use its socket; the agent waits for it meanwhile"
    fi
  elif [ -S /var/run/docker.sock ]; then
    say "docker: the engine's socket is at /var/run/docker.sock"
  else
    warn "no Docker engine here: install one (apt-get install docker.io, or https://docs.docker.com/engine/install/); the agent waits for it meanwhile"
  fi
}

# start_unit RESTART UNIT_CHANGED CONFIG_CHANGED: RESTART for a new binary
# or a new age key
start_unit() {
  if [ -n "$root" ]; then
    if command -v systemctl >/dev/null 2>&1; then
      if ! systemctl --root="$root" is-enabled -q skiff.service 2>/dev/null; then
        act "enable skiff.service in $root" systemctl --root="$root" -q enable skiff.service
      fi
    fi
    return
  fi
  if [ "$systemd" = 0 ]; then
    say "systemd does not run this machine: start the agent yourself: $bin_path agent --config $config_path"
    return
  fi
  [ "$2" = 0 ] || act "reload systemd" systemctl daemon-reload
  systemctl is-enabled -q skiff.service 2>/dev/null || act "enable skiff.service" systemctl -q enable skiff.service
  if ! systemctl is-active -q skiff.service; then
    act "start skiff.service" systemctl start skiff.service
  elif [ "$1" = 1 ] || [ "$2" = 1 ]; then
    act "restart skiff.service (the containers keep running)" systemctl restart skiff.service
  elif [ "$3" = 1 ]; then
    act "reload skiff.service" systemctl reload skiff.service
  fi
}

do_install() {
  find_binary
  find_unit
  check_age_key
  prepare_config
  changed=0
  bin_changed=0 unit_changed=0 config_changed=0
  install_file "$src_bin" "$bin_file" 0755 && bin_changed=1
  install_file "$src_unit" "$unit_file" 0644 && unit_changed=1
  install_age_key && bin_changed=1 # restarts, as a new binary does
  install_config && config_changed=1
  start_unit "$bin_changed" "$unit_changed" "$config_changed"
  check_docker
  if [ "$changed" = 0 ]; then
    say "nothing to change: skiff is installed as asked"
  fi
  say "next steps:"
  say "  skiff status             # the node's revision, stacks and containers ($bin_path)"
  [ "$systemd" = 0 ] || say "  journalctl -u skiff -f   # the agent's log"
  say "  git push                 # to the fleet repository: the node follows"
  say "  (edit $config_path to change the node's settings: the agent reloads it when saved)"
}

do_uninstall() {
  changed=0
  if [ "$systemd" = 1 ] && systemctl cat skiff.service >/dev/null 2>&1; then
    act "stop and disable skiff.service (the containers keep running)" systemctl -q disable --now skiff.service
  elif [ -n "$root" ] && [ -f "$unit_file" ] && command -v systemctl >/dev/null 2>&1; then
    act "disable skiff.service in $root" systemctl --root="$root" -q disable skiff.service
  fi
  for f in "$unit_file" "$bin_file"; do
    if [ -e "$f" ]; then
      act "remove $f" rm -f "$f"
    fi
  done
  [ "$systemd" = 0 ] || [ "$changed" = 0 ] || act "reload systemd" systemctl daemon-reload
  if [ "$purge" = 1 ]; then
    purge
  else
    say "kept: $config_file, $state_dir and the containers (--purge removes them)"
  fi
  [ "$changed" = 1 ] || say "nothing to remove: skiff is not installed"
}

purge() {
  for f in "$config_file" "$config_file.bak" "$age_key_file"; do
    if [ -e "$f" ]; then
      act "remove $f" rm -f "$f"
    fi
  done
  if [ -d "$root/etc/skiff" ]; then
    if [ -z "$(ls -A "$root/etc/skiff")" ]; then
      act "remove $root/etc/skiff" rmdir "$root/etc/skiff"
    else
      say "kept: $root/etc/skiff, it holds other files"
    fi
  fi
  if [ -e "$state_dir" ]; then
    act "remove $state_dir" rm -rf "$state_dir"
  fi
  if [ -e "$secrets_dir" ]; then
    act "remove the decrypted files in $secrets_dir" rm -rf "$secrets_dir"
  fi
  if [ -n "$root" ]; then
    return
  fi
  if ! command -v docker >/dev/null 2>&1; then
    warn "no docker command: remove skiff's containers yourself (label io.skiff.managed=true)"
    return
  fi
  ids=$(docker ps -aq --filter label=io.skiff.managed=true) || die "docker ps failed"
  if [ -n "$ids" ]; then
    # shellcheck disable=SC2086 # one word per container ID
    act "remove skiff's containers" docker rm -f $ids
  fi
  nets=$(docker network ls -q --filter label=io.skiff.managed=true) || die "docker network ls failed"
  if [ -n "$nets" ]; then
    # shellcheck disable=SC2086 # one word per network ID
    act "remove skiff's networks" docker network rm $nets
  fi
  vols=$(docker volume ls -q --filter label=io.skiff.managed=true)
  if [ -n "$vols" ]; then
    say "kept the volumes (skiff never removes volumes): $(echo "$vols" | tr '\n' ' ')"
  fi
}

main() {
  set -eu
  newline='
'
  here=$(cd "$(dirname "$0")" && pwd)
  parse_args "$@"
  set_paths
  if [ -z "$root" ] && [ "$dry_run" = 0 ] && [ "$(id -u)" != 0 ]; then
    die "run it as root (sudo $0 ...), or with --root DIR or --dry-run"
  fi
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  if [ "$uninstall" = 1 ]; then
    do_uninstall
  else
    do_install
  fi
}

main "$@"
