#include "profilename.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "strutil.h"

static bool plain(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		c == '-' || c == '_' || c == '.';
}

bool profile_segment_valid(const char *s, size_t len)
{
	if (len == 0 || len > PROFILE_SEGMENT_MAX || s[0] == '.' || s[0] == '-')
		return false;
	for (size_t i = 0; i < len; i++)
		if (!plain(s[i]))
			return false;
	return true;
}

bool profile_name_valid(const char *name)
{
	const char *seg = name;

	if (strlen(name) > PROFILE_NAME_MAX)
		return false;
	for (;;) {
		const char *slash = strchr(seg, '/');
		size_t len = slash ? (size_t)(slash - seg) : strlen(seg);

		if (!profile_segment_valid(seg, len))
			return false;
		if (!slash)
			return true;
		seg = slash + 1;
	}
}

char *profile_state_name(const char *path)
{
	const char *rel = str_has_prefix(path, PROFILES_DIR "/") ? path + sizeof(PROFILES_DIR) : path;
	size_t n = strlen(rel);
	char *name = malloc(n * 3 + 1), *o = name;

	if (!name)
		return NULL;
	for (const char *p = rel; *p; p++) {
		if (plain(*p)) {
			*o++ = *p;
		} else {
			snprintf(o, 4, "%%%02X", (unsigned char)*p);
			o += 3;
		}
	}
	*o = '\0';
	return name;
}

static int hex(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

bool profile_state_name_decode(const char *name, char *out, size_t size)
{
	size_t o = 0;

	for (const char *p = name; *p; p++) {
		int c = (unsigned char)*p;

		if (*p == '%') {
			if (hex(p[1]) < 0 || hex(p[2]) < 0)
				return false;
			c = hex(p[1]) * 16 + hex(p[2]);
			p += 2;
		} else if (!plain(*p)) {
			return false;
		}
		if (o + 1 >= size || c == 0)
			return false;
		out[o++] = (char)c;
	}
	out[o] = '\0';
	return o > 0;
}
