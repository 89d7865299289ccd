#include "record.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

/* A writer over a RECORD_MAX buffer; overflow sticks and fails the record. */
struct out {
	uint8_t *buf;
	size_t len;
	bool over;
};

static void put_bytes(struct out *o, const void *p, size_t n)
{
	if (o->over || n > RECORD_MAX - o->len) {
		o->over = true;
		return;
	}
	if (n)
		memcpy(o->buf + o->len, p, n);
	o->len += n;
}

static void put_u(struct out *o, uint64_t v, size_t n)
{
	uint8_t b[8];

	for (size_t i = 0; i < n; i++)
		b[i] = (uint8_t)(v >> (8 * i));
	put_bytes(o, b, n);
}

static void put_string(struct out *o, const char *s, size_t max)
{
	size_t n = s ? strlen(s) : 0;

	if (n > max) {
		o->over = true;
		return;
	}
	put_u(o, n, 2);
	put_bytes(o, s, n);
}

static void start(struct out *o, uint8_t *buf, enum record_type type, uint32_t seq)
{
	o->buf = buf;
	o->len = 0;
	o->over = false;
	put_u(o, RECORD_VERSION, 1);
	put_u(o, type, 1);
	put_u(o, 0, 2);                 /* the body's length, once known */
	put_u(o, seq, 4);
}

static size_t finish(struct out *o)
{
	size_t body = o->len - RECORD_HEADER;

	if (o->over)
		return 0;
	o->buf[2] = (uint8_t)body;
	o->buf[3] = (uint8_t)(body >> 8);
	return o->len;
}

size_t record_put_ask(uint8_t *buf, enum record_type type, uint32_t seq, uint64_t id)
{
	struct out o;

	start(&o, buf, type, seq);
	if (type != RECORD_ASK_CONTROL && type != RECORD_ASK_ALARM)
		put_u(&o, id, 8);
	return finish(&o);
}

size_t record_put_ask_metrics(uint8_t *buf, uint32_t seq, const struct fleet_metrics *m)
{
	struct out o;

	start(&o, buf, RECORD_ASK_METRICS, seq);
	put_u(&o, m->build_id, 8);
	put_u(&o, m->latest_id, 8);
	put_u(&o, m->behind, 1);
	put_u(&o, m->activation_failures, 4);
	put_u(&o, m->health_check_failures, 4);
	put_u(&o, m->held, 1);
	put_u(&o, m->paused, 1);
	return finish(&o);
}

size_t record_put_done(uint8_t *buf, uint32_t seq)
{
	struct out o;

	start(&o, buf, RECORD_DONE, seq);
	return finish(&o);
}

size_t record_put_hello(uint8_t *buf)
{
	struct out o;

	start(&o, buf, RECORD_HELLO, 0);
	return finish(&o);
}

size_t record_put_build(uint8_t *buf, uint32_t seq, uint64_t id, int64_t stoptime,
			const char *path, const char *job)
{
	struct out o;

	start(&o, buf, RECORD_BUILD, seq);
	put_u(&o, id, 8);
	put_u(&o, (uint64_t)stoptime, 8);
	put_string(&o, path, STORE_PATH_MAX);
	put_string(&o, job, RECORD_JOB_MAX);
	return finish(&o);
}

size_t record_put_same(uint8_t *buf, uint32_t seq, uint64_t id)
{
	struct out o;

	start(&o, buf, RECORD_SAME, seq);
	put_u(&o, id, 8);
	return finish(&o);
}

static void put_reading(struct out *o, unsigned source, const struct control_reading *r)
{
	bool value = r->kind == READING_VALUE;

	put_u(o, source, 1);
	put_u(o, r->kind == READING_VALUE ? 0 : r->kind == READING_ABSENT ? 1 : 2, 1);
	put_u(o, value && r->v.pause, 1);
	put_u(o, value ? (uint64_t)r->v.pause_until : 0, 8);
	put_u(o, value ? r->v.pin : 0, 8);
}

size_t record_put_control(uint8_t *buf, uint32_t seq, const struct control_reading *tags,
			  const struct control_reading *fleet)
{
	struct out o;

	start(&o, buf, RECORD_CONTROL, seq);
	put_reading(&o, 1, tags);
	put_reading(&o, 2, fleet);
	return finish(&o);
}

size_t record_put_alarm(uint8_t *buf, uint32_t seq, enum alarm_state state, int64_t since)
{
	struct out o;

	start(&o, buf, RECORD_ALARM, seq);
	put_u(&o, (uint64_t)state, 1);
	put_u(&o, (uint64_t)since, 8);
	return finish(&o);
}

size_t record_put_error(uint8_t *buf, uint32_t seq, int kind, const char *message)
{
	char shown[RECORD_MESSAGE_MAX + 1];
	struct out o;

	/* the reader takes printable ASCII only: say so here, not there */
	snprintf(shown, sizeof(shown), "%s", message);
	for (char *c = shown; *c; c++)
		if ((unsigned char)*c < 0x20 || (unsigned char)*c > 0x7e)
			*c = '?';
	start(&o, buf, RECORD_ERROR, seq);
	put_u(&o, (uint8_t)(int8_t)kind, 1);
	put_string(&o, shown, RECORD_MESSAGE_MAX);
	return finish(&o);
}

