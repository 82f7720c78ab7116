#!/usr/bin/env bash
# Installs what the test suites need on a fresh Debian machine. Idempotent and quiet when done.
set -euo pipefail
need=()
for p in "$@"; do need+=("$p"); done
missing=()
for p in attr; do
	dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	if [ "$(id -u)" = 0 ]; then
		apt-get update -qq >/dev/null
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
	else
		echo "deps: missing Debian packages (run as root to install): ${missing[*]}" >&2
	fi
fi
