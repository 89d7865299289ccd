#include "reboot.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "child.h"
#include "fileio.h"
#include "log.h"
#include "rfc3339.h"
#include "strutil.h"

static bool same(const char *a, const char *b)
{
	return a && b && !strcmp(a, b);
}

static void say(struct reboot_plan *p, enum reboot_action action, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void say(struct reboot_plan *p, enum reboot_action action, const char *fmt, ...)
{
	va_list ap;

	p->action = action;
	va_start(ap, fmt);
	vsnprintf(p->reason, sizeof(p->reason), fmt, ap);
	va_end(ap);
}

void reboot_decide(const struct reboot_record *r, const struct reboot_facts *f,
		   struct reboot_plan *p)
{
	uint64_t id = r->required.id;
	char when[32];

	memset(p, 0, sizeof(*p));
	/* the record is of the last activation: a profile moved since (by
	 * hand, or a step under way) is not what it asked a reboot for */
	if (!r->required.path || !same(r->required.path, f->cur_path) || f->step_under_way)
		return;
	if (same(r->requested.path, r->required.path)) {
		if (f->boot_id[0] && !strcmp(f->boot_id, r->boot_id))
			say(p, REBOOT_REQUESTED, "a reboot for build %" PRIu64 " was requested in "
			    "this boot: waiting for it", id);
		else
			say(p, REBOOT_LOOP, "build %" PRIu64 " still says a reboot is required "
			    "after the reboot for it: not rebooting again for it (check its "
			    "bin/reboot-required)", id);
		return;
	}
	if (!f->window) {
		say(p, REBOOT_REPORT, "build %" PRIu64 " takes full effect only after a reboot; "
		    "no reboot-window is set: not rebooting", id);
		return;
	}
	if (!same(f->good_path, f->cur_path) || f->holding) {
		say(p, REBOOT_REPORT, "build %" PRIu64 " takes full effect only after a reboot; "
		    "not rebooting while %s", id, f->holding ? "paused, held or confirming "
		    "contact" : "it is not the last known good");
		return;
	}
	if (!f->boot_id[0]) {
		/* without it a second request in the same boot cannot be ruled out */
		say(p, REBOOT_REPORT, "build %" PRIu64 " takes full effect only after a reboot; "
		    "not rebooting: %s cannot be read", id, BOOT_ID_FILE);
		return;
	}
	p->at = window_moment(f->window, f->offset_s, f->now);
	if (p->at > f->now) {
		rfc3339_format(p->at, when, sizeof(when));
		say(p, REBOOT_WAIT, "build %" PRIu64 " takes full effect only after a reboot: "
		    "rebooting at %s, this machine's moment in the reboot-window", id, when);
		return;
	}
	say(p, REBOOT_NOW, "build %" PRIu64 " takes full effect only after a reboot, and the "
	    "reboot-window is open: rebooting", id);
}

void reboot_boot_id(char *buf, unsigned size)
{
	struct hail_errbuf why;
	char *text = NULL;
	size_t len, n;

	buf[0] = '\0';
	if (file_read(BOOT_ID_FILE, 64, &text, &len, &why) < 0)
		return;
	n = strcspn(text, "\r\n");
	if (n > 0 && n < size && strspn(text, "0123456789abcdef-") == n) {
		memcpy(buf, text, n);
		buf[n] = '\0';
	}
	free(text);
}

void reboot_check_required(struct agent_state *st, const char *profile,
			   const struct build_ref *ref)
{
	char *file = str_concat(profile, "/bin/reboot-required", NULL);
	const char *argv[] = { file, NULL };
	struct child_result res;
	char how[128];
	bool required = false;

	if (!file) {
		log_error(0, "out of memory");
		return;
	}
	if (access(file, F_OK) == 0) {
		if (child_run(argv, REBOOT_REQUIRED_TIMEOUT_S, &res) < 0) {
			log_warning("cannot run %s: %s; taking it as no reboot required", file,
				    strerror(res.spawn_errno));
		} else if (res.timed_out || !WIFEXITED(res.wait_status)) {
			child_describe(&res, how, sizeof(how));
			log_warning("%s %s; taking it as no reboot required", file, how);
		} else {
			required = WEXITSTATUS(res.wait_status) == 0;
		}
	}
	free(file);
	if (!required) {
		ref_clear(&st->reboot.required);
		/* the reboot asked for it happened: a later need of the same
		 * build (after another build's kernel) is a new one */
		if (ref_is(&st->reboot.requested, ref->path))
			ref_clear(&st->reboot.requested);
		return;
	}
	if (ref_is(&st->reboot.required, ref->path))
		return;
	if (ref_set(&st->reboot.required, ref->id, ref->generation, ref->path) < 0)
		log_error(0, "out of memory");
	else
		log_info("build %" PRIu64 " takes full effect only after a reboot (its "
			 "bin/reboot-required said so)", ref->id);
}

int reboot_run_command(const char *command, struct hail_errbuf *e)
{
	const char *custom[] = { command, NULL };
	const char *builtin[] = { "systemctl", "reboot", NULL };
	struct child_result res;
	char how[128];

	if (child_run(command ? custom : builtin, REBOOT_COMMAND_TIMEOUT_S, &res) < 0)
		return hail_fail(e, HAIL_E_ACTIVATE, "cannot run %s: %s",
				 command ? command : "systemctl reboot", strerror(res.spawn_errno));
	if (child_succeeded(&res))
		return 0;
	child_describe(&res, how, sizeof(how));
	return hail_fail(e, HAIL_E_ACTIVATE, "%s %s", command ? command : "systemctl reboot", how);
}
