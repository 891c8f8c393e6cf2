#!/usr/bin/env bash
# Rebase the current branch onto main (or $1) when both changed go.mod
# files: a go.mod/go.sum conflict takes main's side, then the module tool
# as built from the branch tip (once, before the rebase) re-derives every
# module's go.mod, go.sum and go.work at each replayed commit, seeding each
# from the versions the modules pin, so each commit stays tidy; any other
# conflict stops for a hand (resolve, git add, rerun). Run from the root:
#   internal/tools/modules/rebase.sh main
# then make tidy (no diff expected), make check-line check-generate, tests.
#
# The tool and this script are kept in the worktree's git folder for the
# whole rebase: mid-rebase, the tree holds an older commit, whose tool may
# differ and which may not have this script at all, so the rerun after a
# hand resolution is the copy this prints.
set -euo pipefail
state=$(git rev-parse --path-format=absolute --git-path tracebound-rebase)
rebasing() { [ -d "$(git rev-parse --git-path rebase-merge)" ] || [ -d "$(git rev-parse --git-path rebase-apply)" ]; }
if ! rebasing; then
  rm -rf "$state" && mkdir -p "$state"
  cp "$0" "$state/rebase.sh"
  (cd internal/tools && GOWORK=off go build -o "$state/modules" ./modules)
  git rebase "${1:-main}" || true
elif [ ! -x "$state/modules" ]; then
  echo "a rebase is under way that $0 did not start: finish or abort it first" >&2
  exit 1
fi
while rebasing; do
  for f in $(git diff --name-only --diff-filter=U); do
    case "$f" in
      go.mod|go.sum|*/go.mod|*/go.sum) git checkout --ours -- "$f" ;;
      *) echo "resolve by hand (keep both sides' intent), git add it, then rerun $state/rebase.sh: $f"; exit 1 ;;
    esac
  done
  "$state/modules" sync -root . -version "${VERSION:-v0.165.0}" >/dev/null
  git add -A
  if ! GIT_EDITOR=true git rebase --continue && [ -z "$(git diff --name-only --diff-filter=U)" ]; then
    echo "git rebase --continue stopped without a conflict (see above); once done, rerun $state/rebase.sh" >&2
    exit 1
  fi
done
rm -rf "$state"
