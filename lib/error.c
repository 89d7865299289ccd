#include "error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const char *hail_err_str(int err)
{
	switch (err) {
	case HAIL_OK: return "success";
	case HAIL_E_INTERNAL: return "internal error";
	case HAIL_E_USAGE: return "usage error";
	case HAIL_E_NETWORK: return "network error";
	case HAIL_E_HTTP: return "HTTP error";
	case HAIL_E_PROTOCOL: return "protocol error";
	case HAIL_E_NOT_FOUND: return "not found";
	case HAIL_E_NIX: return "nix-env failed";
	case HAIL_E_ACTIVATE: return "activation failed";
	case HAIL_E_BUSY: return "profile busy";
	case HAIL_E_INTERRUPTED: return "interrupted";
	case HAIL_E_HELD: return "held";
	case HAIL_E_NO_SPACE: return "not enough disk space";
	}
	return "unknown error";
}

int hail_fail(struct hail_errbuf *e, int code, const char *fmt, ...)
{
	va_list ap;

	if (!e)
		return code;
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	va_end(ap);
	return code;
}

int hail_wrap(struct hail_errbuf *e, int code, const char *fmt, ...)
{
	char reason[sizeof(e->msg)];
	va_list ap;
	int n;

	if (!e)
		return code;
	memcpy(reason, e->msg, sizeof(reason));
	va_start(ap, fmt);
	n = vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	va_end(ap);
	if (n >= 0 && (size_t)n < sizeof(e->msg))
		snprintf(e->msg + n, sizeof(e->msg) - (size_t)n, ": %s", reason);
	return code;
}
