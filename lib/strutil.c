#include "strutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"

void str_escape(char *dst, size_t size, const char *src, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0, i;

	if (size == 0)
		return;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)src[i];
		size_t need = (c >= 0x20 && c < 0x7f && c != '\\') ? 1 : 4;

		/* keep room for "..." and the NUL */
		if (o + need + 4 > size)
			break;
		if (need == 1) {
			dst[o++] = (char)c;
		} else {
			dst[o++] = '\\';
			dst[o++] = 'x';
			dst[o++] = hex[c >> 4];
			dst[o++] = hex[c & 15];
		}
	}
	if (i < len && size >= 4) {
		while (o + 4 > size)
			o--;
		memcpy(dst + o, "...", 3);
		o += 3;
	}
	dst[o] = '\0';
}

int str_to_u64(const char *s, unsigned long long min, unsigned long long max,
	       unsigned long long *out)
{
	unsigned long long v = 0;

	if (!s || !*s)
		return HAIL_E_USAGE;
	for (; *s; s++) {
		unsigned d = (unsigned)(*s - '0');

		if (*s < '0' || *s > '9')
			return HAIL_E_USAGE;
		if (v > max / 10 || d > max - v * 10)
			return HAIL_E_USAGE;
		v = v * 10 + d;
	}
	if (v < min)
		return HAIL_E_USAGE;
	*out = v;
	return 0;
}

bool str_has_prefix(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

char *str_concat(const char *a, const char *b, const char *c)
{
	size_t la = strlen(a), lb = strlen(b), lc = c ? strlen(c) : 0;
	char *s = malloc(la + lb + lc + 1);

	if (!s)
		return NULL;
	memcpy(s, a, la);
	memcpy(s + la, b, lb);
	if (c)
		memcpy(s + la + lb, c, lc);
	s[la + lb + lc] = '\0';
	return s;
}
