/* errors.h - the one error convention of ticketgate: 0 ok, negative TG_E*. */
#ifndef TG_ERRORS_H
#define TG_ERRORS_H

enum {
    TG_OK = 0,
    TG_ENOMEM = -1,    /* allocation failed */
    TG_EINVAL = -2,    /* malformed input (the caller maps it to 4xx) */
    TG_ENOTFOUND = -3, /* lookup found nothing */
    TG_EIO = -4,       /* a file or the store could not be read or written */
    TG_ETOOBIG = -5,   /* input over a configured maximum */
    TG_EAUTH = -6,     /* a credential did not verify */
    TG_ECONFLICT = -7, /* replay: same delivery id, different body */
    TG_EBUSY = -8,     /* the store is unavailable (locked, full) */
};

#endif
