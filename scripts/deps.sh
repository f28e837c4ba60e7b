#!/bin/sh
# Install lienthong's build and test dependencies from Debian packages.
# Idempotent: when every package is already installed it only checks and exits.
#   --fuzz   also clang and its libFuzzer runtime (make fuzz)
#   --bench  also redis-server, nats-server and their C clients (make bench)
set -eu

# libcurl and json-c: the HTTP link to the national portal (daemon/link_http.c);
# libmicrohttpd: the fake portal the tests run against (tests/fakeportal);
# zlib: crc32 for the ingest journal's records (daemon/journal.c).
PKGS="build-essential cmake pkg-config
libzmq3-dev libprotobuf-c-dev protobuf-c-compiler liblmdb-dev lmdb-utils libyaml-dev
libsystemd-dev libcmocka-dev libcurl4-openssl-dev libjson-c-dev libmicrohttpd-dev zlib1g-dev"

for arg in "$@"; do
    case "$arg" in
    --fuzz) PKGS="$PKGS clang libclang-rt-14-dev" ;;
    --bench) PKGS="$PKGS redis-server nats-server libhiredis-dev libnats-dev" ;;
    *)
        echo "usage: $0 [--fuzz] [--bench]" >&2
        exit 2
        ;;
    esac
done

missing=""
for p in $PKGS; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $p"
    fi
done

if [ -z "$missing" ]; then
    echo "deps: all packages present"
    exit 0
fi

echo "deps: installing:$missing"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
# shellcheck disable=SC2086
$SUDO apt-get install -y -q --no-install-recommends $missing
