#!/bin/sh
# nginx image start-up hook (mounted into /docker-entrypoint.d/): reloads nginx when the TLS
# certificate file changes, e.g. after certbot renewed it on the host (/etc/letsencrypt is mounted
# read-only). It checks the certificate's modification time every RELOAD_CHECK_SECONDS (3600) in the
# background and runs `nginx -s reload`, which re-reads certificates without dropping connections.
#   REGISTRY_TLS_CERT (the certificate nginx serves), RELOAD_CHECK_SECONDS
set -eu
cert=${REGISTRY_TLS_CERT:?REGISTRY_TLS_CERT is not set}
interval=${RELOAD_CHECK_SECONDS:-3600}

mtime() { stat -L -c %Y "$cert" 2>/dev/null || echo missing; }

watch() {
  seen=$(mtime)
  while sleep "$interval"; do
    now=$(mtime)
    if [ "$now" != "$seen" ]; then
      echo "reload-on-renewal: $cert changed: nginx -s reload"
      nginx -s reload || echo "reload-on-renewal: nginx -s reload failed; the old certificate stays in use" >&2
      seen=$now
    fi
  done
}

echo "reload-on-renewal: watching $cert every ${interval}s"
watch &
