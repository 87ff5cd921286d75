#!/usr/bin/env bash
# Build an MNISTLIB_DATA folder from the offline copies in ../shared/data (no internet here).
# MNIST/  : the four authentic MNIST files.
# QMNIST/ : the QMNIST stand-in (MNIST images + real QMNIST labels, test10k only);
#           mnistlib recognises it by checksum and labels every result computed on it.
# Usage: .ci/offline-data.sh SHARED_DATA_DIR TARGET_DIR
set -euo pipefail
src=$(cd "${1:?shared data folder}" && pwd)
dst=${2:?target folder}
mkdir -p "$dst/MNIST" "$dst/QMNIST"
for f in "$src"/MNIST/*.gz; do ln -sf "$f" "$dst/MNIST/"; done
for f in "$src"/QMNIST-standin/*.gz; do ln -sf "$f" "$dst/QMNIST/"; done
ln -sf "$src/QMNIST/LICENSE" "$dst/QMNIST/LICENSE"
echo "offline data folder: $dst"
