#!/bin/bash
# The two certificate authorities of the camd cloud broker (production.conf): the device CA
# (client certificates of cameras, CN = serial) and the backend CA (the cloud backend, CN =
# camd-cloud). A thin wrapper around `openssl ca` with camd-ca.cnf that keeps each CA's database
# (index.txt) and CRL together, and refuses to sign a CN the broker's ACL must not see.
#
#   camd-ca.sh init   <ca-dir> device|backend [CA common name]
#   camd-ca.sh issue  <ca-dir> <request.csr> <out.crt>
#   camd-ca.sh revoke <ca-dir> <cert.crt> [reason]
#   camd-ca.sh crl    <ca-dir>
#
# init    creates the directory, a CA key (EC P-256) and self-signed certificate unless
#         <ca-dir>/ca.crt and <ca-dir>/private/ca.key are already there, and the first CRL.
# issue   signs a CSR as a TLS client certificate. Device CA: the subject must be exactly
#         CN=<serial>, 9-16 x A-Z0-9 — the ACL puts the CN into topics (camd/%u/...), so a CN with
#         '/' would reach into another camera's subtree, and the broker makes the CN the client id,
#         so a CN shaped like a backend client id could take over the backend's session.
#         Backend CA: CN = lower case letters, digits and '-'.
# revoke  marks the certificate revoked in the CA's database, then does `crl`.
# crl     re-issues <ca-dir>/crl.pem (valid 30 days, camd-ca.cnf), verified against the CA, by
#         atomic rename. Run it regularly (weekly) even without revocations: the broker refuses
#         every client once the installed CRL has expired.
# Installing the CRL on the broker and reloading it: README.md in this directory.
#
# Environment: CAMD_CERT_DAYS (issue; default 3650 device, 825 backend), CAMD_CA_DAYS (init;
# default 7300).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CNF="$here/camd-ca.cnf"
EC=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1)

die() { echo "camd-ca: $*" >&2; exit 2; }
usage() { sed -n '7,10p' "${BASH_SOURCE[0]}" | sed 's/^# *//' >&2; exit 2; }

ca_dir() {
  [ -d "$1" ] || die "no such CA directory: $1"
  CAMD_CA_DIR=$(cd "$1" && pwd)
  export CAMD_CA_DIR
  [ -f "$CAMD_CA_DIR/kind" ] || die "$1 is not a camd CA (run: camd-ca.sh init $1 device|backend)"
  KIND=$(cat "$CAMD_CA_DIR/kind")
}

cmd_crl() {
  local tmp="$CAMD_CA_DIR/crl.pem.tmp.$$"
  trap 'rm -f "$tmp"' EXIT
  openssl ca -config "$CNF" -gencrl -crlexts crl_ext -out "$tmp" 2>/dev/null \
    || die "openssl ca -gencrl failed for $CAMD_CA_DIR"
  # Never install a CRL the broker could not use: a missing or broken file at a reload turns
  # revocation checking off in Mosquitto 2.0 instead of refusing anyone.
  openssl crl -in "$tmp" -CAfile "$CAMD_CA_DIR/ca.crt" -noout 2>&1 | grep -q 'verify OK' \
    || die "the new CRL does not verify against $CAMD_CA_DIR/ca.crt"
  mv -f "$tmp" "$CAMD_CA_DIR/crl.pem"
  trap - EXIT
  local revoked
  revoked=$(grep -c '^R' "$CAMD_CA_DIR/index.txt" || true)
  echo "crl: $CAMD_CA_DIR/crl.pem, $revoked revoked, $(openssl crl -in "$CAMD_CA_DIR/crl.pem" -noout -nextupdate)"
}