/* A reader over one received record; every get fails once past the end. */
struct in {
	const uint8_t *p;
	size_t left;
	bool short_read;
};

static uint64_t get_u(struct in *in, size_t n)
{
	uint64_t v = 0;

	if (in->short_read || in->left < n) {
		in->short_read = true;
		return 0;
	}
	for (size_t i = 0; i < n; i++)
		v |= (uint64_t)in->p[i] << (8 * i);
	in->p += n;
	in->left -= n;
	return v;
}

/* A string of at most max bytes into dst (max + 1 bytes); false when longer,
 * short, or holding a NUL. */
static bool get_string(struct in *in, char *dst, size_t max)
{
	size_t n = get_u(in, 2);

	if (in->short_read || n > max || n > in->left) {
		in->short_read = true;
		return false;
	}
	if (memchr(in->p, '\0', n))
		return false;
	memcpy(dst, in->p, n);
	dst[n] = '\0';
	in->p += n;
	in->left -= n;
	return true;
}

static int bad(struct hail_errbuf *e, const char *what)
{
	return hail_fail(e, HAIL_E_PROTOCOL, "%s", what);
}

/* The header: version, a body length that is the datagram's, the sequence. */
static int read_header(struct in *in, const uint8_t *buf, size_t len, enum record_type *type,
		       uint32_t *seq, struct hail_errbuf *e)
{
	in->p = buf;
	in->left = len;
	in->short_read = false;
	if (len < RECORD_HEADER || len > RECORD_MAX)
		return bad(e, "bad length");
	if (get_u(in, 1) != RECORD_VERSION)
		return bad(e, "unknown version");
	*type = (enum record_type)get_u(in, 1);
	if (get_u(in, 2) != len - RECORD_HEADER)
		return bad(e, "body length does not match");
	*seq = (uint32_t)get_u(in, 4);
	return 0;
}

static bool id_valid(uint64_t id)
{
	return id >= 1 && id <= INT64_MAX;
}

bool record_job_valid(const char *s, size_t len)
{
	size_t part = 0, parts = 1;

	if (len == 0 || len > RECORD_JOB_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '/') {
			if (part == 0 || ++parts > 3)
				return false;
			part = 0;
			continue;
		}
		if (c <= ' ' || c == 0x7f || strchr("?#%", c) || ++part > 255)
			return false;
	}
	return parts == 3 && part > 0;
}

static bool message_valid(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
			return false;
	return true;
}

int record_read_ask(const uint8_t *buf, size_t len, struct record_ask *ask,
		    struct hail_errbuf *e)
{
	struct in in;
	int ret;

	memset(ask, 0, sizeof(*ask));
	ret = read_header(&in, buf, len, &ask->type, &ask->seq, e);
	if (ret < 0)
		return ret;
	switch (ask->type) {
	case RECORD_ASK_LATEST:
		ask->id = get_u(&in, 8);
		if (ask->id && !id_valid(ask->id))
			return bad(e, "known id out of range");
		break;
	case RECORD_ASK_BUILD:
		ask->id = get_u(&in, 8);
		if (!id_valid(ask->id))
			return bad(e, "build id out of range");
		break;
	case RECORD_ASK_CONTROL:
	case RECORD_ASK_ALARM:
		break;
	case RECORD_ASK_METRICS: {
		struct fleet_metrics *m = &ask->metrics;
		unsigned behind, held, paused;

		m->build_id = get_u(&in, 8);
		m->latest_id = get_u(&in, 8);
		behind = (unsigned)get_u(&in, 1);
		m->activation_failures = (uint32_t)get_u(&in, 4);
		m->health_check_failures = (uint32_t)get_u(&in, 4);
		held = (unsigned)get_u(&in, 1);
		paused = (unsigned)get_u(&in, 1);
		if ((m->build_id && !id_valid(m->build_id)) ||
		    (m->latest_id && !id_valid(m->latest_id)))
			return bad(e, "build id out of range");
		if (behind > 1 || held > 1 || paused > 1)
			return bad(e, "a flag that is neither 0 nor 1");
		m->behind = behind;
		m->held = held;
		m->paused = paused;
		break;
	}
	default:
		return bad(e, "not a question");
	}
	if (in.short_read || in.left)
		return bad(e, "fields do not fill the record");
	return 0;
}

static int read_build(struct in *in, struct record_build *b, struct hail_errbuf *e)
{
	int64_t t;

	b->id = get_u(in, 8);
	t = (int64_t)get_u(in, 8);
	if (!get_string(in, b->path, STORE_PATH_MAX) || !get_string(in, b->job, RECORD_JOB_MAX))
		return bad(e, "bad string");
	if (!id_valid(b->id))
		return bad(e, "build id out of range");
	if (t < 0 || t > RECORD_TIME_MAX)
		return bad(e, "stoptime out of range");
	b->stoptime = t;
	if (!storepath_valid(b->path, strlen(b->path), NULL))
		return bad(e, "not a store path");
	if (b->job[0] && !record_job_valid(b->job, strlen(b->job)))
		return bad(e, "not a job name");
	return 0;
}

