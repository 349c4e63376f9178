#!/bin/sh
# Prints the CHANGELOG section of one version (the lines under "## [X.Y.Z]" up
# to the next "## " heading), for the notes of its GitHub release. Fails when
# the version has no section or an empty one: a release is never published
# without saying what changed.
#   scripts/changelog-section.sh 1.2.3 [CHANGELOG.md]
set -eu
version=${1:?usage: changelog-section.sh X.Y.Z [CHANGELOG.md]}
file=${2:-CHANGELOG.md}
if ! printf '%s\n' "$version" | grep -Eqx '[0-9]+\.[0-9]+\.[0-9]+'; then
  echo "changelog-section: $version is not X.Y.Z" >&2
  exit 2
fi
section=$(awk -v heading="## [$version]" '
  index($0, heading) == 1 { found = 1; next }
  found && /^## / { exit }
  found { print }
' "$file")
if [ -z "$(printf '%s' "$section" | tr -d '[:space:]')" ]; then
  echo "changelog-section: $file has no section \"## [$version]\" (or it is empty): add one before tagging v$version" >&2
  exit 1
fi
printf '%s\n' "$section" | sed -e '/./,$!d'
