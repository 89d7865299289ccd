/* Writing files that matter: atomically, with their final mode, or not at all.
 *
 * The data goes to a temporary file in the same directory (O_EXCL, mode set
 * before anything is written), which is fsync'd and renamed over the target;
 * then the directory is fsync'd. On any failure the temporary file is
 * removed and the target is untouched (systemd's write_string_file_atomic). */
#ifndef HAIL_FILEIO_H
#define HAIL_FILEIO_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "error.h"

/* Writes len bytes of data to path with mode. When changed is not NULL and
 * the file already holds exactly that data with that mode, writes nothing and
 * sets *changed to false. durable: fsync the file and its folder, so the new
 * content survives a power cut; without it a power cut may lose the latest
 * write, but no reader ever sees a partial file. HAIL_E_INTERNAL with the
 * reason in *e. */
int file_write_atomic(const char *path, const void *data, size_t len, mode_t mode,
		      bool *changed, bool durable, struct hail_errbuf *e);

/* Reads at most max bytes of path into *data (malloc'd, NUL-terminated).
 * HAIL_E_NOT_FOUND when it does not exist, HAIL_E_PROTOCOL when larger. */
int file_read(const char *path, size_t max, char **data, size_t *len, struct hail_errbuf *e);

/* Removes path; durable: fsync its folder too, so the removal survives a
 * power cut. HAIL_E_NOT_FOUND when it does not exist. */
int file_remove(const char *path, bool durable, struct hail_errbuf *e);

/* Creates the missing folders above path (not path itself) with mode. */
int mkdir_parents(const char *path, mode_t mode, struct hail_errbuf *e);

#endif
