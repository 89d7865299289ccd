/* The hold file, STATE_DIR/NAME/hold: while it exists hail does not switch
 * the profile.
 *
 * hail writes it when it finds the profile switched by someone else (a manual
 * rollback or pin) since its own last switch, with the id of the build it had
 * deployed: a Hydra build with a higher id releases the hold (hail removes the
 * file and deploys it), and so does removing the file. A hold file without a
 * build id (an operator's "touch") holds until it is removed. */
#ifndef HAIL_HOLD_H
#define HAIL_HOLD_H

#include <stdbool.h>
#include <stdint.h>

#include "error.h"

/* *held: the file exists; *until_id: the build id in it, 0 when none. */
int hold_read(const char *path, bool *held, uint64_t *until_id, struct hail_errbuf *e);

/* Writes a hold released by builds newer than id; from/to say what happened. */
int hold_write(const char *path, uint64_t id, const char *from, const char *to,
	       struct hail_errbuf *e);

int hold_remove(const char *path, struct hail_errbuf *e);

#endif
