/* libFuzzer: the root side's reader of the fetcher's records (record.h), the
 * one place where the root side takes bytes from the network side. The first
 * two bytes pick the question (its type; the id it names), the rest is the
 * record. A record the reader takes must name valid things and, written again,
 * give the same bytes: nothing it takes is left unchecked. */
#include <stdint.h>
#include <string.h>

#include "record.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static size_t rewrite(const struct record_reply *r, uint32_t seq, uint8_t *buf)
{
	switch (r->type) {
	case RECORD_HELLO:
		return record_put_hello(buf);
	case RECORD_BUILD:
		return record_put_build(buf, seq, r->u.build.id, r->u.build.stoptime,
					r->u.build.path, r->u.build.job);
	case RECORD_SAME:
		return record_put_same(buf, seq, r->u.same_id);
	case RECORD_CONTROL:
		return record_put_control(buf, seq, &r->u.control[0], &r->u.control[1]);
	case RECORD_ERROR:
		return record_put_error(buf, seq, r->u.error.kind, r->u.error.message);
	case RECORD_ALARM:
		return record_put_alarm(buf, seq, r->u.alarm.state, r->u.alarm.since);
	case RECORD_DONE:
		return record_put_done(buf, seq);
	default:
		return 0;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct record_ask ask = { 0 };
	struct record_reply r;
	struct hail_errbuf e;
	uint8_t again[RECORD_MAX];
	size_t n;

	if (size < 2)
		return 0;
	ask.type = (enum record_type)(data[0] % 6);
	ask.seq = ask.type == RECORD_ASK_START ? 0 : 7;
	ask.id = ask.type == RECORD_ASK_CONTROL || ask.type >= RECORD_ASK_ALARM ? 0 : data[1];
	if (ask.type == RECORD_ASK_BUILD && !ask.id)
		ask.id = 1;
	if (record_read_reply(data + 2, size - 2, &ask, &r, &e) < 0)
		return 0;
	if (r.type == RECORD_BUILD &&
	    (!storepath_valid(r.u.build.path, strlen(r.u.build.path), NULL) || !r.u.build.id ||
	     r.u.build.stoptime < 0 || r.u.build.stoptime > RECORD_TIME_MAX))
		__builtin_trap();
	n = rewrite(&r, ask.seq, again);
	if (n != size - 2 || memcmp(again, data + 2, n))
		__builtin_trap();
	return 0;
}
