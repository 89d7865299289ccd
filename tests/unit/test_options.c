#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "options.h"

static int load(struct settings *s, struct hail_errbuf *e, char **argv)
{
	int argc = 0;

	while (argv[argc])
		argc++;
	return settings_load(s, argc, argv, e);
}

#define ARGV(...) ((char *[]){ "hail", __VA_ARGS__, NULL })

/* Writes text to DIR/name; returns the path in a static buffer per slot. */
static const char *put(const char *dir, const char *name, const char *text)
{
	static char paths[4][256];
	static int slot;
	char *p = paths[slot++ % 4];
	FILE *f;

	snprintf(p, sizeof(paths[0]), "%s/%s", dir, name);
	f = fopen(p, "w");
	if (!f || fputs(text, f) < 0 || fclose(f) != 0)
		abort();
	return p;
}

/* --fleet-file: the lowest precedence, the fleet keys only, and a missing
 * file is no fleet settings while a broken one is an error. */
static void fleet_file_rows(void)
{
	char dir[] = "/tmp/hail-test-options.XXXXXX";
	char config[256], fleet[256], missing[256];
	struct hail_errbuf e;
	struct settings s;
	int r;

	if (!mkdtemp(dir))
		abort();
	snprintf(fleet, sizeof(fleet), "%s", put(dir, "fleet.json",
		 "{\"rollout-window\": \"2h\", \"instance-id\": \"i-fleet\",\n"
		 " \"imds-endpoint\": \"http://127.0.0.1:9\", \"control-ssm-parameter\": \"/f\",\n"
		 " \"aws-endpoint-url\": \"http://127.0.0.1:8\", \"future-key\": 1}\n"));
	snprintf(missing, sizeof(missing), "%s/missing.json", dir);
	{
		char text[512];

		snprintf(text, sizeof(text), "{\"profile\": \"web\", \"job-uri\": \"http://h/job/a/b/c\",\n"
			 " \"rollout-window\": \"1h\", \"fleet-file\": \"%s\"}\n", fleet);
		snprintf(config, sizeof(config), "%s", put(dir, "web.json", text));
	}

	r = load(&s, &e, ARGV("--config", config, "--instance-id", "i-cli"));
	CHECK(r == 0 && !strcmp(s.fleet_file, fleet) && s.rollout_window_s == 3600 &&
	      !strcmp(s.instance_id, "i-cli") && !strcmp(s.imds_endpoint, "http://127.0.0.1:9") &&
	      !strcmp(s.control_ssm_parameter, "/f") &&
	      !strcmp(s.aws_endpoint_url, "http://127.0.0.1:8") && !strcmp(s.profile, "web"),
	      "fleet file: flags and config win, the rest is taken: %s", r ? e.msg : "");
	settings_free(&s);

	r = load(&s, &e, ARGV("--profile", "p", "--job-uri", "u", "--fleet-file", fleet));
	CHECK(r == 0 && s.rollout_window_s == 7200 && !strcmp(s.instance_id, "i-fleet"),
	      "fleet file from the command line");
	settings_free(&s);

	r = load(&s, &e, ARGV("--profile", "p", "--job-uri", "u", "--fleet-file", missing));
	CHECK(r == 0 && !s.rollout_window_s && !s.imds_endpoint && !s.instance_id,
	      "a missing fleet file is no fleet settings");
	settings_free(&s);

	static const struct { const char *json; const char *needle; } bad[] = {
		{ "{\"job-uri\": \"http://evil/job/a/b/c\"}", "key job-uri: not a fleet setting" },
		{ "{\"profile\": \"other\"}", "key profile: not a fleet setting" },
		{ "{\"poll-period\": \"1s\"}", "key poll-period: not a fleet setting" },
		{ "{\"fleet-file\": \"/x\"}", "key fleet-file: not a fleet setting" },
		{ "{\"config\": \"/x\"}", "key config: not a fleet setting" },
		{ "{\"rollout-window\": \"soon\"}", "key rollout-window" },
		{ "{\"instance-id\": 7}", "key instance-id" },
		{ "{\"rollout-window\": ", "not valid JSON" },
		{ "", "not valid JSON" },
		{ "[]", "JSON object" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *f = put(dir, "bad.json", bad[i].json);

		/* the flags name profile and job-uri: refused all the same */
		r = load(&s, &e, ARGV("--profile", "p", "--job-uri", "u", "--fleet-file", (char *)f));
		CHECK(r == HAIL_E_USAGE && strstr(e.msg, "fleet file ") && strstr(e.msg, "bad.json") &&
		      strstr(e.msg, bad[i].needle), "fleet row %zu: %s", i, r ? e.msg : "accepted");
		settings_free(&s);
	}

	memset(&s, 0, sizeof(s));
	{
		const char *j = "{\"rollout-window\": \"2h\", \"future-key\": true}";

		s.given = 1u << OPT_ROLLOUT_WINDOW;
		s.rollout_window_s = 60;
		r = settings_read_fleet_json(&s, "f.json", j, strlen(j), &e);
	}
	CHECK(r == 0 && s.rollout_window_s == 60, "fleet json: a setting given before wins, an "
	      "unknown key is ignored");
	settings_free(&s);

	{
		char *big = malloc(CONFIG_FILE_MAX + 16);

		if (!big)
			abort();
		memset(big, ' ', CONFIG_FILE_MAX + 15);
		memcpy(big, "{}", 2);
		big[CONFIG_FILE_MAX + 15] = '\0';
		put(dir, "big.json", big);
		free(big);
	}
	r = load(&s, &e, ARGV("--profile", "p", "--job-uri", "u", "--fleet-file",
			      (char *)put(dir, "ok.json", "{}")));
	CHECK(r == 0, "an empty fleet file");
	settings_free(&s);
	{
		char big[256], sub[256];

		snprintf(big, sizeof(big), "%s/big.json", dir);
		r = load(&s, &e, ARGV("--profile", "p", "--job-uri", "u", "--fleet-file", big));
		CHECK(r == HAIL_E_USAGE && strstr(e.msg, "larger than"), "a fleet file too big");
		settings_free(&s);
		/* exists but cannot be read: an error, never "no fleet settings" */
		snprintf(sub, sizeof(sub), "%s/sub", dir);
		if (mkdir(sub, 0700) < 0)
			abort();
		r = load(&s, &e, ARGV("--profile", "p", "--job-uri", "u", "--fleet-file", sub));
		CHECK(r == HAIL_E_USAGE && strstr(e.msg, "fleet file ") && strstr(e.msg, "/sub"),
		      "an unreadable fleet file: %s", r ? e.msg : "accepted");
		settings_free(&s);
	}
	/* clean up what put() wrote */
	{
		static const char *const names[] = { "fleet.json", "web.json", "bad.json", "big.json",
						     "ok.json" };
		char p[300];

		for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
			snprintf(p, sizeof(p), "%s/%s", dir, names[i]);
			unlink(p);
		}
		snprintf(p, sizeof(p), "%s/sub", dir);
		rmdir(p);
		rmdir(dir);
	}
}

