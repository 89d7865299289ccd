/* The records between hail's root side and its fetcher (fetcher.h).
 *
 * The fetcher does every network request and parses every answer; the root
 * side only ever reads these records, never JSON, XML or HTTP. Each record is
 * one datagram of an AF_UNIX SOCK_SEQPACKET socket pair, at most RECORD_MAX
 * bytes: an 8-byte header, then the body's fields in a fixed order. Integers
 * are little-endian whatever the machine; a string is a 2-byte length and that
 * many bytes, no NUL. Nothing may follow the last field.
 *
 *   header   u8 version (RECORD_VERSION)   u8 type   u16 body length
 *            u32 sequence (the reply repeats its question's)
 *
 *   root -> fetcher (a netrc descriptor rides along as SCM_RIGHTS on the
 *   Hydra questions when one is set; nothing else crosses)
 *     ASK_LATEST    u64 known id (0: none): the latest build of the job
 *     ASK_BUILD     u64 id: that build (a pin's)
 *     ASK_CONTROL   (empty): pause and pin from the instance tags and SSM
 *     ASK_ALARM     (empty): the state of the halt alarm (CloudWatch)
 *     ASK_METRICS   u64 build id, u64 latest id, u8 behind, u32 activation
 *                   failures, u32 health check failures, u8 held, u8 paused:
 *                   the fleet metrics to send (fleetmetrics.h)
 *
 *   fetcher -> root
 *     HELLO         (empty, sequence 0): set up and confined, ready for
 *                   questions; an ERROR in its place says why it is not
 *     BUILD         u64 id, i64 stoptime, string store path, string job
 *                   (the answer to ASK_BUILD, or to ASK_LATEST for a new id)
 *     SAME          u64 id: the latest build is still the known one
 *     CONTROL       2 x { u8 source (1 tags, 2 fleet), u8 reading (0 value,
 *                   1 absent, 2 unreadable), u8 pause, i64 pause until,
 *                   u64 pin }, tags first
 *     ALARM         u8 state (cloudwatch.h: 0 OK, 1 ALARM, 2 INSUFFICIENT_DATA,
 *                   3 no such alarm), i64 in it since (0: not known); an
 *                   ERROR when it cannot be read
 *     DONE          (empty): the metrics were sent
 *     ERROR         i8 error kind (error.h), string message
 *
 * The reader re-validates every field: ids in 1..2^63-1 (a pin may be 0),
 * times in 0..RECORD_TIME_MAX, a store path by storepath_valid(), a job as
 * hydra.c accepts one, a message of printable ASCII; anything else, or a reply
 * that does not answer the question, is refused whole. Secrets never travel
 * back: role credentials and SSM values stay in the fetcher. */
#ifndef HAIL_RECORD_H
#define HAIL_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cloudwatch.h"
#include "control.h"
#include "error.h"
#include "fleetmetrics.h"
#include "storepath.h"

#define RECORD_VERSION 1
#define RECORD_HEADER 8
#define RECORD_MAX 2048
#define RECORD_JOB_MAX 767              /* PROJECT/JOBSET/JOB, 255 each */
#define RECORD_MESSAGE_MAX 700          /* < sizeof(struct hail_errbuf) */
#define RECORD_TIME_MAX 253402300799LL  /* 9999-12-31T23:59:59Z */

enum record_type {
	RECORD_ASK_START = 0,           /* not sent: the "question" a new fetcher answers */
	RECORD_ASK_LATEST = 1,
	RECORD_ASK_BUILD = 2,
	RECORD_ASK_CONTROL = 3,
	RECORD_ASK_ALARM = 4,
	RECORD_ASK_METRICS = 5,
	RECORD_HELLO = 15,
	RECORD_BUILD = 16,
	RECORD_SAME = 17,
	RECORD_CONTROL = 18,
	RECORD_ERROR = 19,
	RECORD_ALARM = 20,
	RECORD_DONE = 21,
};

struct record_build {
	uint64_t id;
	int64_t stoptime;               /* 0: not given */
	char path[STORE_PATH_MAX + 1];
	char job[RECORD_JOB_MAX + 1];   /* "" when Hydra did not say */
};

/* A question, as the fetcher reads it. */
struct record_ask {
	enum record_type type;
	uint32_t seq;
	uint64_t id;                    /* ASK_LATEST's known id, ASK_BUILD's id */
	struct fleet_metrics metrics;   /* ASK_METRICS */
};

/* A reply, as the root side reads it. */
struct record_reply {
	enum record_type type;
	union {
		struct record_build build;              /* BUILD */
		uint64_t same_id;                       /* SAME */
		struct control_reading control[2];      /* CONTROL: tags, fleet */
		struct {
			enum alarm_state state;
			int64_t since;
		} alarm;                                /* ALARM */
		struct {
			int kind;                       /* a HAIL_E_* */
			char message[RECORD_MESSAGE_MAX + 1];
		} error;                                /* ERROR */
	} u;
};

/* Writers: the record's length in buf (RECORD_MAX bytes), or 0 when a field
 * does not fit its limit (the caller sends an ERROR instead). */
size_t record_put_ask(uint8_t *buf, enum record_type type, uint32_t seq, uint64_t id);
size_t record_put_ask_metrics(uint8_t *buf, uint32_t seq, const struct fleet_metrics *m);
size_t record_put_done(uint8_t *buf, uint32_t seq);
size_t record_put_hello(uint8_t *buf);
size_t record_put_build(uint8_t *buf, uint32_t seq, uint64_t id, int64_t stoptime,
			const char *path, const char *job);
size_t record_put_same(uint8_t *buf, uint32_t seq, uint64_t id);
size_t record_put_control(uint8_t *buf, uint32_t seq, const struct control_reading *tags,
			  const struct control_reading *fleet);
size_t record_put_alarm(uint8_t *buf, uint32_t seq, enum alarm_state state, int64_t since);
size_t record_put_error(uint8_t *buf, uint32_t seq, int kind, const char *message);

/* The fetcher's reader of questions: 0, or HAIL_E_PROTOCOL with the reason. */
int record_read_ask(const uint8_t *buf, size_t len, struct record_ask *ask,
		    struct hail_errbuf *e);

/* The root side's reader: the reply to question ask (its type, sequence and
 * id; RECORD_ASK_START with sequence 0 for a new fetcher's first record),
 * validated field by field. 0, or HAIL_E_PROTOCOL with the reason;
 * *reply is then unspecified. */
int record_read_reply(const uint8_t *buf, size_t len, const struct record_ask *ask,
		      struct record_reply *reply, struct hail_errbuf *e);

/* True for a job name as hydra.c accepts one from a build's JSON: three
 * non-empty names of at most 255 bytes joined by '/', with no space, control
 * character, DEL or any of "/?#%" in a name. */
bool record_job_valid(const char *s, size_t len);

#endif
