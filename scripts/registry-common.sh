# shellcheck shell=bash
# Shared by scripts/registry-up and scripts/registry-down (sourced, not run).
# State directory layout (REGISTRY_STATE, default .cache/registry; nothing in it is committed):
#   secret/         0700: password (0600, never printed), htpasswd (bcrypt), http-secret, tls.key, tls.crt
#   ca.crt          the self-signed certificate clients trust (SANs: localhost, 127.0.0.1)
#   certs.d/HOST:PORT/ca.crt   for `podman --cert-dir` / /etc/containers/certs.d
#   registry/       working directory of docker-registry; registry.pid, registry.log
#   nginx/          rendered nginx.conf + registry.conf, nginx.pid, logs, temp dirs
#   data/           the registry's storage
#   port            the TLS port the running proxy listens on
REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
REGISTRY_STATE=$(realpath -m "${REGISTRY_STATE:-$REPO_ROOT/.cache/registry}")
REGISTRY_PORT=${REGISTRY_PORT:-5443}
REGISTRY_USER=${REGISTRY_USER:-epoch}
NGINX=${NGINX:-$(command -v nginx || echo /usr/sbin/nginx)}

# registry_pid: prints the pid of the docker-registry this state directory started, if it still runs.
registry_pid() {
  local pid
  pid=$(cat "$REGISTRY_STATE/registry/registry.pid" 2>/dev/null) || return 1
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  # Ours: the docker-registry executable, started with its working directory in our state dir.
  [[ $(readlink "/proc/$pid/exe" 2>/dev/null) == */docker-registry ]] || return 1
  [[ $(readlink "/proc/$pid/cwd" 2>/dev/null) == "$REGISTRY_STATE/registry" ]] || return 1
  echo "$pid"
}

# nginx_pid: prints the pid of the nginx master this state directory started, if it still runs.
nginx_pid() {
  local pid
  pid=$(cat "$REGISTRY_STATE/nginx/nginx.pid" 2>/dev/null) || return 1
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "-c $REGISTRY_STATE/nginx/nginx.conf" || return 1
  echo "$pid"
}

# stop_pid NAME PID SIGNAL: signal, wait up to 15 s, then SIGKILL.
stop_pid() {
  local name=$1 pid=$2 sig=$3 i
  echo "registry: stopping $name (pid $pid, SIG$sig)"
  kill "-$sig" "$pid" 2>/dev/null || return 0
  for ((i = 0; i < 150; i++)); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.1
  done
  echo "registry: $name (pid $pid) ignored SIG$sig for 15 s: SIGKILL" >&2
  kill -KILL "$pid" 2>/dev/null || true
}
