#!/usr/bin/env bash
# Installs everything Tessera needs to build, test and plot, from Debian 12 packages.
# Run as root (or with sudo) on a fresh Debian 12 machine.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends \
  g++ make cmake ninja-build pkg-config ca-certificates git \
  libsystemc-dev verilator catch2 libboost-dev libyaml-cpp-dev nlohmann-json3-dev \
  libcli11-dev libfmt-dev protobuf-compiler libprotobuf-dev \
  openmpi-bin libopenmpi-dev python3 python3-matplotlib clang-format >/dev/null
echo "tessera: dependencies installed"
