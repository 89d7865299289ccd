/* The fleet features' pure parts: RFC 3339 times, the rollout offset (the
 * README's rule), pause and pin values, the role's credentials, AWS's XML
 * answers, names, and what the build JSON says about its job and finish. */
#include <string.h>

#include "autoscaling.h"
#include "aws.h"
#include "check.h"
#include "cloudwatch.h"
#include "control.h"
#include "hydra.h"
#include "rfc3339.h"
#include "rollout.h"
#include "ssm.h"
#include "url.h"
#include "xmltext.h"

#define NOON 1795608000     /* 2026-11-25T12:00:00Z */
#define H "882hqh7rym3ckw2q575klshwn05hz688"

static const struct { const char *text; int ok; long long t; } times[] = {
	{ "2026-11-25T12:00:00Z", 1, NOON },
	{ "2026-11-25T12:00:00.123456Z", 1, NOON },
	{ "2026-11-25t12:00:00z", 1, NOON },
	{ "2026-11-25T13:30:00+01:30", 1, NOON },
	{ "2026-11-25T10:00:00-02:00", 1, NOON },
	{ "2024-02-29T00:00:00Z", 1, 1709164800 },
	{ "2026-02-29T00:00:00Z", 0, 0 },
	{ "2026-11-25T12:00:00", 0, 0 },
	{ "2026-11-25 12:00Z", 0, 0 },
	{ "2026-13-01T00:00:00Z", 0, 0 },
	{ "2026-11-25T24:00:00Z", 0, 0 },
	{ "2026-11-25T12:00:00Z ", 0, 0 },
	{ "2026-11-25T12:00:00.Z", 0, 0 },
	{ "1969-12-31T23:59:59Z", 0, 0 },
	{ "", 0, 0 },
};

static void test_times(void)
{
	char buf[32];

	for (size_t i = 0; i < sizeof(times) / sizeof(times[0]); i++) {
		time_t t = 0;
		int r = rfc3339_parse(times[i].text, &t);

		CHECK((r == 0) == times[i].ok && (!times[i].ok || t == times[i].t),
		      "rfc3339 '%s'", times[i].text);
	}
	rfc3339_format(NOON, buf, sizeof(buf));
	CHECK(!strcmp(buf, "2026-11-25T12:00:00Z"), "rfc3339 format");
}

static void test_rollout(void)
{
	unsigned seen[10] = { 0 }, spread = 0;
	char id[32];

	/* vectors computed independently (Python's hashlib) */
	CHECK(rollout_offset_s("i-0123456789abcdef0", 42, 7200) == 6590, "rollout vector 1");
	CHECK(rollout_offset_s("0f1e2d3c4b5a69788796a5b4c3d2e1f0", 1, 60) == 25,
	      "rollout vector 2");
	CHECK(rollout_offset_s("i-0123456789abcdef0", 42, 0) == 0, "rollout without a window");
	for (int n = 0; n < 1000; n++) {
		snprintf(id, sizeof(id), "i-%017x", n);
		seen[rollout_offset_s(id, 7, 100) / 10]++;
	}
	for (int b = 0; b < 10; b++)
		spread += seen[b] >= 70 && seen[b] <= 130;
	CHECK(spread == 10, "rollout offsets spread evenly over the window");
	CHECK(rollout_offset_s("i-1", 7, 3600) != rollout_offset_s("i-1", 8, 3600) ||
	      rollout_offset_s("i-1", 9, 3600) != rollout_offset_s("i-1", 8, 3600),
	      "rollout offsets differ from build to build");
}

static void test_control_values(void)
{
	struct control_value v = { 0 };
	struct hail_errbuf e;

	CHECK(control_parse_pause(" true\n", &v, &e) == 0 && v.pause && !v.pause_until, "pause true");
	CHECK(control_parse_pause("2026-11-25T12:00:00Z", &v, &e) == 0 && v.pause &&
	      v.pause_until == NOON, "pause until");
	CHECK(control_parse_pause("", &v, &e) == 0 && !v.pause, "pause empty");
	CHECK(control_parse_pause("FALSE", &v, &e) == 0 && !v.pause, "pause false");
	CHECK(control_parse_pause("yes", &v, &e) == HAIL_E_USAGE && strstr(e.msg, "'yes'"),
	      "pause yes refused");
	CHECK(control_parse_pin("123", &v, &e) == 0 && v.pin == 123, "pin 123");
	CHECK(control_parse_pin("", &v, &e) == 0 && v.pin == 0, "pin empty");
	CHECK(control_parse_pin("0", &v, &e) == HAIL_E_USAGE, "pin 0 refused");
	CHECK(control_parse_pin("-1", &v, &e) == HAIL_E_USAGE, "pin -1 refused");
	CHECK(control_parse_pin("12a", &v, &e) == HAIL_E_USAGE, "pin 12a refused");
	CHECK(control_parse_pin("99999999999999999999", &v, &e) == HAIL_E_USAGE, "pin huge refused");
	v.pin = 5;
	CHECK(control_parse_fleet_json("{\"pause\": true}", strlen("{\"pause\": true}"), &v, &e) == 0 && v.pause &&
	      v.pin == 0, "fleet pause");
	CHECK(control_parse_fleet_json("{\"pin\": 9, \"pause\": null}", strlen("{\"pin\": 9, \"pause\": null}"), &v, &e) == 0 &&
	      !v.pause && v.pin == 9, "fleet pin");
	CHECK(control_parse_fleet_json("{\"pin\": 1e300}", strlen("{\"pin\": 1e300}"), &v, &e) == HAIL_E_USAGE && v.pin == 9,
	      "fleet pin out of range refused, old value kept");
	CHECK(control_parse_fleet_json("{\"pin\": 1.5}", strlen("{\"pin\": 1.5}"), &v, &e) == HAIL_E_USAGE, "fleet pin 1.5");
	CHECK(control_parse_fleet_json("{\"pause\": 1}", strlen("{\"pause\": 1}"), &v, &e) == HAIL_E_USAGE, "fleet pause 1");
	CHECK(control_parse_fleet_json("[]", strlen("[]"), &v, &e) == HAIL_E_USAGE, "fleet not an object");
}

