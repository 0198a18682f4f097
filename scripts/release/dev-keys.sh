#!/usr/bin/env bash
# A development signing key pair for the sim board and tests (issue 13), generated, never committed:
#   scripts/release/dev-keys.sh DIR
#     DIR/camd-dev-signing.pem   Ed25519 private key, PKCS#8 PEM (mode 0600) -> CAMD_SIGNING_KEY_FILE
#     DIR/update-keys.json       trusts exactly that key                       -> CAMD_UPDATE_KEYS_FILE
# Refuses a DIR inside the repository (a private key there is one `git add` from being published)
# and refuses to overwrite an existing key (releases signed with it would stop verifying).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd -P)
fail() { echo "dev-keys: $*" >&2; exit 1; }
(($# == 1)) || fail "usage: dev-keys.sh DIR (outside the repository)"
dir=$(realpath -m -- "$1")
[[ $dir == "$repo" || $dir == "$repo"/* ]] && fail "$dir is inside the repository ($repo): keep signing keys out of it"
key=$dir/camd-dev-signing.pem keys=$dir/update-keys.json
[[ -e $key ]] && fail "$key exists: not overwriting a signing key (remove it yourself if you mean to)"
mkdir -p "$dir"

# node rather than openssl: the build machine always has it, and the key id is computed the same
# way as on the device (sha256 of the raw 32-byte public key, first 16 hex digits).
KEY=$key KEYS=$keys node --input-type=module -e "
  import { generateKeyPairSync } from 'node:crypto';
  import { writeFileSync } from 'node:fs';
  import { keyIdOf } from '$here/sign-manifest.mjs';
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  writeFileSync(process.env.KEY, privateKey.export({ format: 'pem', type: 'pkcs8' }), { mode: 0o600, flag: 'wx' });
  const entry = { id: keyIdOf(publicKey), publicKey: publicKey.export({ format: 'der', type: 'spki' }).toString('base64'),
    comment: 'camd development key (dev-keys.sh, ' + new Date().toISOString().slice(0, 10) + '): never on a production device' };
  writeFileSync(process.env.KEYS, JSON.stringify({ keys: [entry] }, null, 2) + '\n');
  process.stderr.write('dev-keys: key ' + entry.id + '\n');
"
echo "CAMD_SIGNING_KEY_FILE=$key"
echo "CAMD_UPDATE_KEYS_FILE=$keys"
