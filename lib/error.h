/* Error codes shared by hail's programs.
 *
 * Functions return 0 on success or one of these negative codes; the code says
 * what kind of thing went wrong so that the caller can decide (retry, back off,
 * give up) and main() can turn it into an exit status. The detail goes to the
 * log at the layer that knows it. */
#ifndef HAIL_ERROR_H
#define HAIL_ERROR_H

enum hail_err {
	HAIL_OK = 0,
	HAIL_E_INTERNAL = -1,    /* out of memory, a failed system call */
	HAIL_E_USAGE = -2,       /* a bad flag, config file or setting */
	HAIL_E_NETWORK = -3,     /* connection refused, reset, timed out */
	HAIL_E_HTTP = -4,        /* an HTTP status we did not expect */
	HAIL_E_PROTOCOL = -5,    /* the peer answered, but nonsense */
	HAIL_E_NOT_FOUND = -6,   /* the peer says there is no such thing */
	HAIL_E_NIX = -7,         /* nix-env failed */
	HAIL_E_ACTIVATE = -8,    /* bin/activate failed or timed out */
	HAIL_E_BUSY = -9,        /* another process holds the profile lock */
	HAIL_E_INTERRUPTED = -10, /* SIGTERM/SIGINT asked us to stop */
	HAIL_E_HELD = -11,       /* a hold or a failed build keeps the profile */
	HAIL_E_NO_SPACE = -12    /* the next build does not fit on the store's disk */
};

/* A short lower-case noun phrase for a code, for logs and metrics. */
const char *hail_err_str(int err);

/* Where a function that fails puts its one-line reason, for the caller to log
 * with its own context: the same idea as libcurl's CURLOPT_ERRORBUFFER. */
struct hail_errbuf {
	char msg[768];
};

/* Formats the reason into e (when not NULL) and returns code. */
int hail_fail(struct hail_errbuf *e, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Puts a context in front of the reason already in e: "CONTEXT: REASON". */
int hail_wrap(struct hail_errbuf *e, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