static void test_credentials(void)
{
	static const char good[] = "{\"Code\":\"Success\",\"AccessKeyId\":\"ASIAEXAMPLE\","
		"\"SecretAccessKey\":\"s/e+c=\",\"Token\":\"t0k+/=\","
		"\"Expiration\":\"2026-11-25T12:00:00Z\"}";
	static const char *const bad[] = {
		"{\"Code\":\"Failure\",\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"s\",\"Token\":\"t\","
		"\"Expiration\":\"2026-11-25T12:00:00Z\"}",
		"{\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"s\",\"Token\":\"t\\r\\nX: y\","
		"\"Expiration\":\"2026-11-25T12:00:00Z\"}",
		"{\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"s\",\"Token\":\"t\",\"Expiration\":\"soon\"}",
		"{\"AccessKeyId\":\"A\",\"Token\":\"t\",\"Expiration\":\"2026-11-25T12:00:00Z\"}",
		"not json",
	};
	struct aws_credentials c = { 0 };
	struct hail_errbuf e;

	CHECK(aws_credentials_parse(&c, good, strlen(good), "creds", &e) == 0 &&
	      !strcmp(c.access_key_id, "ASIAEXAMPLE") && c.expiration == NOON, "credentials");
	aws_credentials_drop(&c);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK(aws_credentials_parse(&c, bad[i], strlen(bad[i]), "creds", &e) ==
		      HAIL_E_PROTOCOL && !c.access_key_id && !strstr(e.msg, "\"t"),
		      "credentials refused %zu: %s", i, e.msg);
}

static void test_xml(void)
{
	static const char err[] = "<ErrorResponse xmlns=\"http://autoscaling.amazonaws.com/doc/"
		"2011-01-01/\"><Error><Type>Sender</Type><Code>Validation<![CDATA[Error]]></Code>"
		"<Message>a &amp; b</Message></Error></ErrorResponse>";
	char buf[32];

	CHECK(xml_element_text(err, strlen(err), "Code", buf, sizeof(buf)) == 0 &&
	      !strcmp(buf, "ValidationError"), "xml Code");
	CHECK(xml_element_text(err, strlen(err), "Message", buf, sizeof(buf)) == 0 &&
	      !strcmp(buf, "a & b"), "xml Message decoded");
	CHECK(xml_element_text(err, strlen(err), "Nope", buf, sizeof(buf)) == HAIL_E_NOT_FOUND,
	      "xml missing element");
	CHECK(xml_element_text(err, strlen(err), "Code", buf, 8) == HAIL_E_PROTOCOL, "xml too long");
	CHECK(xml_element_text("<a><Code>x</a>", 14, "Code", buf, sizeof(buf)) == HAIL_E_PROTOCOL,
	      "xml malformed");
}

