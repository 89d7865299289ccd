/* Profile names, one rule for both programs.
 *
 * A name is one or more segments joined by "/", each of 1-64 characters
 * from A-Z a-z 0-9 - _ . not starting with "." or "-"; the profile is
 * /nix/var/nix/profiles/NAME. hail-bootstrap takes one segment only (the
 * name is also a systemd instance and a file name under /etc/hail); hail
 * also takes an absolute path.
 *
 * The state of a profile lives under STATE_DIR/STATE-NAME, where STATE-NAME
 * is the name relative to the profiles folder (or the whole absolute path)
 * with every byte outside A-Z a-z 0-9 - _ . written as %XX: "a/b" is
 * "a%2Fb", never the same as "a-b"'s. */
#ifndef HAIL_PROFILENAME_H
#define HAIL_PROFILENAME_H

#include <stdbool.h>
#include <stddef.h>

#define PROFILES_DIR "/nix/var/nix/profiles"
#define PROFILE_SEGMENT_MAX 64
#define PROFILE_NAME_MAX 255

/* One segment: what the bootstrap accepts as a profile name. */
bool profile_segment_valid(const char *s, size_t len);

/* A name of one or more segments. */
bool profile_name_valid(const char *name);

/* The state name of an absolute profile path (malloc'd, NULL on OOM). */
char *profile_state_name(const char *path);

/* The other way, for "hail status": the name as the operator gave it
 * (relative to the profiles folder, or absolute). False when name is not
 * a state name. */
bool profile_state_name_decode(const char *name, char *out, size_t size);

#endif
