/* Nix store path validation (protocols.md, "Nix store paths").
 *
 * A path from Hydra is untrusted: it becomes an argument of nix-env and the
 * target of a profile. Only "/nix/store/" + 32 characters of Nix base-32 +
 * "-" + a name of at most 211 allowed characters passes; nothing is repaired. */
#ifndef HAIL_STOREPATH_H
#define HAIL_STOREPATH_H

#include <stdbool.h>
#include <stddef.h>

#define STORE_DIR "/nix/store"
#define STORE_HASH_LEN 32
#define STORE_NAME_MAX 211
#define STORE_PATH_MAX (sizeof(STORE_DIR "/") - 1 + STORE_HASH_LEN + 1 + STORE_NAME_MAX)

/* True when s (len bytes, no NUL needed) is a well-formed top-level store path.
 * When it is not and why is non-NULL, *why names the first problem found. */
bool storepath_valid(const char *s, size_t len, const char **why);

#endif
