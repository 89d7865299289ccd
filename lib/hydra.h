/* The Hydra API as hail uses it (protocols.md, "Hydra").
 *
 * GET JOB/latest answers 302 with Location BASE/build/ID: the ID is read from
 * Location and the redirect is not followed, so a poll that finds the same
 * build costs one small request. The build JSON is fetched from the job URI's
 * own base, never from wherever Location points.
 *
 * A renamed jobset answers 301 to its new name (Hydra's Controller/Job.pm:
 * uri_for the same action with the new captures). hail follows such a 301
 * once per request, only to a job URI on the same scheme, host and port,
 * and logs one warning per run naming the new URI (the operator should
 * update job-uri); anywhere else it stays an error. */
#ifndef HAIL_HYDRA_H
#define HAIL_HYDRA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "http.h"

#define HYDRA_BODY_MAX (1024 * 1024)

/* A validated job URI. */
struct hydra_job {
	char *uri;          /* owned: normalized, no trailing slash */
	char *base;         /* owned: the part before "/job/" */
	char *latest_url;   /* owned: uri + "/latest" (or another suffix such as
			     * "/latest-finished" a caller put there) */
	char *moved_uri;    /* owned: the job URI a 301 named (the job moved;
			     * warned about once), or NULL */
};

struct hydra_build {
	uint64_t id;
	char *out_path;     /* owned: a valid store path */
	char *job_name;     /* owned: "PROJECT/JOBSET/JOB", or NULL when not given */
	int64_t stoptime;   /* when the build finished (Unix time), 0: not given */
};

/* Accepts http(s)://HOST[:PORT][/PREFIX]/job/PROJECT/JOBSET/JOB with no
 * user:password, query or fragment. HAIL_E_USAGE with the reason in *e. */
int hydra_job_parse(const char *uri, struct hydra_job *job, struct hail_errbuf *e);
void hydra_job_clear(struct hydra_job *job);

/* Asks for the latest successful build: its id in *id. A 301 to the same
 * scheme, host and port is followed once (see above): job->moved_uri is set
 * and a warning is logged the first time the job is seen to have moved (to
 * that URI), so a caller that keeps job for its life warns once per run. */
int hydra_latest(struct http_client *http, struct hydra_job *job, uint64_t *id,
		 struct hail_errbuf *e);

/* Fetches build id and reads its "out" output. A null output path (a
 * content-addressed derivation whose output is not known yet) is
 * HAIL_E_PROTOCOL with that reason. */
int hydra_build(struct http_client *http, const struct hydra_job *job, uint64_t id,
		struct hydra_build *build, struct hail_errbuf *e);
void hydra_build_clear(struct hydra_build *build);

/* True when the build says it belongs to job, or to the job it moved to
 * (false when it does not say). */
bool hydra_build_of_job(const struct hydra_build *build, const struct hydra_job *job);

/* Pure parsers, for tests and fuzzing. */
int hydra_parse_build_location(const char *location, uint64_t *id, struct hail_errbuf *e);
int hydra_parse_build_json(const char *body, size_t len, uint64_t id,
			   struct hydra_build *build, struct hail_errbuf *e);

#endif
