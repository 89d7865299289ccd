/* hail-bootstrap --check FILE: reads a user-data file offline, the way the
 * first boot reads IMDS's (JSON, gzip, MIME, #cloud-config), and prints the
 * settings it would write with the secrets masked, or the one-line error.
 * Nothing is written and nothing is asked of the network, so a launch
 * template's user-data can be checked before an instance boots with it. */
#ifndef HAIL_USERDATA_CHECK_H
#define HAIL_USERDATA_CHECK_H

#include <stdio.h>

#include "error.h"
#include "settings.h"

/* Reads path into s (the caller frees it). HAIL_E_NOT_FOUND when the file
 * cannot be read (the reason in *e), HAIL_E_USAGE when its content is not
 * good user-data. */
int userdata_check_read(const char *path, struct boot_settings *s, struct hail_errbuf *e);

/* The settings as user-data keys, one per line; the netrc's secrets masked. */
void userdata_check_print(const struct boot_settings *s, FILE *out);

#endif
