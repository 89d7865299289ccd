/* A Nix profile as hail drives it (protocols.md and testing.md, "profiles").
 *
 * P is a symlink to P-N-link, which points at a store path; nix-env --set
 * makes a new generation and repoints P atomically. hail reads where P points,
 * switches it with nix-env (never by hand), and runs P/bin/activate. */
#ifndef HAIL_PROFILE_H
#define HAIL_PROFILE_H

#include "error.h"
#include "child.h"
#include "profilename.h"

/* A name under PROFILES_DIR (profilename.h's rule) or an absolute path;
 * *path is malloc'd. HAIL_E_USAGE when the name is unsafe. */
int profile_path(const char *name, char **path, struct hail_errbuf *e);

/* The store path P points to, malloc'd in *store_path; NULL when the profile
 * does not exist yet. HAIL_E_NIX when it exists but is not a profile. */
int profile_current(const char *path, char **store_path, struct hail_errbuf *e);

/* The generation number N of the link P points to (P-N-link); 0 when the
 * profile does not exist or its link is not a generation. */
long profile_generation(const char *path);

/* nix-env --profile P --switch-generation N (a rollback to a chosen
 * generation: --rollback would take the next lower number, which is not
 * always the one that was active). */
int profile_switch_generation(const char *path, long generation, unsigned timeout_s,
			      struct hail_errbuf *e);

/* Takes the lock next to the profile (P.hail.lock, not Nix's own P.lock,
 * which nix-env takes itself), waiting up to wait_s. *fd is the lock; close it
 * to release. HAIL_E_BUSY when another process kept it. */
int profile_lock(const char *path, unsigned wait_s, int *fd, struct hail_errbuf *e);

/* nix-env --profile P --set STORE_PATH; the store path must be valid. */
int profile_set(const char *path, const char *store_path, unsigned timeout_s,
		struct hail_errbuf *e);

/* Runs P/bin/activate. HAIL_E_ACTIVATE when it is missing, fails or times
 * out; *res (may be NULL) says how it ended. */
int profile_activate(const char *path, unsigned timeout_s, struct child_result *res,
		     struct hail_errbuf *e);

/* Runs P/bin/health-check, when the build has one: HAIL_E_NOT_FOUND when
 * it has none, else as profile_activate(). */
int profile_health_check(const char *path, unsigned timeout_s, struct child_result *res,
			 struct hail_errbuf *e);

#endif
