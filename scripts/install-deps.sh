#!/usr/bin/env bash
# Installs the Debian packages ticketgate builds, tests and benchmarks with.
# The same list is used by the README, .ci/run and docker/Dockerfile.
set -euo pipefail
PKGS="build-essential cmake pkg-config libcivetweb-dev libjwt-dev libssl-dev
libjansson-dev libyaml-dev libsqlite3-dev libpq-dev libcmocka-dev libcurl4-openssl-dev
openssl python3 python3-jsonschema curl wrk valgrind nodejs groovy
default-jre-headless chromium"
# The PostgreSQL server the store's tests start (scripts/pg-test.sh); where
# it cannot be installed those tests are skipped, the rest still run.
OPTIONAL="postgresql"
missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
optional=""
for p in $OPTIONAL; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || optional="$optional $p"
done
[ -z "$missing$optional" ] && exit 0
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing
if [ -n "$optional" ]; then
    # shellcheck disable=SC2086
    $SUDO apt-get install -y -qq --no-install-recommends $optional ||
        echo "install-deps: could not install$optional; the PostgreSQL tests will be skipped" >&2
fi
