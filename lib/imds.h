/* An EC2 instance metadata service (IMDS) client, IMDSv2 first
 * (protocols.md, "EC2 instance metadata service").
 *
 * A session token is fetched once (PUT /latest/api/token, TTL 21600) and
 * reused; a 401 drops it and fetches a new one. Where the trusted clients
 * fall back to IMDSv1 (the PUT answered 403, 404, 405 or timed out after
 * connecting) this client does too. At boot the service may not answer yet:
 * connection failures, timeouts and 5xx are retried with capped exponential
 * backoff and jitter until the deadline. Requests never go through a proxy,
 * whatever http_proxy, all_proxy or the like say: IMDS is link-local. */
#ifndef HAIL_IMDS_H
#define HAIL_IMDS_H

#include <stdbool.h>
#include <stddef.h>

#include "error.h"
#include "http.h"

#define IMDS_DEFAULT_ENDPOINT "http://169.254.169.254"
#define IMDS_DEFAULT_ENDPOINT_IPV6 "http://[fd00:ec2::254]"
#define IMDS_TOKEN_TTL_S 21600

struct imds {
	struct http_client *http;   /* owned */
	char *endpoint;             /* owned, no trailing slash */
	char *token;                /* owned, or NULL */
	bool v1;                    /* the token PUT said: no tokens here */
	long long deadline_ms;      /* monotonic: stop retrying after this */
	unsigned requests;          /* for the log and the benchmark */
};

/* Picks the endpoint: flag, else AWS_EC2_METADATA_SERVICE_ENDPOINT, else the
 * IPv4 or (AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE=IPv6) IPv6 address.
 * HAIL_E_USAGE when AWS_EC2_METADATA_DISABLED=true or the endpoint is bad.
 * user_agent is borrowed for the life of m. */
int imds_open(struct imds *m, const char *endpoint_flag, unsigned wait_s, const char *user_agent,
	      struct hail_errbuf *e);
void imds_close(struct imds *m);

/* A new deadline for the retries of the calls that follow: an agent that
 * keeps the client for days gives each poll its own short wait. */
void imds_set_wait(struct imds *m, long long wait_ms);

/* GETs /latest/PATH, keeping at most max bytes. *body is malloc'd and
 * NUL-terminated. HAIL_E_NOT_FOUND on 404; HAIL_E_NETWORK when the service did
 * not answer before the deadline; HAIL_E_HTTP, HAIL_E_PROTOCOL otherwise. */
int imds_get(struct imds *m, const char *path, size_t max, char **body, size_t *len,
	     struct hail_errbuf *e);

/* True when a folder listing (one entry per line) names entry. */
bool imds_listing_has(const char *listing, const char *entry);

#endif
