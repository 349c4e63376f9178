#!/bin/sh
# The monitoring stack's release tag. It uses the prelude and nr_git (the tool functions). What changes the NAS comes
# from the program as functions it defines (the commands, or in a dry run the lines saying what would run):
# nr_tag_create, nr_tag_pushing.

# nr_tag_release REPO TAG COMMIT: creates the annotated release tag (nr_tag_create), or reuses it on a re-run
nr_tag_release() {
  nr_has=$(nr_git -C "$1" rev-parse --verify --quiet "refs/tags/$2^{commit}" || true)
  if [ "$nr_has" = "$3" ]; then nr_say ok "Tag $2 already exists on this commit (a re-run): reusing it"
  elif [ -n "$nr_has" ]; then nr_say fail "Tag $2 exists on another commit ($nr_has)"; exit "$NR_EXIT_TAG_ON_ANOTHER_COMMIT"
  elif nr_tag_create; then nr_say ok "Created tag $2"
  else exit "$NR_EXIT_TAG_NOT_CREATED"
  fi
}

# nr_tag_push REPO REMOTE TAG: pushes the tag (nr_tag_pushing); a failed push is a warning saying how to push by hand
nr_tag_push() {
  if nr_tag_pushing 2>&1; then nr_say ok "Pushed $3 to $2"
  else nr_say warn "Could not push $3 to $2 (no credentials on the NAS?). Push it by hand: git -C $1 push $2 refs/tags/$3"; fi
}
