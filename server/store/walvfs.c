/* walvfs.c - a VFS shim: each WAL commit goes to the kernel in one write. */

#include "server/store/internal.h"

/* ------------------------------------------------- WAL write combining */

/*
 * SQLite writes each WAL frame as two pwrite calls (its 24-byte header,
 * then the page), so a commit of F frames costs 2F system calls, each
 * walking the page cache of the file. This VFS, used by the write
 * connection only, hands a whole transaction to the kernel in one write:
 * it holds the frames of the transaction in memory and writes them out
 * when the page of the commit frame arrives (the frame whose header has a
 * non-zero database size, docs/fileformat "WAL file format").
 *
 * Nothing it holds is ever visible or needed elsewhere: the held bytes are
 * written before any other call on the file (read, sync, truncate, size,
 * lock, close), before any write that does not continue them, and before
 * the write of the commit frame's page returns. So every frame is in the
 * kernel before sqlite3WalFrames() publishes the commit in the WAL index,
 * and a commit acknowledged survives the process being killed exactly as
 * before. Only these shapes are held: a header whose database size is 0,
 * the write that follows it contiguously (its page), and a commit header
 * that continues held frames; a commit header written alone (a checksum
 * rewrite, a one-page transaction) and anything else go straight through.
 */
#define WC_MAX (1u << 20) /* held bytes at most; written out past that */
#define WC_HDR 24         /* WAL frame header */
#define WC_CHUNK 65536u   /* bytes per write call */

enum { WC_NONE, WC_HDR_HELD, WC_PAGE_HELD, WC_COMMIT_HELD };

struct wc_file {
    sqlite3_file base;
    sqlite3_file *real;  /* the default VFS's file, right after this */
    int wal;             /* opened as a WAL file: combines */
    int state;
    unsigned char *buf;
    size_t len, cap;
    sqlite3_int64 off;   /* file offset of buf[0] */
};

static sqlite3_vfs wc_vfs;
static sqlite3_vfs *wc_base;
static pthread_once_t wc_once = PTHREAD_ONCE_INIT;

#define WC_REAL(f) (((struct wc_file *)(f))->real)

/* Writes out what is held. Returns SQLITE_OK or the write's error. */
static int wc_flush(struct wc_file *w)
{
    int rc = SQLITE_OK;

    /* in pieces: the unix VFS writes at most 128 KiB per call */
    for (size_t at = 0; rc == SQLITE_OK && at < w->len; at += WC_CHUNK) {
        size_t n = w->len - at < WC_CHUNK ? w->len - at : WC_CHUNK;

        rc = w->real->pMethods->xWrite(w->real, w->buf + at, (int)n,
                                       w->off + (sqlite3_int64)at);
    }
    w->len = 0;
    w->state = WC_NONE;
    return rc;
}

static int wc_hold(struct wc_file *w, const void *p, int n,
                   sqlite3_int64 off)
{
    if (w->len + (size_t)n > w->cap) {
        size_t ncap = w->cap ? w->cap : 65536;
        unsigned char *nb;

        while (ncap < w->len + (size_t)n)
            ncap *= 2;
        if (!(nb = realloc(w->buf, ncap)))
            return SQLITE_NOMEM;
        w->buf = nb;
        w->cap = ncap;
    }
    if (!w->len)
        w->off = off;
    memcpy(w->buf + w->len, p, (size_t)n);
    w->len += (size_t)n;
    return SQLITE_OK;
}

static int wc_write(sqlite3_file *f, const void *p, int n, sqlite3_int64 off)
{
    struct wc_file *w = (struct wc_file *)f;
    int follows = w->len && off == w->off + (sqlite3_int64)w->len;
    int rc;

    if (!w->wal)
        return w->real->pMethods->xWrite(w->real, p, n, off);
    if (n == WC_HDR) {
        const unsigned char *h = p;
        int commit = h[4] | h[5] | h[6] | h[7];

        if (w->len && (!follows || w->state != WC_PAGE_HELD ||
                       w->len + (size_t)n > WC_MAX) &&
            (rc = wc_flush(w)))
            return rc;
        if ((!commit || w->len) && wc_hold(w, p, n, off) == SQLITE_OK) {
            w->state = commit ? WC_COMMIT_HELD : WC_HDR_HELD;
            return SQLITE_OK;
        }
    } else if (follows && (w->state == WC_HDR_HELD ||
                           w->state == WC_COMMIT_HELD) &&
               wc_hold(w, p, n, off) == SQLITE_OK) {
        int commit = w->state == WC_COMMIT_HELD;

        w->state = WC_PAGE_HELD;
        return commit ? wc_flush(w) : SQLITE_OK;
    }
    /* Anything else, or no memory to hold it: through, in order. */
    if ((rc = wc_flush(w)))
        return rc;
    return w->real->pMethods->xWrite(w->real, p, n, off);
}

/* Every other method writes out what is held first. */
#define WC_FLUSHED(f)                                                      \
    do {                                                                   \
        int frc_ = ((struct wc_file *)(f))->len                            \
                       ? wc_flush((struct wc_file *)(f))                   \
                       : SQLITE_OK;                                        \
        if (frc_ != SQLITE_OK)                                             \
            return frc_;                                                   \
    } while (0)

