/* Finding hail's settings in EC2 user-data (protocols.md, "User-data as
 * cloud-init sees it"): plain JSON, gzip-compressed, or a MIME multipart
 * where one part is the JSON, so that hail's settings live beside
 * #cloud-config parts. A part may be base64 or quoted-printable (what mail
 * libraries such as Python's email package write); a UTF-8 byte-order mark
 * before the JSON (or the whole user-data) is skipped. Everything is bounded
 * by USERDATA_MAX. */
#ifndef HAIL_USERDATA_H
#define HAIL_USERDATA_H

#include <stddef.h>

#include "error.h"

#define USERDATA_MAX (16 * 1024)

/* On success returns 0 with *json (malloc'd, NUL-terminated, *json_len
 * bytes) the text of a JSON object with a top-level "hail" key, or *json NULL
 * when the user-data holds no hail settings (a #cloud-config, a script).
 * HAIL_E_USAGE with the reason in *e when it is malformed: corrupt gzip,
 * over the size limit, broken MIME, a part that is not valid base64 or
 * quoted-printable, or hail JSON that does not parse. */
int userdata_extract(const char *data, size_t len, char **json, size_t *json_len,
		     struct hail_errbuf *e);

#endif
