/* The channel's records (record.h): what the writer makes the reader takes
 * back unchanged; what breaks a rule of the format, the reader refuses. */
#include <string.h>

#include "check.h"
#include "record.h"

#define PATH "/nix/store/0123456789abcdfghijklmnpqrsvwxyz-demo-1.0"

static struct record_ask ask_of(enum record_type type, uint32_t seq, uint64_t id)
{
	struct record_ask a = { .type = type, .seq = seq, .id = id };

	return a;
}

static int read_reply(const uint8_t *buf, size_t len, struct record_ask ask)
{
	struct record_reply r;
	struct hail_errbuf e;

	return record_read_reply(buf, len, &ask, &r, &e);
}

static void test_round_trips(void)
{
	uint8_t buf[RECORD_MAX];
	struct record_reply r;
	struct record_ask ask = ask_of(RECORD_ASK_LATEST, 7, 41);
	struct control_reading tags = { .kind = READING_VALUE, .v = { true, 1999999999, 0 } };
	struct control_reading fleet = { .kind = READING_VALUE, .v = { false, 0, 12 } };
	struct hail_errbuf e;
	size_t n;

	n = record_put_build(buf, 7, 42, 1700000000, PATH, "demo/main/hello");
	CHECK(record_read_reply(buf, n, &ask, &r, &e) == 0 && r.type == RECORD_BUILD &&
	      r.u.build.id == 42 && r.u.build.stoptime == 1700000000 &&
	      !strcmp(r.u.build.path, PATH) && !strcmp(r.u.build.job, "demo/main/hello"),
	      "a build comes back as written");
	n = record_put_build(buf, 7, 42, 0, PATH, NULL);
	CHECK(record_read_reply(buf, n, &ask, &r, &e) == 0 && !r.u.build.job[0],
	      "a build without a job name");
	n = record_put_same(buf, 7, 41);
	CHECK(record_read_reply(buf, n, &ask, &r, &e) == 0 && r.type == RECORD_SAME &&
	      r.u.same_id == 41, "SAME for the known id");
	ask = ask_of(RECORD_ASK_CONTROL, 8, 0);
	n = record_put_control(buf, 8, &tags, &fleet);
	CHECK(record_read_reply(buf, n, &ask, &r, &e) == 0 &&
	      r.u.control[0].kind == READING_VALUE && r.u.control[0].v.pause &&
	      r.u.control[0].v.pause_until == 1999999999 && r.u.control[1].v.pin == 12,
	      "control readings come back as written");
	tags.kind = READING_UNREADABLE;
	fleet.kind = READING_ABSENT;
	n = record_put_control(buf, 8, &tags, &fleet);
	CHECK(record_read_reply(buf, n, &ask, &r, &e) == 0 &&
	      r.u.control[0].kind == READING_UNREADABLE && !r.u.control[0].v.pause &&
	      r.u.control[1].kind == READING_ABSENT && !r.u.control[1].v.pin,
	      "unreadable and absent carry no value");
	n = record_put_error(buf, 8, HAIL_E_NETWORK, "GET http://x/: refused\n\x01");
	CHECK(record_read_reply(buf, n, &ask, &r, &e) == 0 && r.type == RECORD_ERROR &&
	      r.u.error.kind == HAIL_E_NETWORK &&
	      !strcmp(r.u.error.message, "GET http://x/: refused??"),
	      "an error, its control characters masked by the writer");
	ask = ask_of(RECORD_ASK_START, 0, 0);
	n = record_put_hello(buf);
	CHECK(record_read_reply(buf, n, &ask, &r, &e) == 0 && r.type == RECORD_HELLO,
	      "a new fetcher says hello");
	n = record_put_error(buf, 0, HAIL_E_USAGE, "ca-file x: not PEM");
	CHECK(record_read_reply(buf, n, &ask, &r, &e) == 0 && r.u.error.kind == HAIL_E_USAGE,
	      "a bad setting, at the start only");
	ask = ask_of(RECORD_ASK_BUILD, 9, 5);
	CHECK(read_reply(buf, record_put_error(buf, 9, HAIL_E_USAGE, "x"), ask) < 0,
	      "a bad setting later is refused");
}

static void test_questions(void)
{
	uint8_t buf[RECORD_MAX];
	struct record_ask a;
	struct hail_errbuf e;
	size_t n;

	n = record_put_ask(buf, RECORD_ASK_LATEST, 3, 0);
	CHECK(record_read_ask(buf, n, &a, &e) == 0 && a.type == RECORD_ASK_LATEST && a.seq == 3 &&
	      a.id == 0, "ASK_LATEST with no known build");
	n = record_put_ask(buf, RECORD_ASK_BUILD, 4, 99);
	CHECK(record_read_ask(buf, n, &a, &e) == 0 && a.id == 99, "ASK_BUILD");
	n = record_put_ask(buf, RECORD_ASK_BUILD, 4, 0);
	CHECK(record_read_ask(buf, n, &a, &e) < 0, "ASK_BUILD of build 0 is refused");
	n = record_put_ask(buf, RECORD_ASK_CONTROL, 5, 0);
	CHECK(record_read_ask(buf, n, &a, &e) == 0 && n == RECORD_HEADER, "ASK_CONTROL is empty");
	n = record_put_same(buf, 5, 1);
	CHECK(record_read_ask(buf, n, &a, &e) < 0, "a reply is not a question");
}

