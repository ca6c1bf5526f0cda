/* cmocka tests of the status table: rows, _none and _other, reload, and
 * several processes counting at once without locks. */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ngsp_status_table.h"


static uint64_t *
row(ngsp_status_table_t *t, const char *name)
{
    return ngsp_status_table_counters(t, (const unsigned char *) name,
                                      strlen(name));
}


/* the published row named name, NULL if none */
static uint64_t *
find(ngsp_status_table_t *t, const char *name)
{
    size_t                i, len;
    uint64_t             *c;
    const unsigned char  *n;

    for (i = 0; i < ngsp_status_table_nslots(t); i++) {
        if (ngsp_status_table_slot(t, i, &n, &len, &c)
            && len == strlen(name) && memcmp(n, name, len) == 0)
        {
            return c;
        }
    }

    return NULL;
}


static size_t
published(ngsp_status_table_t *t)
{
    size_t                i, len, n;
    uint64_t             *c;
    const unsigned char  *name;

    for (i = 0, n = 0; i < ngsp_status_table_nslots(t); i++) {
        n += ngsp_status_table_slot(t, i, &name, &len, &c);
    }

    return n;
}


static void
test_size(void **state)
{
    assert_int_equal(ngsp_status_table_size(0, 4), 0);
    assert_int_equal(ngsp_status_table_size(4, 0), 0);
    assert_int_equal(ngsp_status_table_size(NGSP_STATUS_ROWS_MAX + 1, 4), 0);
    assert_true(ngsp_status_table_size(1000, 40)
                > 1002 * (256 + 40 * 8));
    assert_true(ngsp_status_table_size(1000, 40)
                < ngsp_status_table_size(1001, 40));
}


static void
test_rows(void **state)
{
    size_t                size;
    uint64_t             *a, *b, *mem;
    ngsp_status_table_t  *t;

    size = ngsp_status_table_size(10, 3);
    mem = calloc(1, size);
    assert_non_null(mem);

    assert_null(ngsp_status_table_init(mem, size - 1, 10, 3, 1, 7));
    t = ngsp_status_table_init(mem, size, 10, 3, 1, 7);
    assert_non_null(t);

    a = row(t, "so-tu-phap");
    b = row(t, "so-y-te");
    assert_ptr_not_equal(a, b);
    assert_ptr_equal(row(t, "so-tu-phap"), a);
    ngsp_status_add(&a[2], 5);
    ngsp_status_add(&a[2], 1);
    assert_int_equal(ngsp_status_get(&row(t, "so-tu-phap")[2]), 6);
    assert_int_equal(ngsp_status_get(&b[2]), 0);

    /* a name that is a prefix of another is another name */
    assert_ptr_not_equal(row(t, "so-y"), b);
    assert_int_equal(ngsp_status_table_rows(t), 3);
    assert_int_equal(published(t), 3);
    assert_ptr_equal(find(t, "so-y-te"), b);

    /* no name, or too long a one: _none */
    assert_ptr_equal(ngsp_status_table_counters(t, NULL, 0),
                     ngsp_status_table_none(t));
    {
        unsigned char  big[NGSP_STATUS_NAME_MAX + 1];
        memset(big, 'a', sizeof(big));
        assert_ptr_equal(ngsp_status_table_counters(t, big, sizeof(big)),
                         ngsp_status_table_none(t));
        /* the longest name fits whole */
        a = ngsp_status_table_counters(t, big, NGSP_STATUS_NAME_MAX);
        assert_ptr_not_equal(a, ngsp_status_table_none(t));
        assert_ptr_equal(ngsp_status_table_counters(t, big,
                                                    NGSP_STATUS_NAME_MAX), a);
    }
    assert_int_equal(ngsp_status_table_overflow(t), 0);

    free(mem);
}


static void
test_overflow(void **state)
{
    int                   i;
    char                  name[32];
    size_t                size;
    uint64_t             *mem, *other, *c;
    ngsp_status_table_t  *t;

    size = ngsp_status_table_size(5, 2);
    mem = calloc(1, size);
    t = ngsp_status_table_init(mem, size, 5, 2, 1, 0);

    for (i = 0; i < 5; i++) {
        snprintf(name, sizeof(name), "agency-%d", i);
        ngsp_status_add(&row(t, name)[0], 1);
    }

    other = ngsp_status_table_other(t);
    assert_int_equal(ngsp_status_table_overflow(t), 0);

    for (i = 5; i < 200; i++) {
        snprintf(name, sizeof(name), "agency-%d", i);
        c = row(t, name);
        assert_ptr_equal(c, other);
        ngsp_status_add(&c[0], 1);
    }

    assert_int_equal(ngsp_status_get(&other[0]), 195);
    assert_int_equal(ngsp_status_table_overflow(t), 195);
    assert_int_equal(ngsp_status_table_rows(t), 5);
    assert_int_equal(published(t), 5);

    /* the first ones still count on their own rows */
    assert_ptr_not_equal(row(t, "agency-3"), other);
    assert_int_equal(ngsp_status_get(&row(t, "agency-3")[0]), 1);

    free(mem);
}