cmd_init() {
  local dir=$1 kind=$2 name=${3:-}
  case $kind in device | backend) ;; *) die "kind must be device or backend, not '$kind'" ;; esac
  [ ! -f "$dir/kind" ] || die "$dir is already a camd CA ($(cat "$dir/kind"))"
  mkdir -p "$dir/issued" "$dir/private"
  chmod 0700 "$dir/private"
  (umask 077; : > "$dir/index.txt")
  # Random serials (positive: the first byte is 01).
  echo "01$(openssl rand -hex 15)" > "$dir/serial"
  echo 1000 > "$dir/crlnumber"
  if [ ! -f "$dir/ca.crt" ]; then
    [ ! -f "$dir/private/ca.key" ] || die "$dir/private/ca.key exists without ca.crt"
    (umask 077; openssl req -x509 "${EC[@]}" -nodes -keyout "$dir/private/ca.key" -out "$dir/ca.crt" \
      -days "${CAMD_CA_DAYS:-7300}" -subj "/CN=${name:-camd $kind CA}" \
      -addext 'basicConstraints=critical,CA:TRUE,pathlen:0' -addext 'keyUsage=critical,keyCertSign,cRLSign' 2>/dev/null)
    chmod 0644 "$dir/ca.crt"
  fi
  [ -f "$dir/private/ca.key" ] || die "$dir/ca.crt exists but $dir/private/ca.key does not"
  echo "$kind" > "$dir/kind"
  ca_dir "$dir"
  echo "init: $kind CA $(openssl x509 -in "$dir/ca.crt" -noout -subject) in $CAMD_CA_DIR"
  cmd_crl
}

cmd_issue() {
  local csr=$1 out=$2 subject cn days
  subject=$(openssl req -in "$csr" -noout -subject -nameopt RFC2253 2>/dev/null) || die "cannot read CSR $csr"
  cn=${subject#subject=CN=}
  [ "$cn" != "$subject" ] || die "CSR subject must be exactly CN=<name>, got: ${subject#subject=}"
  if [ "$KIND" = device ]; then
    [[ $cn =~ ^[A-Z0-9]{9,16}$ ]] || die "device subject must be exactly CN=<serial> (9-16 x A-Z0-9), got: ${subject#subject=}"
    days=${CAMD_CERT_DAYS:-3650}
  else
    [[ $cn =~ ^[a-z][a-z0-9-]{1,62}$ ]] || die "backend subject must be exactly CN=<name> (a-z, 0-9, '-'), got: ${subject#subject=}"
    days=${CAMD_CERT_DAYS:-825}
  fi
  openssl ca -batch -config "$CNF" -extensions client_cert -days "$days" -notext -in "$csr" -out "$out" 2>/dev/null \
    || die "openssl ca refused $csr (bad signature?)"
  echo "issue: $KIND CN=$cn serial $(openssl x509 -in "$out" -noout -serial | cut -d= -f2) -> $out"
}

cmd_revoke() {
  local cert=$1 reason=${2:-unspecified}
  # Only our own certificates: revoking a serial of another CA's certificate would be a no-op
  # that looks like success.
  openssl verify -no_check_time -CAfile "$CAMD_CA_DIR/ca.crt" "$cert" > /dev/null 2>&1 \
    || die "$cert was not issued by $CAMD_CA_DIR/ca.crt"
  openssl ca -config "$CNF" -revoke "$cert" -crl_reason "$reason" 2>/dev/null \
    || die "openssl ca -revoke failed for $cert (already revoked? reason '$reason' valid?)"
  echo "revoke: $(openssl x509 -in "$cert" -noout -subject -serial | tr '\n' ' ')($reason)"
  cmd_crl
}

[ $# -ge 2 ] || usage
sub=$1
shift
case $sub in
  init) [ $# -ge 2 ] || usage; cmd_init "$@" ;;
  issue) [ $# -eq 3 ] || usage; ca_dir "$1"; cmd_issue "$2" "$3" ;;
  revoke) [ $# -ge 2 ] || usage; ca_dir "$1"; cmd_revoke "$2" "${3:-unspecified}" ;;
  crl) [ $# -eq 1 ] || usage; ca_dir "$1"; cmd_crl ;;
  *) usage ;;
esac
