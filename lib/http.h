/* An HTTP client for talking to untrusted peers (Hydra, IMDS).
 *
 * One client keeps one libcurl handle, so that a polling agent reuses its
 * connection. Redirects are never followed: the caller reads Location.
 * Bodies are capped and every transfer is time-limited. Credentials come only
 * from the netrc file, through libcurl's own netrc support, for the host the
 * URL names.
 *
 * HTTPS: the system's CA bundle file, without Debian's default CA path, so
 * that libcurl keeps the parsed store for a day (CURLOPT_CA_CACHE_TIMEOUT)
 * instead of parsing 145 certificates at every new connection; TLS sessions
 * are resumed across connections of one client. A request that libcurl 7.88
 * fails with "Connection died" (a server's close_notify on an idle kept-alive
 * connection, curl issue 18926) is tried once more on a fresh connection. */
#ifndef HAIL_HTTP_H
#define HAIL_HTTP_H

#include <stdbool.h>
#include <stddef.h>

struct http_client;
struct ca_set;

struct http_options {
	const char *user_agent;      /* borrowed */
	const char *netrc_file;      /* borrowed; NULL: no credentials */
	unsigned connect_timeout_s;
	unsigned total_timeout_s;
	/* Never use a proxy, whatever http_proxy, all_proxy and the like say
	 * (CURLOPT_NOPROXY "*"): for IMDS, which is link-local and answers
	 * only the instance itself. Other clients follow libcurl's proxy
	 * environment variables. */
	bool no_proxy;
	/* Trust anchors added to the system's for this client's HTTPS peers
	 * (--ca-file); borrowed, may be NULL. */
	const struct ca_set *extra_ca;
	/* Called now and then during a transfer; returning true aborts it
	 * (HAIL_E_INTERRUPTED). May be NULL. */
	bool (*should_abort)(void);
};

struct http_response {
	long status;
	char *body;          /* owned, NUL-terminated, body_len bytes before the NUL */
	size_t body_len;
	char *location;      /* owned, absolute URL of a redirect, or NULL */
	char *content_type;  /* owned, or NULL */
};

/* Returns NULL when out of memory. */
struct http_client *http_client_new(const struct http_options *opt);
void http_client_free(struct http_client *c);

/* Performs method (NULL: GET) on url with the given extra header lines
 * (NULL-terminated list, may be NULL) and request body (may be NULL),
 * keeping at most max_body bytes of the answer. On success (any HTTP status)
 * fills *res and returns 0; the caller frees it with http_response_clear().
 * On failure returns HAIL_E_NETWORK, HAIL_E_PROTOCOL (body over max_body),
 * HAIL_E_INTERRUPTED or HAIL_E_INTERNAL (also when libcurl refuses an
 * option; the reason names it) and http_client_error() says why. body is
 * borrowed for this call only: the handle keeps no pointer to it, and a
 * request without a body is a GET (or method) with no body, whatever the
 * requests before it sent. */
int http_request(struct http_client *c, const char *method, const char *url,
		 const char *const *headers, const char *body, size_t max_body,
		 struct http_response *res);

/* Signs every following request with AWS SigV4 (libcurl's CURLOPT_AWS_SIGV4):
 * provider is "aws:amz:REGION:SERVICE". libcurl copies the strings; NULL
 * provider stops signing. A session token goes in as an X-Amz-Security-Token
 * header line, which libcurl signs with the others. HAIL_E_INTERNAL when
 * libcurl refuses an option (http_client_error() names it). */
int http_client_set_aws_sigv4(struct http_client *c, const char *provider,
			      const char *access_key_id, const char *secret);

/* The reason for the last failure, without credentials; borrowed until the
 * next request. */
const char *http_client_error(const struct http_client *c);

/* True when the last request failed by timing out after its connection was
 * made (the peer is there but does not answer), not while connecting. */
bool http_client_read_timed_out(const struct http_client *c);

/* Counters for benchmarks and metrics. */
struct http_stats {
	unsigned long requests;
	unsigned long body_bytes;
	unsigned long dead_connection_retries;  /* curl issue 18926's, below */
};
void http_client_stats(const struct http_client *c, struct http_stats *out);

void http_response_clear(struct http_response *res);

/* Call once at start, before any thread exists. */
int http_global_init(void);
void http_global_cleanup(void);

#endif