static int wc_close(sqlite3_file *f)
{
    struct wc_file *w = (struct wc_file *)f;
    int frc = w->len ? wc_flush(w) : SQLITE_OK;
    int rc = w->real->pMethods->xClose(w->real);

    free(w->buf);
    w->buf = NULL;
    w->cap = 0;
    return frc != SQLITE_OK ? frc : rc;
}
static int wc_read(sqlite3_file *f, void *b, int n, sqlite3_int64 off)
{
    WC_FLUSHED(f);
    return WC_REAL(f)->pMethods->xRead(WC_REAL(f), b, n, off);
}
static int wc_truncate(sqlite3_file *f, sqlite3_int64 size)
{
    WC_FLUSHED(f);
    return WC_REAL(f)->pMethods->xTruncate(WC_REAL(f), size);
}
static int wc_sync(sqlite3_file *f, int flags)
{
    WC_FLUSHED(f);
    return WC_REAL(f)->pMethods->xSync(WC_REAL(f), flags);
}
static int wc_size(sqlite3_file *f, sqlite3_int64 *size)
{
    WC_FLUSHED(f);
    return WC_REAL(f)->pMethods->xFileSize(WC_REAL(f), size);
}
static int wc_lock(sqlite3_file *f, int l)
{
    WC_FLUSHED(f);
    return WC_REAL(f)->pMethods->xLock(WC_REAL(f), l);
}
static int wc_unlock(sqlite3_file *f, int l)
{
    WC_FLUSHED(f);
    return WC_REAL(f)->pMethods->xUnlock(WC_REAL(f), l);
}
static int wc_check(sqlite3_file *f, int *out)
{
    WC_FLUSHED(f);
    return WC_REAL(f)->pMethods->xCheckReservedLock(WC_REAL(f), out);
}
static int wc_fcntl(sqlite3_file *f, int op, void *arg)
{
    WC_FLUSHED(f);
    return WC_REAL(f)->pMethods->xFileControl(WC_REAL(f), op, arg);
}
static int wc_sector(sqlite3_file *f)
{
    return WC_REAL(f)->pMethods->xSectorSize(WC_REAL(f));
}
static int wc_devchar(sqlite3_file *f)
{
    return WC_REAL(f)->pMethods->xDeviceCharacteristics(WC_REAL(f));
}
static int wc_shmmap(sqlite3_file *f, int pg, int sz, int ext,
                     void volatile **p)
{
    return WC_REAL(f)->pMethods->xShmMap(WC_REAL(f), pg, sz, ext, p);
}
static int wc_shmlock(sqlite3_file *f, int off, int n, int flags)
{
    return WC_REAL(f)->pMethods->xShmLock(WC_REAL(f), off, n, flags);
}
static void wc_shmbarrier(sqlite3_file *f)
{
    WC_REAL(f)->pMethods->xShmBarrier(WC_REAL(f));
}
static int wc_shmunmap(sqlite3_file *f, int del)
{
    return WC_REAL(f)->pMethods->xShmUnmap(WC_REAL(f), del);
}
static int wc_fetch(sqlite3_file *f, sqlite3_int64 off, int n, void **pp)
{
    WC_FLUSHED(f);
    return WC_REAL(f)->pMethods->xFetch(WC_REAL(f), off, n, pp);
}
static int wc_unfetch(sqlite3_file *f, sqlite3_int64 off, void *p)
{
    return WC_REAL(f)->pMethods->xUnfetch(WC_REAL(f), off, p);
}

/* One table per methods version: SQLite calls the shared-memory (2) and
 * mmap (3) methods only when the version says they exist, so ours must say
 * what the real file's do. */
#define WC_IO(v)                                                           \
    {v, wc_close, wc_read, wc_write, wc_truncate, wc_sync, wc_size,        \
     wc_lock, wc_unlock, wc_check, wc_fcntl, wc_sector, wc_devchar,        \
     wc_shmmap, wc_shmlock, wc_shmbarrier, wc_shmunmap, wc_fetch,          \
     wc_unfetch}
static const sqlite3_io_methods wc_io[3] = {WC_IO(1), WC_IO(2), WC_IO(3)};

static int wc_open(sqlite3_vfs *vfs, sqlite3_filename name, sqlite3_file *f,
                   int flags, int *outflags)
{
    struct wc_file *w = (struct wc_file *)f;
    int rc;

    (void)vfs;
    memset(w, 0, sizeof *w);
    w->real = (sqlite3_file *)(w + 1);
    rc = wc_base->xOpen(wc_base, name, w->real, flags, outflags);
    if (w->real->pMethods) {
        int v = w->real->pMethods->iVersion;

        f->pMethods = &wc_io[v < 1 ? 0 : v > 3 ? 2 : v - 1];
    } else {
        f->pMethods = NULL;
    }
    w->wal = (flags & SQLITE_OPEN_WAL) != 0;
    return rc;
}

static void wc_register(void)
{
    wc_base = sqlite3_vfs_find(NULL);
    if (!wc_base)
        return;
    wc_vfs = *wc_base;
    wc_vfs.zName = "tg-wal-combine";
    wc_vfs.szOsFile = (int)sizeof(struct wc_file) + wc_base->szOsFile;
    wc_vfs.xOpen = wc_open;
    wc_vfs.pNext = NULL;
    if (sqlite3_vfs_register(&wc_vfs, 0) != SQLITE_OK)
        wc_base = NULL;
}

/* The VFS name for the write connection, or NULL (the default) when the
 * combining VFS could not be set up. */
const char *tg_sq_vfs_name(void)
{
    pthread_once(&wc_once, wc_register);
    return wc_base ? wc_vfs.zName : NULL;
}

