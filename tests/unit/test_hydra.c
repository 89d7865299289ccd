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
	{ "http://h/build/5?x=1", 1, 5 },
	{ "http://h/build/6#frag", 1, 6 },
	{ "HTTPS://H/build/3", 1, 3 },
	{ "http://h", 0, 0 },
	{ "http:///build/1", 0, 0 },
	{ "http://h/build/1 x", 0, 0 },
	{ "http://h/build/1\tX", 0, 0 },
	{ "ftp://h/build/1", 0, 0 },
	{ "http://h?/build/1", 0, 0 },
	{ "http://h/build/123456789012345678901234567890", 0, 0 },
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
	/* numbers: integers in range only; 1e300 must not reach a cast */
	{ "{\"id\":5.0,\"buildoutputs\":{\"out\":{\"path\":\"/nix/store/" H "-demo\"}}}", 1 },
	{ "{\"id\":5.5,\"buildoutputs\":{\"out\":{\"path\":\"/nix/store/" H "-demo\"}}}", 0 },
	{ "{\"id\":-5,\"buildoutputs\":{\"out\":{\"path\":\"/nix/store/" H "-demo\"}}}", 0 },
	{ "{\"id\":1e300,\"buildoutputs\":{\"out\":{\"path\":\"/nix/store/" H "-demo\"}}}", 0 },
	{ "{\"id\":-1e300,\"buildoutputs\":{\"out\":{\"path\":\"/nix/store/" H "-demo\"}}}", 0 },
	{ "{\"id\":\"5\",\"buildoutputs\":{\"out\":{\"path\":\"/nix/store/" H "-demo\"}}}", 0 },
	{ "{\"finished\":1e300,\"buildoutputs\":{\"out\":{\"path\":\"/nix/store/" H "-demo\"}}}", 0 },
	{ "{\"finished\":1.5,\"buildoutputs\":{\"out\":{\"path\":\"/nix/store/" H "-demo\"}}}", 0 },
	{ "{\"buildstatus\":0.5,\"buildoutputs\":{\"out\":{\"path\":\"/nix/store/" H "-demo\"}}}", 0 },
	{ "{\"buildstatus\":-1e300,\"buildoutputs\":{\"out\":{\"path\":\"/nix/store/" H "-demo\"}}}", 0 },
	{ "{\"buildstatus\":0.0,\"buildoutputs\":{\"out\":{\"path\":\"/nix/store/" H "-demo\"}}}", 1 },
	/* a content-addressed derivation's output before it is known */
	{ "{\"id\":5,\"buildoutputs\":{\"out\":{\"path\":null}}}", 0 },
};

/* stoptime only starts a rollout: junk counts as not given (0) */
static const struct { const char *stoptime; int64_t want; } stoptimes[] = {
	{ "1795608000", 1795608000 },
	{ "1795608000.0", 1795608000 },
	{ "1795608000.5", 0 },
	{ "1e300", 0 },
	{ "-1e300", 0 },
	{ "-1", 0 },
	{ "0", 0 },
	{ "1e12", 1000000000000 },
	{ "1e13", 0 },
	{ "null", 0 },
	{ "\"1795608000\"", 0 },
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

	{
		static const char cas[] = "{\"id\":5,\"buildoutputs\":{\"out\":{\"path\":null}}}";
		int r = hydra_parse_build_json(cas, strlen(cas), 5, &b, &e);

		CHECK(r == HAIL_E_PROTOCOL && strstr(e.msg, "build 5: output path not known yet") &&
		      strstr(e.msg, "content-addressed"), "null output path: %s", e.msg);
	}
	for (size_t i = 0; i < sizeof(stoptimes) / sizeof(stoptimes[0]); i++) {
		char json[256];
		int r;

		snprintf(json, sizeof(json), "{\"id\":5,\"stoptime\":%s,\"buildoutputs\":{\"out\":"
			 "{\"path\":\"/nix/store/" H "-demo\"}}}", stoptimes[i].stoptime);
		r = hydra_parse_build_json(json, strlen(json), 5, &b, &e);
		CHECK(r == 0 && b.stoptime == stoptimes[i].want, "stoptime %s", stoptimes[i].stoptime);
		if (r == 0)
			hydra_build_clear(&b);
	}
	/* a huge id in the Location is still checked exactly against the JSON */
	{
		static const char big[] = "{\"id\":9007199254740993,\"buildoutputs\":{\"out\":"
			"{\"path\":\"/nix/store/" H "-demo\"}}}";

		CHECK(hydra_parse_build_json(big, strlen(big), 9007199254740992ULL, &b, &e) ==
		      HAIL_E_PROTOCOL, "an id past 2^53 is not taken for a neighbour");
	}

	/* after a move, a pin's build names the new jobset */
	{
		static const char moved[] = "{\"id\":5,\"project\":\"p\",\"jobset\":\"new\","
			"\"job\":\"x\",\"buildoutputs\":{\"out\":{\"path\":\"/nix/store/" H "-demo\"}}}";

		CHECK(hydra_job_parse("https://h/job/p/old/x", &job, &e) == 0 &&
		      hydra_parse_build_json(moved, strlen(moved), 5, &b, &e) == 0 &&
		      !hydra_build_of_job(&b, &job), "a build of the new jobset is not of the old one");
		job.moved_uri = strdup("https://h/job/p/new/x");
		CHECK(hydra_build_of_job(&b, &job), "... until the job is known to have moved there");
		hydra_build_clear(&b);
		hydra_job_clear(&job);
	}
	curl_global_cleanup();
	return check_exit();
}
