/* Small string helpers with explicit sizes. */
#ifndef HAIL_STRUTIL_H
#define HAIL_STRUTIL_H

#include <stdbool.h>
#include <stddef.h>

/* Copies at most len bytes of untrusted src into dst (size bytes, always
 * NUL-terminated) so that it is safe to log: printable ASCII stays, anything
 * else becomes \xHH, and text that does not fit ends in "...". */
void str_escape(char *dst, size_t size, const char *src, size_t len);

/* Parses a decimal integer in [min, max] with no sign, space or trailing text.
 * Returns 0 or HAIL_E_USAGE. */
int str_to_u64(const char *s, unsigned long long min, unsigned long long max,
	       unsigned long long *out);

bool str_has_prefix(const char *s, const char *prefix);

/* malloc'd "a" "b" (and "c" when not NULL), or NULL when out of memory. */
char *str_concat(const char *a, const char *b, const char *c);

#endif
