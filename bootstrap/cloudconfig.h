/* hail's settings in a #cloud-config document: a top-level "hail:" mapping
 * with the same keys as the JSON form, which is what this turns it into, so
 * that one schema (settings.h) checks both. cloud-init's own keys are left
 * alone. Parsed with libyaml's loader, which keeps an alias as a reference
 * to its anchor's node; the expansion is counted and capped before anything
 * is copied, so an alias bomb costs nothing. */
#ifndef HAIL_CLOUDCONFIG_H
#define HAIL_CLOUDCONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "error.h"

/* Nodes of the whole document with every alias expanded, and how deep. */
#define CLOUDCONFIG_NODES_MAX 10000
#define CLOUDCONFIG_DEPTH_MAX 64

/* Does text start the way cloud-init recognises a cloud-config ("#cloud-config"
 * as the whole first line)? */
bool cloudconfig_is(const char *text, size_t len);

/* On success 0 with *json (malloc'd, NUL-terminated, *json_len bytes) a
 * {"hail": {...}} JSON text, or *json NULL when the document has no hail key.
 * HAIL_E_USAGE with a one-line reason naming the problem (and its line) when
 * the YAML is malformed, nests too deep, expands too far or holds more than
 * one document; never a value of the document. */
int cloudconfig_extract(const char *text, size_t len, char **json, size_t *json_len,
			struct hail_errbuf *e);

#endif
