/*
 * ngsp status table: a lock-free, bounded table of named counter rows in
 * memory shared by processes (see ngsp_status_table.h).
 */

#include <string.h>

#include "ngsp_status_table.h"


#define NGSP_STATUS_MAGIC      0x6e67737073746174ULL     /* "ngspstat" */
#define NGSP_STATUS_ROW_NONE   0
#define NGSP_STATUS_ROW_OTHER  1
#define NGSP_STATUS_ROW_FIRST  2


struct ngsp_status_table_s {
    uint64_t   magic;
    uint64_t   layout;
    uint64_t   seed;
    uint64_t   size;
    uint32_t   max_rows;
    uint32_t   ncounters;
    uint32_t   nslots;          /* a power of two, >= 2 * max_rows */
    uint32_t   rows;            /* named rows taken; atomic */
    uint64_t   overflow;        /* atomic */
    /* uint32_t slots[nslots], then the rows, 8-byte aligned */
};


typedef struct {
    uint32_t        hash;
    uint32_t        len;
    unsigned char   name[NGSP_STATUS_NAME_MAX];
    uint64_t        counters[];
} ngsp_status_row_t;


static uint32_t
ngsp_status_nslots(uint32_t max_rows)
{
    uint32_t  n;

    for (n = 4; n < 2 * max_rows; n <<= 1) { /* void */ }

    return n;
}


static size_t
ngsp_status_row_size(uint32_t ncounters)
{
    return sizeof(ngsp_status_row_t) + (size_t) ncounters * sizeof(uint64_t);
}


static size_t
ngsp_status_slots_size(uint32_t nslots)
{
    return ((size_t) nslots * sizeof(uint32_t) + 7) & ~(size_t) 7;
}


size_t
ngsp_status_table_size(uint32_t max_rows, uint32_t ncounters)
{
    if (max_rows == 0 || max_rows > NGSP_STATUS_ROWS_MAX
        || ncounters == 0 || ncounters > 65536)
    {
        return 0;
    }

    return sizeof(ngsp_status_table_t)
           + ngsp_status_slots_size(ngsp_status_nslots(max_rows))
           + ((size_t) max_rows + NGSP_STATUS_ROW_FIRST)
             * ngsp_status_row_size(ncounters);
}


static uint32_t *
ngsp_status_slots(const ngsp_status_table_t *t)
{
    return (uint32_t *) (t + 1);
}


static ngsp_status_row_t *
ngsp_status_row(const ngsp_status_table_t *t, uint32_t i)
{
    unsigned char  *p;

    p = (unsigned char *) (t + 1) + ngsp_status_slots_size(t->nslots);

    return (ngsp_status_row_t *) (p + (size_t) i
                                      * ngsp_status_row_size(t->ncounters));
}


/* FNV-1a, 64 bits, keyed by the seed; folded to 32 */
static uint32_t
ngsp_status_hash(uint64_t seed, const unsigned char *p, size_t len)
{
    size_t    i;
    uint64_t  h;

    h = 0xcbf29ce484222325ULL ^ seed;

    for (i = 0; i < len; i++) {
        h ^= p[i];
        h *= 0x100000001b3ULL;
    }

    h ^= h >> 29;
    h *= 0xbf58476d1ce4e5b9ULL;
    h ^= h >> 32;

    return (uint32_t) h;
}


static void
ngsp_status_name(ngsp_status_row_t *row, const char *name)
{
    row->len = (uint32_t) strlen(name);
    memcpy(row->name, name, row->len);
}


ngsp_status_table_t *
ngsp_status_table_init(void *mem, size_t size, uint32_t max_rows,
    uint32_t ncounters, uint64_t layout, uint64_t seed)
{
    size_t                need;
    ngsp_status_table_t  *t;

    need = ngsp_status_table_size(max_rows, ncounters);

    if (need == 0 || size < need || ((uintptr_t) mem & 7)) {
        return NULL;
    }

    memset(mem, 0, need);

    t = mem;
    t->layout = layout;
    t->seed = seed;
    t->size = need;
    t->max_rows = max_rows;
    t->ncounters = ncounters;
    t->nslots = ngsp_status_nslots(max_rows);

    ngsp_status_name(ngsp_status_row(t, NGSP_STATUS_ROW_NONE),
                     NGSP_STATUS_NONE);
    ngsp_status_name(ngsp_status_row(t, NGSP_STATUS_ROW_OTHER),
                     NGSP_STATUS_OTHER);

    /* the magic last: a half-made table is never attached to */
    __atomic_store_n(&t->magic, NGSP_STATUS_MAGIC, __ATOMIC_RELEASE);

    return t;
}