static void test_alarm_answers(void)
{
	static const char head[] = "<DescribeAlarmsResponse xmlns=\"http://monitoring.amazonaws.com/"
		"doc/2010-08-01/\"><DescribeAlarmsResult><MetricAlarms>";
	static const struct { const char *body; int ret; enum alarm_state state; const char *name; } rows[] = {
		{ "<member><AlarmName>h</AlarmName><StateValue>ALARM</StateValue></member>", 0,
		  ALARM_STATE_ALARM, "in ALARM" },
		{ "<member><AlarmName>h</AlarmName><StateValue>OK</StateValue></member>", 0,
		  ALARM_STATE_OK, "OK" },
		{ "<member><AlarmName>h</AlarmName><StateValue>ALARM</StateValue><StateUpdatedTimestamp>"
		  "2026-12-02T05:40:12.345Z</StateUpdatedTimestamp></member>", 0, ALARM_STATE_ALARM,
		  "in ALARM since a time" },
		{ "<member><AlarmName>h</AlarmName><StateValue>INSUFFICIENT_DATA</StateValue></member>",
		  0, ALARM_STATE_INSUFFICIENT_DATA, "no data" },
		{ "", 0, ALARM_STATE_MISSING, "left out of the list: missing" },
		{ "<member><AlarmName>other</AlarmName><StateValue>OK</StateValue></member>",
		  HAIL_E_PROTOCOL, 0, "another alarm's answer refused" },
		{ "<member><AlarmName>h</AlarmName><StateValue>MAYBE</StateValue></member>",
		  HAIL_E_PROTOCOL, 0, "an unknown state refused" },
		{ "<member><AlarmName>h</AlarmName></member>", HAIL_E_PROTOCOL, 0,
		  "no state refused" },
		{ "<member><AlarmName>h", HAIL_E_PROTOCOL, 0, "malformed XML refused" },
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		char xml[1024];
		enum alarm_state st = ALARM_STATE_COUNT;
		struct hail_errbuf e;
		time_t since;
		int ret;

		/* the malformed row is cut short, the others are whole */
		snprintf(xml, sizeof(xml), "%s%s%s", head, rows[i].body,
			 i == sizeof(rows) / sizeof(rows[0]) - 1 ? "" :
			 "</MetricAlarms><CompositeAlarms/></DescribeAlarmsResult></DescribeAlarmsResponse>");
		ret = cloudwatch_parse_alarm(xml, strlen(xml), "h", &st, &since, &e);
		CHECK(ret == rows[i].ret && (ret < 0 || st == rows[i].state), "DescribeAlarms: %s",
		      rows[i].name);
	}
	{
		static const char xml[] = "<DescribeAlarmsResponse><DescribeAlarmsResult><MetricAlarms>"
			"<member><AlarmName>h</AlarmName><StateValue>ALARM</StateValue>"
			"<StateUpdatedTimestamp>2026-12-02T05:40:12.345Z</StateUpdatedTimestamp>"
			"</member></MetricAlarms></DescribeAlarmsResult></DescribeAlarmsResponse>";
		enum alarm_state st;
		struct hail_errbuf e;
		time_t since = 0, want;

		rfc3339_parse("2026-12-02T05:40:12Z", &want);
		CHECK(cloudwatch_parse_alarm(xml, strlen(xml), "h", &st, &since, &e) == 0 &&
		      since == want, "DescribeAlarms: StateUpdatedTimestamp read");
	}
	CHECK(metric_dimension_valid("web-asg") && metric_dimension_valid("gr\xc3\xbcn") &&
	      !metric_dimension_valid("") && !metric_dimension_valid("a\tb"),
	      "dimension values: UTF-8 yes, control characters no");
	CHECK(alarm_name_valid("hail-web activation failures") && !alarm_name_valid("") &&
	      !alarm_name_valid("a\nb"), "alarm names");
}

static void test_names(void)
{
	CHECK(ssm_name_valid("/hail/netrc") && ssm_name_valid("hail-netrc_1.x"), "ssm names");
	CHECK(!ssm_name_valid("") && !ssm_name_valid("/a b") && !ssm_name_valid("//a") &&
	      !ssm_name_valid("/a\n"), "ssm names refused");
	CHECK(url_is_secure_endpoint("https://ssm.eu-west-1.amazonaws.com") &&
	      url_is_secure_endpoint("http://127.0.0.1:8080/") &&
	      url_is_secure_endpoint("http://localhost:1") && url_is_secure_endpoint("http://[::1]:2"),
	      "endpoints: https, or http to this machine");
	CHECK(!url_is_secure_endpoint("http://vpce.example.com") &&
	      !url_is_secure_endpoint("https://u:p@ssm.example.com") &&
	      !url_is_secure_endpoint("https://ssm.example.com/?x=1") &&
	      !url_is_secure_endpoint("ftp://ssm.example.com") && !url_is_secure_endpoint("x"),
	      "endpoints refused");
	CHECK(asg_name_valid("web asg") && !asg_name_valid(" web") && !asg_name_valid("a\tb") &&
	      !asg_name_valid(""), "group names");
}

static void test_build_job(void)
{
	static const char json[] = "{\"id\": 5, \"finished\": 1, \"buildstatus\": 0, "
		"\"project\": \"p\", \"jobset\": \"j\", \"job\": \"x\", \"stoptime\": 1795608000, "
		"\"buildoutputs\": {\"out\": {\"path\": \"/nix/store/" H "-demo\"}}}";
	struct hydra_job job, other;
	struct hydra_build b;
	struct hail_errbuf e;

	CHECK(hydra_parse_build_json(json, strlen(json), 5, &b, &e) == 0 && b.stoptime == NOON &&
	      b.job_name && !strcmp(b.job_name, "p/j/x"), "build stoptime and job");
	CHECK(hydra_job_parse("https://h/job/p/j/x", &job, &e) == 0 && hydra_build_of_job(&b, &job),
	      "build of its job");
	CHECK(hydra_job_parse("https://h/job/p/j/xx", &other, &e) == 0 &&
	      !hydra_build_of_job(&b, &other), "build of another job");
	hydra_job_clear(&job);
	hydra_job_clear(&other);
	hydra_build_clear(&b);
}

int main(void)
{
	test_times();
	test_rollout();
	test_control_values();
	test_credentials();
	test_xml();
	test_names();
	test_alarm_answers();
	test_build_job();
	return check_exit();
}
