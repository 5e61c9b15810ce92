#!/bin/sh
# One-shot start-up check of the production registry (deploy/registry/compose.yaml, service
# registry-init), run as root with only CAP_CHOWN: it gives the data volume to the registry's uid
# (the registry itself runs as REGISTRY_UID with every capability dropped, so it could neither
# chown nor write a root-owned volume) and fails with one readable line when the htpasswd file is
# missing, empty, a directory, or unreadable by that uid. The registry starts only after it succeeded.
#   REGISTRY_UID (65532), REGISTRY_DATA (/var/lib/registry), REGISTRY_HTPASSWD (/auth/htpasswd)
set -eu
uid=${REGISTRY_UID:-65532}
data=${REGISTRY_DATA:-/var/lib/registry}
htpasswd=${REGISTRY_HTPASSWD:-/auth/htpasswd}

fail() { echo "registry-init: $*" >&2; exit 1; }

if [ -d "$htpasswd" ]; then
  fail "$htpasswd is a directory: secrets/htpasswd was missing when the container was created (create it with htpasswd -B, then docker compose up again)"
fi
[ -f "$htpasswd" ] || fail "$htpasswd is missing: create secrets/htpasswd with htpasswd -B (docs/container.md)"
[ -s "$htpasswd" ] || fail "$htpasswd is empty: add a user with htpasswd -B -i secrets/htpasswd USER < password-file"
grep -qE '^[^:]+:[$]2[aby][$]' "$htpasswd" || fail "$htpasswd has no bcrypt entry (htpasswd -B): the registry accepts bcrypt only"
# Readable by the registry's uid, which has no CAP_DAC_OVERRIDE: other-readable, or group REGISTRY_UID.
perm=$(stat -c '%a %g' "$htpasswd")
mode=${perm% *}
group=${perm#* }
other=$((0$mode % 8))
group_bits=$(((0$mode / 8) % 8))
if [ $((other & 4)) -eq 0 ] && { [ "$group" != "$uid" ] || [ $((group_bits & 4)) -eq 0 ]; }; then
  fail "$htpasswd (mode $mode, group $group) is not readable by uid $uid: chgrp $uid secrets/htpasswd && chmod 0640 secrets/htpasswd"
fi
echo "registry-init: chown -R $uid:$uid $data"
chown -R "$uid:$uid" "$data"
echo "registry-init: ok ($htpasswd has $(grep -c '^[^:]*:' "$htpasswd") user(s))"
