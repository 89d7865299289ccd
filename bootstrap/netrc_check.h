/* Checking a netrc text before it is written (man 5 netrc, curl's format).
 *
 * libcurl and Nix parse the file themselves; this only refuses text they
 * would misread, so a typo in user-data fails the bootstrap instead of every
 * later download. Errors name lines and keywords, never a login or password. */
#ifndef HAIL_NETRC_CHECK_H
#define HAIL_NETRC_CHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "error.h"

#define NETRC_MAX (8 * 1024)

/* 0 when text is well-formed; *has_host tells whether a "machine" entry
 * names host (or a "default" entry exists). HAIL_E_USAGE otherwise. */
int netrc_check(const char *text, size_t len, const char *host, bool *has_host,
		struct hail_errbuf *e);

/* Prints a checked netrc to out one entry per line, each after indent, with
 * every password and account value as ******** and macros left out. */
void netrc_print_masked(const char *text, size_t len, const char *indent, FILE *out);

#endif
