/* Staged rollouts: each machine adopts a new build at the build's finish
 * time plus its own offset within the rollout window.
 *
 * The offset is SHA-256("IDENTITY\nBUILD-ID"), its first 8 bytes read as a
 * big-endian number, modulo the window in seconds. The identity is the
 * instance id (else /etc/machine-id), so the offsets are deterministic (a
 * restart does not move them), evenly spread over the window, and differ
 * from build to build (no machine is always first). */
#ifndef HAIL_ROLLOUT_H
#define HAIL_ROLLOUT_H

#include <stdint.h>

#include "error.h"

#define MACHINE_ID_FILE "/etc/machine-id"

/* The seconds into the window at which identity adopts build_id. */
unsigned rollout_offset_s(const char *identity, uint64_t build_id, unsigned window_s);

/* instance_id when given, else the machine id; *identity is malloc'd.
 * HAIL_E_USAGE when neither is there. */
int rollout_identity(const char *instance_id, char **identity, struct hail_errbuf *e);

#endif
