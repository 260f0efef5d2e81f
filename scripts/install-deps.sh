#!/usr/bin/env bash
# Installs the Debian packages ticketgate builds, tests and benchmarks with.
# The same list is used by the README, .ci/run and docker/Dockerfile.
set -euo pipefail
PKGS="build-essential cmake pkg-config libcivetweb-dev libjwt-dev libssl-dev
libjansson-dev libyaml-dev libsqlite3-dev libcmocka-dev libcurl4-openssl-dev
openssl python3 python3-jsonschema curl wrk valgrind nodejs groovy
default-jre-headless chromium"
missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing
