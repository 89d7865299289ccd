#include <curl/curl.h>
#include <string.h>

#include "check.h"
#include "hydra.h"

#define H "882hqh7rym3ckw2q575klshwn05hz688"

static const struct { const char *uri; int ok; const char *base; } jobs[] = {
	{ "https://hydra.example.com/job/p/j/x", 1, "https://hydra.example.com" },
	{ "http://127.0.0.1:8080/job/p/j/x/", 1, "http://127.0.0.1:8080" },
	{ "https://h/hydra/job/p/j/hail.x86_64-linux", 1, "https://h/hydra" },
	{ "https://h/job/job/job/job", 1, "https://h" },
	{ "ftp://h/job/p/j/x", 0, NULL },
	{ "https://u:secret@h/job/p/j/x", 0, NULL },
	{ "https://h/job/p/j/x?a=b", 0, NULL },
	{ "https://h/job/p/j/x#f", 0, NULL },
	{ "https://h/job/p/j", 0, NULL },
	{ "https://h/job/p/j/x/y", 0, NULL },
	{ "https://h/job/p/./x", 0, NULL },
	{ "https://h/job/p/../x", 0, NULL },
	{ "https://h/a/job/job/p/j/x", 1, "https://h/a/job" },
	{ "https://h/job/p//x", 0, NULL },
	{ "https://h/p/j/x", 0, NULL },
	{ "hydra.example.com/job/p/j/x", 0, NULL },
	{ "https:///job/p/j/x", 0, NULL },
	{ "https://h/job/p/j/x y", 0, NULL },
	{ "", 0, NULL },
};

static const struct { const char *loc; int ok; uint64_t id; } locations[] = {
	{ "http://127.0.0.1:1234/build/42", 1, 42 },
	{ "https://other.example/hydra/build/7", 1, 7 },
	{ "http://h/build/0", 0, 0 },
	{ "http://h/build/", 0, 0 },
	{ "http://h/build/12a", 0, 0 },
	{ "http://h/build/99999999999999999999", 0, 0 },
	{ "http://h/builds/1", 0, 0 },
	{ "http://h/job/p/j/x/latest", 0, 0 },
	{ "http://h/xbuild/1", 0, 0 },
	{ "/build/1", 0, 0 },
	{ "not a url", 0, 0 },
};

static const struct { const char *json; int ok; } builds[] = {
	{ "{\"id\":5,\"finished\":1,\"buildstatus\":0,\"buildoutputs\":{\"out\":{\"path\":\"/nix/store/" H "-demo-2\"}}}", 1 },
	{ "{\"buildoutputs\":{\"out\":{\"path\":\"/nix/store/" H "-demo\"},\"bin\":{\"path\":\"x\"}},\"extra\":[1,2]}", 1 },
	{ "{\"id\":5,\"finished\":true,\"buildoutputs\":{\"out\":{\"path\":\"/nix/store/" H "-demo\"}}}", 1 },
	{ "{\"id\":6,\"buildoutputs\":{\"out\":{\"path\":\"/nix/store/" H "-demo\"}}}", 0 },
	{ "{\"finished\":0,\"buildoutputs\":{\"out\":{\"path\":\"/nix/store/" H "-demo\"}}}", 0 },
	{ "{\"buildstatus\":1,\"buildoutputs\":{\"out\":{\"path\":\"/nix/store/" H "-demo\"}}}", 0 },
	{ "{\"buildstatus\":null,\"buildoutputs\":{\"out\":{\"path\":\"/nix/store/" H "-demo\"}}}", 0 },
	{ "{\"buildoutputs\":{\"bin\":{\"path\":\"/nix/store/" H "-demo\"}}}", 0 },
	{ "{\"buildoutputs\":{\"out\":{\"path\":\"/nix/store/../../etc; touch /tmp/pwned\"}}}", 0 },
	{ "{\"buildoutputs\":{\"out\":{\"path\":42}}}", 0 },
	{ "{\"buildoutputs\":{\"out\":\"/nix/store/" H "-demo\"}}", 0 },
	{ "{\"buildoutputs\":[]}", 0 },
	{ "<html>not json</html>", 0 },
	{ "{\"buildoutputs\":{\"out\":{\"path\":\"/nix/store/" H "-de", 0 },
	{ "[]", 0 },
	{ "", 0 },
};

int main(void)
{
	struct hail_errbuf e;
	struct hydra_job job;
	struct hydra_build b;
	uint64_t id;

	curl_global_init(CURL_GLOBAL_DEFAULT);
	for (size_t i = 0; i < sizeof(jobs) / sizeof(jobs[0]); i++) {
		int r = hydra_job_parse(jobs[i].uri, &job, &e);

		CHECK((r == 0) == jobs[i].ok && (!jobs[i].ok || !strcmp(job.base, jobs[i].base)),
		      "job-uri '%s'", jobs[i].uri);
		if (r == 0)
			hydra_job_clear(&job);
		else
			CHECK(r == HAIL_E_USAGE && !strstr(e.msg, "secret"), "job-uri error %zu: %s", i, e.msg);
	}
	CHECK(hydra_job_parse("http://h:1/job/p/j/x/", &job, &e) == 0 &&
	      !strcmp(job.latest_url, "http://h:1/job/p/j/x/latest"), "latest url");
	hydra_job_clear(&job);

	for (size_t i = 0; i < sizeof(locations) / sizeof(locations[0]); i++) {
		id = 0;
		int r = hydra_parse_build_location(locations[i].loc, &id, &e);

		CHECK((r == 0) == locations[i].ok && (!locations[i].ok || id == locations[i].id),
		      "location '%s'", locations[i].loc);
	}

	for (size_t i = 0; i < sizeof(builds) / sizeof(builds[0]); i++) {
		int r = hydra_parse_build_json(builds[i].json, strlen(builds[i].json), 5, &b, &e);

		CHECK((r == 0) == builds[i].ok, "build json row %zu", i);
		if (r == 0) {
			CHECK(!strncmp(b.out_path, "/nix/store/" H "-demo", 42), "build json path %zu", i);
			hydra_build_clear(&b);
		} else {
			CHECK(r == HAIL_E_PROTOCOL && strchr(e.msg, '\n') == NULL,
			      "build json error %zu: %s", i, e.msg);
		}
	}
	curl_global_cleanup();
	return check_exit();
}
