/* AWS API requests from an EC2 instance, without an SDK.
 *
 * Credentials are the instance role's temporary ones from IMDS
 * (meta-data/iam/security-credentials/ROLE), fetched when first needed and
 * again when fewer than 15 minutes are left (as botocore does) or when a
 * service says the session token expired; the region is
 * meta-data/placement/region. Requests are signed with SigV4 by libcurl
 * (CURLOPT_AWS_SIGV4), the session token sent as X-Amz-Security-Token and
 * signed with the other headers.
 *
 * Throttling, 5xx answers and network failures are retried a few times with
 * capped exponential backoff and full jitter. Keys, secrets and tokens never
 * reach a log line, an error message or an argv. */
#ifndef HAIL_AWS_H
#define HAIL_AWS_H

#include <stddef.h>
#include <time.h>

#include "error.h"
#include "imds.h"

#define AWS_CODE_MAX 64

enum aws_protocol {
	AWS_PROTOCOL_JSON,      /* JSON 1.1: X-Amz-Target, errors as {"__type"} */
	AWS_PROTOCOL_QUERY      /* form POST with Action=, errors as XML <Code> */
};

struct aws_service {
	const char *name;         /* signing name and endpoint prefix: "ssm" */
	const char *env_endpoint; /* the SDKs' per-service endpoint variable */
	enum aws_protocol protocol;
	const char *target_prefix;   /* JSON: "AmazonSSM." */
	const char *api_version;     /* query: "2011-01-01" */
};

extern const struct aws_service aws_ssm;
extern const struct aws_service aws_autoscaling;
extern const struct aws_service aws_cloudwatch;

struct aws_credentials {
	char *access_key_id;    /* owned */
	char *secret;           /* owned; wiped when dropped */
	char *token;            /* owned; wiped when dropped */
	time_t expiration;
};

struct aws {
	struct imds *imds;              /* borrowed: credentials and region */
	struct http_client *http;       /* owned */
	char *region;                   /* owned */
	char *endpoint_url;             /* owned, or NULL: the setting aws-endpoint-url */
	struct aws_credentials creds;
	unsigned requests;              /* API requests, retries included */
	unsigned credential_fetches;
};

/* Reads the region from IMDS. endpoint_url (may be NULL) overrides every
 * service's endpoint; without it AWS_ENDPOINT_URL_<SERVICE>, then
 * AWS_ENDPOINT_URL, then https://SERVICE.REGION.amazonaws.com. user_agent is
 * borrowed for the life of a. */
int aws_open(struct aws *a, struct imds *m, const char *endpoint_url, const char *user_agent,
	     struct hail_errbuf *e);
void aws_close(struct aws *a);

/* Calls operation. body is the JSON document (JSON protocol) or the
 * URL-encoded parameters after Action and Version (query protocol, may be
 * ""). On a 2xx answer stores the body (malloc'd, at most max bytes) in
 * *answer and returns 0. When the service refuses, returns HAIL_E_HTTP with
 * its error code in code (e.g. "ParameterNotFound"); HAIL_E_NETWORK when it
 * could not be reached; HAIL_E_INTERRUPTED on a stop request. */
int aws_call(struct aws *a, const struct aws_service *svc, const char *operation,
	     const char *body, size_t max, char **answer, char code[AWS_CODE_MAX],
	     struct hail_errbuf *e);

/* The query protocol's parameters: the NULL-terminated NAME, VALUE pairs,
 * URL-encoded and joined with '&' into form (size bytes). 0, or
 * HAIL_E_USAGE when they do not fit, HAIL_E_INTERNAL on OOM. */
int aws_form(char *form, size_t size, const char *const *params);

/* Reads the role's credentials document from IMDS into c; errors name
 * where, never quote the document. For tests and fuzzing too. */
int aws_credentials_parse(struct aws_credentials *c, const char *json, size_t len,
			  const char *where, struct hail_errbuf *e);
void aws_credentials_drop(struct aws_credentials *c);

#endif
