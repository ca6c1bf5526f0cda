/*
 * ngsp status table: named rows of 64-bit counters in one block of memory
 * that several processes share, read and written without locks.  Plain
 * C, no nginx headers.
 *
 * The block holds a header, an index of 2 * max_rows slots (open
 * addressing, linear probing) and max_rows + 2 rows.  A new name takes a
 * row by an atomic increment of the row count, writes its name into that
 * row (no other process has its number yet), then publishes the row by a
 * compare-and-swap of an empty index slot with release order.  A reader
 * loads a slot with acquire order, so it sees a published row's name
 * whole, and skips empty slots.  Two processes that meet the same new name
 * at once race for the same slot: one swap wins, the other sees the
 * winner's row under that name and counts there; its own row is left
 * unpublished (it still counts against max_rows).
 *
 * Past max_rows, names count under the fixed row "_other"; counting
 * without a name goes to the fixed row "_none".  Memory never grows.
 */

#ifndef NGSP_STATUS_TABLE_H
#define NGSP_STATUS_TABLE_H

#include <stddef.h>
#include <stdint.h>


#define NGSP_STATUS_NAME_MAX   256      /* bytes of a name */
#define NGSP_STATUS_ROWS_MAX   1000000

#define NGSP_STATUS_NONE       "_none"
#define NGSP_STATUS_OTHER      "_other"


typedef struct ngsp_status_table_s  ngsp_status_table_t;


/*
 * Bytes a table of max_rows named rows with ncounters counters each needs,
 * or 0 when max_rows or ncounters is 0 or out of range.
 */
size_t ngsp_status_table_size(uint32_t max_rows, uint32_t ncounters);

/*
 * Lays a new, empty table out in mem (8-byte aligned, size bytes), tagged
 * with layout (the caller's digest of what its counters mean); seed keys
 * the hash of names, so that names chosen to collide cannot be prepared
 * in advance.  NULL when size is too small.
 */
ngsp_status_table_t *ngsp_status_table_init(void *mem, size_t size,
    uint32_t max_rows, uint32_t ncounters, uint64_t layout, uint64_t seed);

/*
 * The table already in mem if it was made with the same max_rows,
 * ncounters and layout (its counters go on), else NULL.
 */
ngsp_status_table_t *ngsp_status_table_attach(void *mem, size_t size,
    uint32_t max_rows, uint32_t ncounters, uint64_t layout);

/*
 * The counters of the row named name: found, or made; the "_other" row's
 * when the table is full; the "_none" row's when len is 0 or more than
 * NGSP_STATUS_NAME_MAX (callers refuse those before).  Never NULL.
 */
uint64_t *ngsp_status_table_counters(ngsp_status_table_t *t,
    const unsigned char *name, size_t len);

/* the fixed rows, to count in or to read */
uint64_t *ngsp_status_table_none(ngsp_status_table_t *t);
uint64_t *ngsp_status_table_other(ngsp_status_table_t *t);

/* index slots, for ngsp_status_table_slot() */
size_t ngsp_status_table_nslots(const ngsp_status_table_t *t);

/*
 * The row published in slot i: 1 with its name and counters, or 0 (slot
 * empty).  Rows appear in index order, not by name nor by age.
 */
int ngsp_status_table_slot(ngsp_status_table_t *t, size_t i,
    const unsigned char **name, size_t *len, uint64_t **counters);

/* rows taken (published or lost in a race), at most max_rows */
uint32_t ngsp_status_table_rows(const ngsp_status_table_t *t);

/* lookups that found the table full (and so "_other") since it was made */
uint64_t ngsp_status_table_overflow(const ngsp_status_table_t *t);

/* counters are added to and read with these, never with plain access */
static inline void
ngsp_status_add(uint64_t *c, uint64_t n)
{
    __atomic_fetch_add(c, n, __ATOMIC_RELAXED);
}

static inline void
ngsp_status_set(uint64_t *c, uint64_t v)
{
    __atomic_store_n(c, v, __ATOMIC_RELAXED);
}

static inline uint64_t
ngsp_status_get(const uint64_t *c)
{
    return __atomic_load_n(c, __ATOMIC_RELAXED);
}

#endif /* NGSP_STATUS_TABLE_H */