ngsp_status_table_t *
ngsp_status_table_attach(void *mem, size_t size, uint32_t max_rows,
    uint32_t ncounters, uint64_t layout)
{
    size_t                need;
    ngsp_status_table_t  *t;

    need = ngsp_status_table_size(max_rows, ncounters);

    if (need == 0 || size < need || ((uintptr_t) mem & 7)) {
        return NULL;
    }

    t = mem;

    if (__atomic_load_n(&t->magic, __ATOMIC_ACQUIRE) != NGSP_STATUS_MAGIC
        || t->layout != layout
        || t->size != need
        || t->max_rows != max_rows
        || t->ncounters != ncounters
        || t->nslots != ngsp_status_nslots(max_rows))
    {
        return NULL;
    }

    return t;
}


uint64_t *
ngsp_status_table_none(ngsp_status_table_t *t)
{
    return ngsp_status_row(t, NGSP_STATUS_ROW_NONE)->counters;
}


uint64_t *
ngsp_status_table_other(ngsp_status_table_t *t)
{
    return ngsp_status_row(t, NGSP_STATUS_ROW_OTHER)->counters;
}


static uint64_t *
ngsp_status_overflow(ngsp_status_table_t *t)
{
    __atomic_fetch_add(&t->overflow, 1, __ATOMIC_RELAXED);

    return ngsp_status_row(t, NGSP_STATUS_ROW_OTHER)->counters;
}


/* a row of its own for the name, not published yet; 0 when full */
static uint32_t
ngsp_status_take(ngsp_status_table_t *t, uint32_t hash,
    const unsigned char *name, size_t len)
{
    uint32_t            n;
    ngsp_status_row_t  *row;

    if (__atomic_load_n(&t->rows, __ATOMIC_RELAXED) >= t->max_rows) {
        return 0;
    }

    n = __atomic_fetch_add(&t->rows, 1, __ATOMIC_RELAXED);

    if (n >= t->max_rows) {
        return 0;
    }

    row = ngsp_status_row(t, NGSP_STATUS_ROW_FIRST + n);
    row->hash = hash;
    row->len = (uint32_t) len;
    memcpy(row->name, name, len);

    return NGSP_STATUS_ROW_FIRST + n + 1;
}


uint64_t *
ngsp_status_table_counters(ngsp_status_table_t *t, const unsigned char *name,
    size_t len)
{
    uint32_t            hash, mask, i, n, v, mine;
    uint32_t           *slots;
    ngsp_status_row_t  *row;

    if (len == 0 || len > NGSP_STATUS_NAME_MAX) {
        return ngsp_status_table_none(t);
    }

    hash = ngsp_status_hash(t->seed, name, len);
    slots = ngsp_status_slots(t);
    mask = t->nslots - 1;
    mine = 0;

    for (i = hash & mask, n = 0; n < t->nslots; i = (i + 1) & mask, n++) {

        v = __atomic_load_n(&slots[i], __ATOMIC_ACQUIRE);

        while (v == 0) {
            if (mine == 0) {
                mine = ngsp_status_take(t, hash, name, len);
                if (mine == 0) {
                    return ngsp_status_overflow(t);
                }
            }

            /* the name is in the row before the row is in the index */
            if (__atomic_compare_exchange_n(&slots[i], &v, mine, 0,
                                            __ATOMIC_ACQ_REL,
                                            __ATOMIC_ACQUIRE))
            {
                return ngsp_status_row(t, mine - 1)->counters;
            }

            /* v now holds the row another process published here */
        }

        if (v < NGSP_STATUS_ROW_FIRST + 1
            || v > t->max_rows + NGSP_STATUS_ROW_FIRST)
        {
            continue;
        }

        row = ngsp_status_row(t, v - 1);

        if (row->hash == hash && row->len == len
            && memcmp(row->name, name, len) == 0)
        {
            return row->counters;
        }
    }

    /* not reached: the index has twice the slots of the rows */
    return ngsp_status_overflow(t);
}


size_t
ngsp_status_table_nslots(const ngsp_status_table_t *t)
{
    return t->nslots;
}


int
ngsp_status_table_slot(ngsp_status_table_t *t, size_t i,
    const unsigned char **name, size_t *len, uint64_t **counters)
{
    uint32_t            v;
    ngsp_status_row_t  *row;

    if (i >= t->nslots) {
        return 0;
    }

    v = __atomic_load_n(&ngsp_status_slots(t)[i], __ATOMIC_ACQUIRE);

    /* a value out of range is never written; checked all the same */
    if (v < NGSP_STATUS_ROW_FIRST + 1
        || v > t->max_rows + NGSP_STATUS_ROW_FIRST)
    {
        return 0;
    }

    row = ngsp_status_row(t, v - 1);

    if (row->len == 0 || row->len > NGSP_STATUS_NAME_MAX) {
        return 0;
    }

    *name = row->name;
    *len = row->len;
    *counters = row->counters;

    return 1;
}


uint32_t
ngsp_status_table_rows(const ngsp_status_table_t *t)
{
    uint32_t  n;

    n = __atomic_load_n(&t->rows, __ATOMIC_RELAXED);

    return n < t->max_rows ? n : t->max_rows;
}


uint64_t
ngsp_status_table_overflow(const ngsp_status_table_t *t)
{
    return __atomic_load_n(&t->overflow, __ATOMIC_RELAXED);
}