/* a reload with the same layout keeps the counters; any change does not */
static void
test_attach(void **state)
{
    size_t                size;
    uint64_t             *mem;
    ngsp_status_table_t  *t;

    size = ngsp_status_table_size(8, 4);
    mem = calloc(1, size + 64);

    assert_null(ngsp_status_table_attach(mem, size, 8, 4, 42));

    t = ngsp_status_table_init(mem, size, 8, 4, 42, 9);
    ngsp_status_add(&row(t, "x")[3], 7);

    t = ngsp_status_table_attach(mem, size + 64, 8, 4, 42);
    assert_non_null(t);
    assert_int_equal(ngsp_status_get(&row(t, "x")[3]), 7);
    assert_int_equal(ngsp_status_table_rows(t), 1);

    assert_null(ngsp_status_table_attach(mem, size, 8, 4, 43));
    assert_null(ngsp_status_table_attach(mem, size, 9, 4, 42));
    assert_null(ngsp_status_table_attach(mem, size, 8, 3, 42));
    assert_null(ngsp_status_table_attach(mem, size - 8, 8, 4, 42));
    /* misaligned memory is refused */
    assert_null(ngsp_status_table_init((char *) mem + 4, size, 8, 4, 1, 1));

    free(mem);
}


/* hostile bytes are only bytes: kept whole, told apart */
static void
test_hostile_names(void **state)
{
    size_t                size, len;
    uint64_t             *mem, *c;
    const unsigned char  *n;
    ngsp_status_table_t  *t;
    static const char     nul[] = "a\0b";

    size = ngsp_status_table_size(16, 1);
    mem = calloc(1, size);
    t = ngsp_status_table_init(mem, size, 16, 1, 1, 3);

    ngsp_status_add(&row(t, "a\"b")[0], 1);
    ngsp_status_add(&row(t, "a\\b")[0], 2);
    ngsp_status_add(&row(t, "a\nb")[0], 3);
    ngsp_status_add(&ngsp_status_table_counters(t,
                        (const unsigned char *) nul, 3)[0], 4);
    ngsp_status_add(&ngsp_status_table_counters(t,
                        (const unsigned char *) nul, 1)[0], 5);
    ngsp_status_add(&row(t, "\xff\xfe")[0], 6);

    assert_int_equal(ngsp_status_get(&find(t, "a\"b")[0]), 1);
    assert_int_equal(ngsp_status_get(&find(t, "a\\b")[0]), 2);
    assert_int_equal(ngsp_status_get(&find(t, "a\nb")[0]), 3);
    assert_int_equal(ngsp_status_get(&find(t, "a")[0]), 5);
    assert_int_equal(ngsp_status_get(&find(t, "\xff\xfe")[0]), 6);

    c = NULL;
    for (size_t i = 0; i < ngsp_status_table_nslots(t); i++) {
        uint64_t  *cc;
        if (ngsp_status_table_slot(t, i, &n, &len, &cc) && len == 3
            && memcmp(n, nul, 3) == 0)
        {
            c = cc;
        }
    }
    assert_non_null(c);
    assert_int_equal(ngsp_status_get(&c[0]), 4);

    free(mem);
}


/*
 * Processes sharing the table (as nginx's workers do) count the same and
 * different names at once: no count is lost, each name has one row.
 */
#define PROCS   4
#define NAMES   40
#define ROUNDS  2000

static void
test_processes(void **state)
{
    int                   p, i, k, st;
    char                  name[32];
    pid_t                 pids[PROCS];
    size_t                size;
    void                 *mem;
    uint64_t             *c, total;
    ngsp_status_table_t  *t;

    size = ngsp_status_table_size(NAMES, 2);
    mem = mmap(NULL, size, PROT_READ | PROT_WRITE,
               MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    assert_true(mem != MAP_FAILED);
    t = ngsp_status_table_init(mem, size, NAMES, 2, 1, 11);

    for (p = 0; p < PROCS; p++) {
        pids[p] = fork();
        assert_true(pids[p] >= 0);

        if (pids[p] == 0) {
            for (k = 0; k < ROUNDS; k++) {
                for (i = 0; i < NAMES + 10; i++) {
                    snprintf(name, sizeof(name), "agency-%d", (i + p) % (NAMES + 10));
                    ngsp_status_add(&row(t, name)[1], 1);
                }
            }
            _exit(0);
        }
    }

    for (p = 0; p < PROCS; p++) {
        assert_int_equal(waitpid(pids[p], &st, 0), pids[p]);
        assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    }

    total = ngsp_status_get(&ngsp_status_table_other(t)[1]);

    for (i = 0; i < NAMES + 10; i++) {
        snprintf(name, sizeof(name), "agency-%d", i);
        c = find(t, name);
        if (c) {
            total += ngsp_status_get(&c[1]);
        }
    }

    /* every count landed once, on a named row or on _other */
    assert_int_equal(total, (uint64_t) PROCS * ROUNDS * (NAMES + 10));
    assert_true(published(t) <= NAMES);
    assert_true(published(t) >= NAMES - PROCS);

    munmap(mem, size);
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_size),
        cmocka_unit_test(test_rows),
        cmocka_unit_test(test_overflow),
        cmocka_unit_test(test_attach),
        cmocka_unit_test(test_hostile_names),
        cmocka_unit_test(test_processes),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
