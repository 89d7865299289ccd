#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "netrc_check.h"
#include "settings.h"

#define KEY "hail-test-1:o3v3i1iGJ6lWQ1flVA9g8zZRoWfY4ZXUd3v8I2N0Kk8="

static int parse(const char *json, struct boot_settings *s, struct hail_errbuf *e)
{
	memset(s, 0, sizeof(*s));
	return boot_settings_from_json(s, json, strlen(json), e);
}

static int netrc(const char *text, const char *host, bool *has, struct hail_errbuf *e)
{
	return netrc_check(text, strlen(text), host, has, e);
}

int main(void)
{
	struct boot_settings s;
	struct hail_errbuf e;
	bool has;
	int r;

	curl_global_init(CURL_GLOBAL_DEFAULT);
	r = parse("{\"hail\": {\"job-uri\": \"https://h/job/p/j/x\", \"profile\": \"web\", "
		  "\"netrc\": \"machine h login u password p\\n\", \"poll-period\": \"30s\", "
		  "\"substituters\": [\"https://h\"], \"trusted-public-keys\": [\"" KEY "\"]}}",
		  &s, &e);
	CHECK(r == 0 && boot_settings_finish(&s, &e) == 0 && !strcmp(s.profile, "web") &&
	      s.poll_period_s == 30 && s.substituters[0] && !s.substituters[1] &&
	      s.trusted_keys[0], "full settings");
	boot_settings_free(&s);

	r = parse("{\"hail\": {\"job-uri\": \"https://h/job/p/j/x\", \"poll-period\": 2}}", &s, &e);
	CHECK(r == 0 && boot_settings_finish(&s, &e) == 0 && !strcmp(s.profile, "hail") &&
	      s.poll_period_s == 120, "defaults, period in minutes");
	boot_settings_free(&s);

	/* user-data wins over tags; tags fill the rest */
	r = parse("{\"hail\": {\"profile\": \"fromud\"}}", &s, &e);
	CHECK(r == 0 && boot_settings_from_tag(&s, "hail:profile", "fromtag", &e) == 0 &&
	      boot_settings_from_tag(&s, "hail:job-uri", "https://t/job/a/b/c", &e) == 0 &&
	      boot_settings_finish(&s, &e) == 0 && !strcmp(s.profile, "fromud") &&
	      !strcmp(s.job_uri_source, "tag"), "tags fill what user-data left");
	boot_settings_free(&s);

	r = parse("{\"hail\": {}}", &s, &e);
	CHECK(r == 0 && boot_settings_finish(&s, &e) == HAIL_E_USAGE && strstr(e.msg, "job-uri"),
	      "job-uri required");
	boot_settings_free(&s);

	static const struct { const char *json, *needle; } bad[] = {
		{ "{\"hail\": {\"job-uri\": 5}}", "hail.job-uri: must be a string" },
		{ "{\"hail\": {\"job-uri\": \"ftp://h/job/a/b/c\"}}", "hail.job-uri" },
		{ "{\"hail\": {\"profile\": \"../etc\"}}", "hail.profile" },
		{ "{\"hail\": {\"profile\": \"a b\"}}", "hail.profile" },
		{ "{\"hail\": {\"poll-period\": \"soon\"}}", "hail.poll-period" },
		{ "{\"hail\": {\"poll-period\": true}}", "hail.poll-period" },
		/* range before the cast: (unsigned)1e300 is undefined behaviour */
		{ "{\"hail\": {\"poll-period\": 1e300}}", "hail.poll-period: not a whole number" },
		{ "{\"hail\": {\"poll-period\": -1e300}}", "hail.poll-period: not a whole number" },
		{ "{\"hail\": {\"poll-period\": 4294967296}}", "hail.poll-period: not a whole number" },
		{ "{\"hail\": {\"poll-period\": -1}}", "hail.poll-period: not a whole number" },
		{ "{\"hail\": {\"poll-period\": 0}}", "hail.poll-period: not a whole number" },
		{ "{\"hail\": {\"poll-period\": 1.5}}", "hail.poll-period: not a whole number" },
		{ "{\"hail\": {\"netrc\": \"machine h login u\"}}", "hail.netrc: malformed" },
		{ "{\"hail\": {\"netrc\": \"machine h login u passwrd SECRET\"}}", "hail.netrc: malformed" },
		{ "{\"hail\": {\"netrc\": [1]}}", "hail.netrc: must be a string" },
		{ "{\"hail\": {\"substituters\": \"https://h\"}}", "hail.substituters: must be a list" },
		{ "{\"hail\": {\"substituters\": [\"file:///x\"]}}", "hail.substituters[0]" },
		{ "{\"hail\": {\"substituters\": [\"https://u:p@h\"]}}", "hail.substituters[0]" },
		{ "{\"hail\": {\"trusted-public-keys\": [\"nokey\"]}}", "hail.trusted-public-keys[0]" },
		{ "{\"hail\": {\"trusted-public-keys\": [\"k:short\"]}}", "hail.trusted-public-keys[0]" },
		{ "{\"hail\": {\"trusted-public-keys\": [\"k:!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!=\"]}}",
		  "hail.trusted-public-keys[0]" },
		{ "{\"hail\": {\"keep-generations\": 0}}", "hail.keep-generations: not a whole number from 1" },
		{ "{\"hail\": {\"keep-generations\": 2.5}}", "hail.keep-generations: not a whole number" },
		{ "{\"hail\": {\"keep-generations\": \"10001\"}}", "hail.keep-generations: not a whole" },
		{ "{\"hail\": {\"keep-generations\": [3]}}", "hail.keep-generations: must be a number" },
		{ "{\"hail\": {\"gc\": \"sometimes\"}}", "hail.gc: not off, when-needed or after-deploy" },
		{ "{\"hail\": {\"gc\": true}}", "hail.gc: must be a string" },
		{ "{\"hail\": {\"min-free-after\": \"1T\"}}", "hail.min-free-after: not a size" },
		{ "{\"hail\": {\"min-free-after\": -1}}", "hail.min-free-after: not a whole number" },
		{ "{\"hail\": {\"contact-timeout\": \"soon\"}}", "hail.contact-timeout: not a period" },
		{ "{\"hail\": {\"reboot-window\": \"02:00-02:00\"}}", "hail.reboot-window: not a daily" },
		{ "{\"hail\": {\"reboot-window\": \"2-4\"}}", "hail.reboot-window: not a daily" },
		{ "{\"hail\": {\"reboot-command\": \"reboot\"}}", "hail.reboot-command: 'reboot' is not an absolute path" },
		{ "{\"hail\": {\"reboot-command\": \"/bin/systemctl reboot\"}}", "hail.reboot-command" },
		{ "{\"hail\": {\"halt-alarm\": \"\"}}", "hail.halt-alarm" },
		{ "{\"hail\": {\"cloudwatch-metrics\": \"yes\"}}", "hail.cloudwatch-metrics: must be true or false" },
		{ "{\"hail\": {\"cloudwatch-namespace\": \"AWS/EC2\"}}", "hail.cloudwatch-namespace" },
		{ "{\"hail\": {\"cloudwatch-period\": \"often\"}}", "hail.cloudwatch-period: not a period" },
		{ "{\"hail\": 3}", "hail: must be a JSON object" },
		{ "{\"hail\": {\"netrc\": \"machine h password p\", \"netrc\": \"machine h password p\"}}",
		  "hail.netrc: given twice" },
		{ "[1]", "hail: must be a JSON object" },
		{ "{\"hail\": {", "not valid JSON" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		r = parse(bad[i].json, &s, &e);
		CHECK(r == HAIL_E_USAGE && strstr(e.msg, bad[i].needle) && !strstr(e.msg, "SECRET"),
		      "bad settings row %zu: %s", i, r ? e.msg : "accepted");
		boot_settings_free(&s);
	}

	CHECK(boot_profile_name_valid("hail") && boot_profile_name_valid("web-1.x_y") &&
	      !boot_profile_name_valid("") && !boot_profile_name_valid(".x") &&
	      !boot_profile_name_valid("-x") && !boot_profile_name_valid("a/b"), "profile names");

	/* netrc */
	CHECK(netrc("machine h login u password p\n", "h", &has, &e) == 0 && has,
	      "netrc with the host");
	CHECK(netrc("machine x login u password p", "h", &has, &e) == 0 && !has,
	      "netrc without the host");
	CHECK(netrc("default login u password p", "h", &has, &e) == 0 && has,
	      "netrc default entry");
	CHECK(netrc("machine h login u password p macdef init\ncd /\n\nmachine i password q", "i", &has, &e) == 0 && has, "netrc with macdef");
	CHECK(netrc("", "h", &has, &e) < 0, "netrc empty");
	CHECK(netrc("login u password p", "h", &has, &e) < 0, "netrc login before machine");
	CHECK(netrc("machine h login u password", "h", &has, &e) < 0, "netrc no value");
	CHECK(netrc("machine h login\x01u password p", "h", &has, &e) < 0,
	      "netrc control character");
	CHECK(netrc("machine h login u password hunter2 hunter3", "h", &has, &e) < 0 &&
	      !strstr(e.msg, "hunter"), "netrc stray word not echoed");
	curl_global_cleanup();
	return check_exit();
}
