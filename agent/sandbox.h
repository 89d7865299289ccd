/* The fetcher's confinement (README, "Privilege separation"), entered once,
 * before it opens any connection:
 *
 *   - its own user: every uid and gid that user's, no supplementary groups,
 *     an empty capability bounding set (from root; a hail run by another
 *     user stays that user);
 *   - PR_SET_NO_NEW_PRIVS: no set-uid or file capability can give any back;
 *   - Landlock, where the kernel has it: files can be read only below the
 *     paths sandbox_read_paths lists (CA store, resolver files, libraries),
 *     and nothing can be written, made, removed or executed anywhere;
 *   - a seccomp filter (libseccomp) allowing the calls libcurl, OpenSSL and
 *     glibc's resolver make, and clone only for threads (libcurl's resolver
 *     thread): no exec, no fork, no ptrace, no mount, no kill of another
 *     process. Any other call raises SIGSYS, whose handler writes the call's
 *     number to stderr and ends the fetcher, so that the root side's log
 *     names what was refused. */
#ifndef HAIL_SANDBOX_H
#define HAIL_SANDBOX_H

#include <stdbool.h>
#include <sys/types.h>

#include "error.h"

#define SANDBOX_DEFAULT_USER "hail"
#define SANDBOX_FALLBACK_USER "nobody"

/* The fetcher's exit status after its filter refused a call (EX_SOFTWARE). */
#define SANDBOX_REFUSED_STATUS 70

struct sandbox_user {
	uid_t uid;
	gid_t gid;
	char name[64];
	bool switch_to;         /* false: hail does not run as root, stays who it is */
};

/* Looks up the fetcher's user, as root before the fork. A missing default
 * user ("hail", which the image and the package create) falls back to
 * "nobody" with *fell_back set, so that a new hail deployed onto an older
 * image keeps working; a missing user that was asked for by name, a user
 * that is root, or no "nobody" either is HAIL_E_USAGE. Not root: nothing to
 * switch. */
int sandbox_find_user(const char *name, bool named, struct sandbox_user *u, bool *fell_back,
		      struct hail_errbuf *e);

/* Confines the calling process as above, and has the kernel kill it when
 * parent dies; extra_read is one more file it may read, or NULL. Call from a single-threaded process. Returns 0,
 * or HAIL_E_INTERNAL with the step that failed (the caller must then exit:
 * a half-confined fetcher must not go on). *landlock says whether the kernel
 * took the Landlock rules. */
int sandbox_enter(const struct sandbox_user *u, pid_t parent, const char *extra_read,
		  bool *landlock, struct hail_errbuf *e);

#endif
