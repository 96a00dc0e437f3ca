#!/usr/bin/env bash
# Build one Tsunagu release on the controller (run by the webapp role, delegate_to localhost, run_once).
#
#   build-release.sh SOURCE_DIR BUILD_DIR PYTHON [pip args...]
#
# The release id is <version>-<hash>, the hash being of the files that go into the release (app/,
# migrations/, pyproject.toml, requirements.lock, babel.cfg), so the same tree always gives the same id
# and a second deploy builds nothing. The result is BUILD_DIR/<id>.tar with:
#   wheels/      tsunagu-<version>-py3-none-any.whl and every dependency as a wheel, exactly the versions
#                and hashes of requirements.lock (the ones `make audit-deps` audits); the guests have
#                no index: they install with pip --no-index --find-links
#   migrations/  Alembic revisions for `flask db upgrade -d`
#   docs/        the operator documents the units link to
# Prints one JSON line: {"release": ID, "tarball": PATH, "built": true|false, "python": "3.11"}.
set -euo pipefail
src=$(cd "$1" && pwd)
out=$2
py=$3
shift 3

cd "$src"
version=$("$py" -c 'import tomllib; print(tomllib.load(open("pyproject.toml", "rb"))["project"]["version"])')
hash=$(find app migrations pyproject.toml requirements.lock babel.cfg -type f \
         ! -path '*/__pycache__/*' ! -name '*.pyc' ! -name '*.mo' -print0 \
       | LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum | cut -c1-10)
release="$version-$hash"
pyver=$("$py" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
tarball="$out/$release.tar"

if [ -s "$tarball" ]; then
  printf '{"release": "%s", "tarball": "%s", "built": false, "python": "%s"}\n' "$release" "$tarball" "$pyver"
  exit 0
fi

mkdir -p "$out"
work=$(mktemp -d "$out/.build-$release.XXXXXX")
trap 'rm -rf "$work"' EXIT

# a clean copy of what goes into the wheel, with the compiled message catalogs
mkdir "$work/src" "$work/rel" "$work/rel/wheels" "$work/rel/docs"
tar -C "$src" --exclude='__pycache__' --exclude='*.pyc' -cf - app migrations pyproject.toml babel.cfg README.md \
  | tar -C "$work/src" -xf -
"$py" -m babel.messages.frontend compile --statistics -d "$work/src/app/translations" -D messages >&2

"$py" -m pip wheel -q --no-deps --wheel-dir "$work/rel/wheels" "$work/src" "$@" >&2
"$py" -m pip wheel -q --require-hashes --wheel-dir "$work/rel/wheels" "$@" -r "$src/requirements.lock" >&2
cp -a "$work/src/migrations" "$work/rel/migrations"
find "$work/rel/migrations" -name '__pycache__' -prune -exec rm -rf {} +
cp -a "$src"/docs/*.md "$work/rel/docs/"
printf '%s\n' "$release" > "$work/rel/RELEASE"

tar -C "$work/rel" -cf "$work/release.tar" .
mv "$work/release.tar" "$tarball"
printf '{"release": "%s", "tarball": "%s", "built": true, "python": "%s"}\n' "$release" "$tarball" "$pyver"