int main(void)
{
	struct hail_errbuf e;
	struct settings s;
	int r;

	CHECK(options_table_sorted(), "option table sorted and complete");

	r = load(&s, &e, ARGV("--profile", "p", "--job-uri", "http://h/job/a/b/c"));
	CHECK(r == 0 && s.poll_period_s == 300 && !s.oneshot && !strcmp(s.profile, "p"), "defaults");
	settings_free(&s);

	r = load(&s, &e, ARGV("--profile=p", "--job-uri=u", "--poll-period", "2"));
	CHECK(r == 0 && s.poll_period_s == 120, "poll-period minutes");
	settings_free(&s);

	r = load(&s, &e, ARGV("--profile", "p", "--job-uri", "u", "--poll-period", "30s"));
	CHECK(r == 0 && s.poll_period_s == 30, "poll-period 30s");
	settings_free(&s);

	r = load(&s, &e, ARGV("--profile", "p", "--job-uri", "u", "--oneshot", "--poll-period", "1"));
	CHECK(r == HAIL_E_USAGE && strstr(e.msg, "--oneshot"), "oneshot with poll-period");
	settings_free(&s);

	r = load(&s, &e, ARGV("--profile", "p", "--job-uri", "u", "--poll-period", "soon"));
	CHECK(r == HAIL_E_USAGE && strstr(e.msg, "--poll-period 'soon'"), "bad period named: %s", e.msg);
	settings_free(&s);

	r = load(&s, &e, ARGV("--profile", "p", "--bogus"));
	CHECK(r == HAIL_E_USAGE && strstr(e.msg, "--bogus"), "unknown flag");
	settings_free(&s);

	r = load(&s, &e, ARGV("--profile"));
	CHECK(r == HAIL_E_USAGE && strstr(e.msg, "needs a value"), "missing value");
	settings_free(&s);

	r = load(&s, &e, ARGV("--job-uri", "u"));
	CHECK(r == HAIL_E_USAGE && strstr(e.msg, "--profile"), "profile required");
	settings_free(&s);

	r = load(&s, &e, ARGV("--help"));
	CHECK(r == 0 && s.help, "help");
	settings_free(&s);

	/* config file: flags win, unknown keys are warnings, types are checked */
	memset(&s, 0, sizeof(s));
	s.given = 1u << OPT_PROFILE;
	s.profile = strdup("cli");
	{
		const char *j = "{\"profile\":\"file\",\"job-uri\":\"http://h/job/a/b/c\","
				"\"poll-period\":\"30s\",\"activation-timeout\":2,\"future-key\":1}";
		r = settings_read_config_json(&s, "t.json", j, strlen(j), &e);
	}
	CHECK(r == 0 && !strcmp(s.profile, "cli") && !strcmp(s.job_uri, "http://h/job/a/b/c") &&
	      s.poll_period_s == 30 && s.activation_timeout_s == 120, "config merge");
	settings_free(&s);

	static const struct { const char *json; const char *needle; } bad[] = {
		{ "{\"poll-period\":true}", "key poll-period" },
		{ "{\"poll-period\":1.5}", "key poll-period" },
		{ "{\"poll-period\":0}", "key poll-period" },
		{ "{\"oneshot\":\"yes\"}", "key oneshot" },
		{ "{\"profile\":3}", "key profile" },
		{ "{\"profile\":\"\"}", "key profile" },
		{ "[1]", "JSON object" },
		{ "{\"profile\":", "not valid JSON" },
		{ "", "not valid JSON" },
		{ "{\"help\":true}", NULL },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&s, 0, sizeof(s));
		r = settings_read_config_json(&s, "t.json", bad[i].json, strlen(bad[i].json), &e);
		CHECK(bad[i].needle ? (r == HAIL_E_USAGE && strstr(e.msg, bad[i].needle) &&
				       strstr(e.msg, "t.json")) : r == 0,
		      "config row %zu", i);
		settings_free(&s);
	}

	fleet_file_rows();
	return check_exit();
}
