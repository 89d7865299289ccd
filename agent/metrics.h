/* Prometheus text format (node_exporter's textfile collector), written
 * atomically after every poll to --metrics-file. */
#ifndef HAIL_METRICS_H
#define HAIL_METRICS_H

#include "error.h"
#include "state.h"

/* Writes the metrics of one profile (label profile="NAME") to path. */
int metrics_write(const char *path, const char *profile, const struct agent_state *s,
		  struct hail_errbuf *e);

/* Formats them into buf (size bytes); returns the length, or -1 if too small. */
int metrics_format(char *buf, size_t size, const char *profile, const struct agent_state *s);

#endif
