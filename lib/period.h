/* Time periods as operators write them.
 *
 * A plain number is minutes, as hail 0.2's --poll-period; otherwise one or more
 * NUMBER UNIT pairs with units s, m, h, d ("30s", "5m", "1h30m"). */
#ifndef HAIL_PERIOD_H
#define HAIL_PERIOD_H

#define PERIOD_MAX_SECONDS (366u * 24 * 3600)

/* On success stores seconds in [1, PERIOD_MAX_SECONDS] in *seconds and returns
 * 0; otherwise returns HAIL_E_USAGE and leaves *seconds alone. */
int period_parse(const char *s, unsigned *seconds);

/* Writes a period the way period_parse reads it back ("90s", "5m", "1h"). */
void period_format(unsigned seconds, char *buf, unsigned size);

#endif
