/* "hail status [--profile P] [--json] [--state-dir DIR]": what each profile
 * runs and why it is not on the latest build, read from the state files. */
#ifndef HAIL_STATUS_H
#define HAIL_STATUS_H

/* argv[0] is "status". Returns the exit status. */
int status_main(int argc, char **argv);

#endif
