#include <stdlib.h>
#include <string.h>

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
	return check_exit();
}
