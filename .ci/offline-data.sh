#!/usr/bin/env bash
# Build an MNISTLIB_DATA folder from the offline copies in ../shared/data (no internet here).
# Every folder F/ of SHARED_DATA_DIR is a dataset's folder, named as in mnistlib's registry (MNIST/, QMNIST/,
# or a newly registered one): TARGET_DIR/F/ gets links to its files, so a new dataset needs no edit here.
# Where F-standin/ lies beside F/ (QMNIST-standin/: MNIST's images + the real QMNIST labels, test10k only),
# TARGET_DIR/F/ links the stand-in's files instead, plus F's LICENSE: the stand-in is a set whose rows match,
# and F's own files would not pair with them. mnistlib recognises the stand-in by checksum and labels every
# result computed on it.
# Usage: .ci/offline-data.sh SHARED_DATA_DIR TARGET_DIR
set -euo pipefail
src=$(cd "${1:?shared data folder}" && pwd)
dst=${2:?target folder}
for dir in "$src"/*/; do
  folder=$(basename "$dir")
  case $folder in *-standin) continue ;; esac
  from=$src/$folder
  if [ -d "$from-standin" ]; then from=$from-standin; fi
  mkdir -p "$dst/$folder"
  for f in "$from"/*; do
    if [ -f "$f" ]; then ln -sf "$f" "$dst/$folder/"; fi
  done
  if [ "$from" != "$src/$folder" ] && [ -f "$src/$folder/LICENSE" ]; then
    ln -sf "$src/$folder/LICENSE" "$dst/$folder/LICENSE"
  fi
done
echo "offline data folder: $dst"