/* One row: a record the writer would never make, edited by hand. */
struct bad_row {
	const char *name;
	size_t offset;          /* the byte to change in a good BUILD record */
	uint8_t value;
};

static void test_refusals(void)
{
	static const struct bad_row rows[] = {
		{ "unknown version", 0, 2 },
		{ "unknown type", 1, 99 },
		{ "a body length that is not the datagram's", 2, 0 },
		{ "another question's sequence", 4, 8 },
		{ "build id 0", 8, 0 },         /* id 42: its low byte */
		{ "an id above 2^63-1", 15, 0x80 },
		{ "a negative stoptime", 23, 0x80 },
		{ "a store path outside the store", 26 + 1, 'x' },
		{ "a store path with a bad hash character", 26 + 11, 'e' },
		{ "a NUL in the store path", 26 + 20, 0 },
		{ "a job name with a space", 26 + sizeof(PATH) - 1 + 2 + 6, ' ' },
		{ "a job name with a fourth part", 26 + sizeof(PATH) - 1 + 2 + 2, '/' },
	};
	struct record_ask ask = ask_of(RECORD_ASK_LATEST, 7, 41);
	uint8_t good[RECORD_MAX], buf[RECORD_MAX];
	size_t n = record_put_build(good, 7, 42, 1700000000, PATH, "demo/main/hello");
	bool every_cut_refused = true;

	CHECK(read_reply(good, n, ask) == 0, "the good record the rows edit");
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		memcpy(buf, good, n);
		buf[rows[i].offset] = rows[i].value;
		CHECK(read_reply(buf, n, ask) < 0, "refused: %s", rows[i].name);
	}
	for (size_t len = 0; len < n; len++)
		every_cut_refused &= read_reply(good, len, ask) < 0;
	CHECK(every_cut_refused, "every record cut short is refused");
	memcpy(buf, good, n);
	buf[n] = 0;
	buf[2]++;
	CHECK(read_reply(buf, n + 1, ask) < 0, "a byte past the last field is refused");

	CHECK(read_reply(good, n, ask_of(RECORD_ASK_CONTROL, 7, 0)) < 0,
	      "a build for a control question");
	CHECK(read_reply(good, n, ask_of(RECORD_ASK_BUILD, 7, 43)) < 0,
	      "another build than the one asked for");
	CHECK(read_reply(good, n, ask_of(RECORD_ASK_LATEST, 7, 42)) < 0,
	      "the known build sent as new");
	CHECK(read_reply(good, n, ask_of(RECORD_ASK_START, 0, 0)) < 0,
	      "a new fetcher must say hello first");
	n = record_put_same(buf, 7, 40);
	CHECK(read_reply(buf, n, ask) < 0, "SAME naming another id");
	n = record_put_hello(buf);
	CHECK(read_reply(buf, n, ask) < 0, "hello out of turn");

	{
		struct control_reading v = { .kind = READING_VALUE, .v = { false, 0, 0 } };
		struct record_ask c = ask_of(RECORD_ASK_CONTROL, 7, 0);

		n = record_put_control(buf, 7, &v, &v);
		buf[RECORD_HEADER] = 2;         /* the first entry says fleet */
		CHECK(read_reply(buf, n, c) < 0, "control sources out of order");
		n = record_put_control(buf, 7, &v, &v);
		buf[RECORD_HEADER + 1] = 3;
		CHECK(read_reply(buf, n, c) < 0, "an unknown reading");
		n = record_put_control(buf, 7, &v, &v);
		buf[RECORD_HEADER + 1] = 2;     /* unreadable ... */
		buf[RECORD_HEADER + 2] = 1;     /* ... with a pause */
		CHECK(read_reply(buf, n, c) < 0, "an unreadable source with a value");
		n = record_put_control(buf, 7, &v, &v);
		buf[RECORD_HEADER + 3] = 1;     /* an end without a pause */
		CHECK(read_reply(buf, n, c) < 0, "a pause end without a pause");
	}
	n = record_put_error(buf, 7, HAIL_E_INTERRUPTED, "stop");
	CHECK(read_reply(buf, n, ask) < 0, "an interruption is not the fetcher's to report");
	n = record_put_error(buf, 7, HAIL_E_NETWORK, "");
	CHECK(read_reply(buf, n, ask) < 0, "an error without a message");
	n = record_put_error(buf, 7, HAIL_E_NETWORK, "abc");
	buf[n - 1] = 0x1b;
	CHECK(read_reply(buf, n, ask) < 0, "an escape character in a message");
}

static void test_writer_limits(void)
{
	uint8_t buf[RECORD_MAX];
	char job[RECORD_JOB_MAX + 2];

	memset(job, 'a', sizeof(job) - 1);
	job[sizeof(job) - 1] = '\0';
	CHECK(record_put_build(buf, 1, 1, 0, PATH, job) == 0, "a job name past its limit");
	CHECK(record_job_valid("a/b/c", 5) && !record_job_valid("a/b", 3) &&
	      !record_job_valid("a//c", 4) && !record_job_valid("a/b/c%", 6),
	      "job names as hydra.c takes them");
}

int main(void)
{
	test_round_trips();
	test_questions();
	test_refusals();
	test_writer_limits();
	return check_exit();
}
