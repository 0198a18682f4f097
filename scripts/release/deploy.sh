#!/usr/bin/env bash
# Deploy a camd release to a dev kit over SSH: upload the tarball and the board-side script
# (deploy-remote.sh), which unpacks it into /opt/camd/releases/<version>, switches /opt/camd/current
# atomically, restarts camd, waits for `camctl status` to answer "running" and rolls back to the
# previous release if it does not.
#   scripts/release/deploy.sh [--host root@devkit] [--port 22] [--timeout 90] [--keep 2]
#                             [--no-setup] [--base /opt/camd] [--socket PATH] <camd-…-linux-arm64.tar.gz>
# --host defaults to $CAMD_DEVKIT. Exit codes as deploy-remote.sh (0 ok, 3 rolled back, 4 rollback failed).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
host=${CAMD_DEVKIT:-} port='' base=/opt/camd remote_args=() tarball=''
while (($#)); do
  case $1 in
    --host) host=$2; shift 2 ;;
    --port) port=$2; shift 2 ;;
    --base) base=$2; remote_args+=(--base "$2"); shift 2 ;;
    --timeout|--keep|--socket|--unit) remote_args+=("$1" "$2"); shift 2 ;;
    --no-setup) remote_args+=(--no-setup); shift ;;
    -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
    -*) echo "deploy: unknown option $1" >&2; exit 1 ;;
    *) tarball=$1; shift ;;
  esac
done
[[ -n $host ]] || { echo "deploy: no target: pass --host user@devkit or set CAMD_DEVKIT" >&2; exit 1; }
[[ -f $tarball ]] || { echo "deploy: no such release tarball: '$tarball'" >&2; exit 1; }
[[ $(basename "$tarball") =~ ^camd-.+-linux-[a-z0-9]+\.tar\.gz$ ]] ||
  { echo "deploy: $tarball is not named camd-<version>-linux-<arch>.tar.gz" >&2; exit 1; }
[[ $base == /* ]] || { echo "deploy: --base must be an absolute path" >&2; exit 1; }

# One multiplexed connection for the three steps; BatchMode: never hang on a password prompt.
ctl=$(mktemp -u "${TMPDIR:-/tmp}/camd-deploy-ssh.XXXXXX")
opts=(-o BatchMode=yes -o ControlMaster=auto -o "ControlPath=$ctl" -o ControlPersist=30 ${port:+-o "Port=$port"})
trap 'ssh "${opts[@]}" -O exit "$host" >/dev/null 2>&1 || true' EXIT

inbox=$base/incoming
name=$(basename "$tarball")
ssh "${opts[@]}" "$host" "mkdir -p '$inbox'"
echo "deploy: uploading $name to $host:$inbox" >&2
scp -q "${opts[@]}" "$tarball" "$here/deploy-remote.sh" "$host:$inbox/"
q=$(printf ' %q' --tarball "$inbox/$name" "${remote_args[@]}")
set +e
ssh "${opts[@]}" "$host" "bash '$inbox/deploy-remote.sh'$q"
rc=$?
set -e
case $rc in
  0) echo "deploy: done" >&2 ;;
  3) echo "deploy: the new release did not come up and was rolled back (see the journal lines above)" >&2 ;;
  4) echo "deploy: the new release AND the rollback failed: the board needs a look (journalctl -u camd)" >&2 ;;
esac
exit $rc
