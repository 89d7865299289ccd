/* RFC 3339 times, as AWS writes them ("2026-11-25T12:00:00Z") and as operators
 * write a pause's end ("2026-11-25T14:00:00+01:00"). */
#ifndef HAIL_RFC3339_H
#define HAIL_RFC3339_H

#include <stddef.h>
#include <time.h>

/* Parses a full date-time with "Z" or a numeric offset; fractional seconds
 * are accepted and dropped. Returns 0 or HAIL_E_PROTOCOL. */
int rfc3339_parse(const char *s, time_t *out);

/* Writes t as UTC with seconds: "2026-11-25T12:00:00Z" (size >= 21). */
void rfc3339_format(time_t t, char *buf, size_t size);

#endif
