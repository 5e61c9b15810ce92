# shellcheck shell=bash
# Shared by scripts/image-* (sourced, not run): engine, names, helpers. Everything comes from the
# environment the make targets set (mk/container.mk); the defaults let the scripts run on their own.
REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
if [[ -z ${ENGINE:-} ]]; then
  if command -v podman >/dev/null 2>&1; then ENGINE=podman
  elif command -v docker >/dev/null 2>&1; then ENGINE=docker
  else ENGINE=podman; fi
fi
ENGINE_NAME=$(basename "$ENGINE")
case $ENGINE_NAME in podman | docker) ;; *) echo "ENGINE must be podman or docker, got '$ENGINE'" >&2; exit 2 ;; esac
if [[ -z ${IMAGE:-} ]]; then
  IMAGE=swift-microepoch
  [[ $ENGINE_NAME == podman ]] && IMAGE=localhost/swift-microepoch
fi
REV=${REV:-$(git -C "$REPO_ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)}
BRANCH=${BRANCH:-$(git -C "$REPO_ROOT" rev-parse --abbrev-ref HEAD 2>/dev/null || echo unknown)}
# podman needs runc and lowered ulimits on these machines (deploy/containers.conf).
if [[ $ENGINE_NAME == podman && -z ${CONTAINERS_CONF:-} ]]; then
  export CONTAINERS_CONF=$REPO_ROOT/deploy/containers.conf
fi

need_engine() {
  command -v "$ENGINE" >/dev/null 2>&1 \
    || { echo "$ENGINE not found: run 'make deps' (tools/apt/container.txt installs podman), or ENGINE=docker" >&2; exit 1; }
}

# run CMD...: print the command, then run it (DRY_RUN=1: only print it).
run() {
  printf '+'; printf ' %q' "$@"; printf '\n'
  [[ ${DRY_RUN:-0} == 1 ]] || "$@"
}

# run_quiet CMD...: like run, without the command's own stdout (e.g. a container id).
run_quiet() {
  printf '+'; printf ' %q' "$@"; printf '\n'
  [[ ${DRY_RUN:-0} == 1 ]] || "$@" >/dev/null
}

human_size() { numfmt --to=si --suffix=B --format='%.2f' "$1" 2>/dev/null || echo "$1 B"; }

now_ms() { local t=${EPOCHREALTIME//[!0-9]/}; echo $((t / 1000)); }
# since START_MS: elapsed seconds with one decimal
elapsed_s() { local d=$(($(now_ms) - $1)); printf '%d.%d' $((d / 1000)) $((d % 1000 / 100)); }
