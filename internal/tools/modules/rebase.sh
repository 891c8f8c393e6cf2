#!/usr/bin/env bash
# Rebase the current branch onto main (or $1) when both changed go.mod
# files: a go.mod/go.sum conflict takes main's side, then the module tool
# as built from the branch tip (once, before the rebase) re-derives every
# module's go.mod, go.sum and go.work at each replayed commit, seeding each
# from the versions the modules pin, so each commit stays tidy; any other
# conflict stops for a hand (resolve, git add, rerun). Run from the root:
#   internal/tools/modules/rebase.sh main
# then make tidy (no diff expected), make check-line check-generate, tests.
set -euo pipefail
tool=$(mktemp -d)/modules
(cd internal/tools && GOWORK=off go build -o "$tool" ./modules)
rebasing() { [ -d "$(git rev-parse --git-path rebase-merge)" ] || [ -d "$(git rev-parse --git-path rebase-apply)" ]; }
rebasing || git rebase "${1:-main}" || true
while rebasing; do
  for f in $(git diff --name-only --diff-filter=U); do
    case "$f" in
      go.mod|go.sum|*/go.mod|*/go.sum) git checkout --ours -- "$f" ;;
      *) echo "resolve by hand (keep both sides' intent), git add it, then rerun $0: $f"; exit 1 ;;
    esac
  done
  "$tool" sync -root . -version "${VERSION:-v0.165.0}" >/dev/null
  git add -A
  GIT_EDITOR=true git rebase --continue || true
done