static int read_reading(struct in *in, unsigned source, struct control_reading *r,
			struct hail_errbuf *e)
{
	unsigned got = (unsigned)get_u(in, 1), kind = (unsigned)get_u(in, 1);
	unsigned pause = (unsigned)get_u(in, 1);
	int64_t until = (int64_t)get_u(in, 8);
	uint64_t pin = get_u(in, 8);

	memset(r, 0, sizeof(*r));
	if (got != source)
		return bad(e, "control sources out of order");
	if (kind > 2 || pause > 1)
		return bad(e, "bad control reading");
	if (until < 0 || until > RECORD_TIME_MAX || (pin && !id_valid(pin)))
		return bad(e, "control value out of range");
	if (kind != 0 && (pause || until || pin))
		return bad(e, "a value with a reading that has none");
	if (!pause && until)
		return bad(e, "a pause end without a pause");
	r->kind = kind == 0 ? READING_VALUE : kind == 1 ? READING_ABSENT : READING_UNREADABLE;
	r->v.pause = pause;
	r->v.pause_until = (time_t)until;
	r->v.pin = pin;
	return 0;
}

static int read_error(struct in *in, bool at_start, struct record_reply *r,
		      struct hail_errbuf *e)
{
	int kind = (int8_t)get_u(in, 1);
	int least = at_start ? HAIL_E_USAGE : HAIL_E_NETWORK;

	if (!get_string(in, r->u.error.message, RECORD_MESSAGE_MAX))
		return bad(e, "bad string");
	/* the kinds a fetch can fail with (a bad setting only at the start);
	 * never an interruption, which is the root side's own to tell */
	if (kind != HAIL_E_INTERNAL && (kind > least || kind < HAIL_E_NOT_FOUND))
		return bad(e, "unknown error kind");
	if (!r->u.error.message[0] || !message_valid(r->u.error.message))
		return bad(e, "error message not printable text");
	r->u.error.kind = kind;
	return 0;
}

int record_read_reply(const uint8_t *buf, size_t len, const struct record_ask *ask,
		      struct record_reply *reply, struct hail_errbuf *e)
{
	enum record_type type;
	uint32_t seq;
	struct in in;
	int ret;

	memset(reply, 0, sizeof(*reply));
	ret = read_header(&in, buf, len, &type, &seq, e);
	if (ret < 0)
		return ret;
	if (seq != ask->seq)
		return bad(e, "answers another question");
	reply->type = type;
	if (ask->type == RECORD_ASK_START && type != RECORD_HELLO && type != RECORD_ERROR)
		return bad(e, "a new fetcher that does not say hello");
	switch (type) {
	case RECORD_HELLO:
		if (ask->type != RECORD_ASK_START)
			return bad(e, "hello out of turn");
		break;
	case RECORD_BUILD:
		if (ask->type != RECORD_ASK_LATEST && ask->type != RECORD_ASK_BUILD)
			return bad(e, "a build that was not asked for");
		ret = read_build(&in, &reply->u.build, e);
		if (ret == 0 && ask->type == RECORD_ASK_BUILD && reply->u.build.id != ask->id)
			ret = bad(e, "another build than asked for");
		if (ret == 0 && ask->type == RECORD_ASK_LATEST && reply->u.build.id == ask->id)
			ret = bad(e, "the known build sent again");
		break;
	case RECORD_SAME:
		if (ask->type != RECORD_ASK_LATEST || !ask->id)
			return bad(e, "SAME that was not asked for");
		reply->u.same_id = get_u(&in, 8);
		if (reply->u.same_id != ask->id)
			ret = bad(e, "SAME names another build");
		break;
	case RECORD_CONTROL:
		if (ask->type != RECORD_ASK_CONTROL)
			return bad(e, "control that was not asked for");
		ret = read_reading(&in, 1, &reply->u.control[0], e);
		if (ret == 0)
			ret = read_reading(&in, 2, &reply->u.control[1], e);
		break;
	case RECORD_DONE:
		if (ask->type != RECORD_ASK_METRICS)
			return bad(e, "DONE that was not asked for");
		break;
	case RECORD_ALARM: {
		unsigned state;

		if (ask->type != RECORD_ASK_ALARM)
			return bad(e, "an alarm that was not asked for");
		state = (unsigned)get_u(&in, 1);
		reply->u.alarm.since = (int64_t)get_u(&in, 8);
		if (state >= ALARM_STATE_COUNT)
			return bad(e, "unknown alarm state");
		if (reply->u.alarm.since < 0 || reply->u.alarm.since > RECORD_TIME_MAX)
			return bad(e, "alarm time out of range");
		reply->u.alarm.state = (enum alarm_state)state;
		break;
	}
	case RECORD_ERROR:
		ret = read_error(&in, ask->type == RECORD_ASK_START, reply, e);
		break;
	default:
		return bad(e, "unknown type");
	}
	if (ret == 0 && (in.short_read || in.left))
		ret = bad(e, "fields do not fill the record");
	return ret;
}
