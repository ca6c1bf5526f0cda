/*
 * Overrides: the hash ngsp:{tag}:limits of an agency, one field
 * "<policy>:<unit>" per window whose limit an operator changed.  nginx
 * reads it on every request, so a change applies from the next one.
 * Values are checked by the rule the script applies (digits only, at
 * most 10^15), so what ngspctl writes is always taken.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ngspctl.h"


/* a window the policy in nginx's status has; USAGE otherwise */
static int
ngspctl_check_window(ngspctl_t *c, const char *policy,
    ngsp_quota_unit_t unit)
{
    size_t                      i;
    const ngsp_quota_policy_t  *p;

    if (!c->have_status) {
        return 0;
    }

    p = ngspctl_policy(c, policy);
    if (p == NULL) {
        return ngspctl_error(NGSPCTL_USAGE, "no policy \"%s\" in nginx's "
                             "status", policy);
    }

    for (i = 0; i < p->nwindows; i++) {
        if (p->windows[i].unit == unit) {
            return 0;
        }
    }

    return ngspctl_error(NGSPCTL_USAGE, "policy \"%s\" has no r/%s window: "
                         "an override of %s:%s would do nothing", policy,
                         ngsp_quota_unit_name(unit), policy,
                         ngsp_quota_unit_name(unit));
}


static int
ngspctl_field_args(ngspctl_t *c, char **argv, ngspctl_agency_t *a,
    char *field, char *key)
{
    int                rc;
    ngsp_quota_unit_t  unit;
    char               policy[NGSP_QUOTA_NAME_MAX + 1];

    rc = ngspctl_agency(argv[0], a);
    if (rc != 0) {
        return rc;
    }

    rc = ngspctl_parse_field(argv[1], policy, &unit);
    if (rc != 0) {
        return rc;
    }

    rc = ngspctl_check_window(c, policy, unit);
    if (rc != 0) {
        return rc;
    }

    sprintf(field, "%s:%s", policy, ngsp_quota_unit_name(unit));
    ngsp_quota_limits_key(a->tag, a->tag_len, key);

    return 0;
}


static void
ngspctl_agency_text(const ngspctl_agency_t *a)
{
    fputs("agency \"", stdout);
    ngspctl_print_escaped(a->name, a->len);
    fputs("\"", stdout);
}


int
ngspctl_set(ngspctl_t *c, int argc, char **argv)
{
    int                rc;
    uint64_t           v;
    json_t            *j;
    redisReply        *r;
    ngspctl_agency_t   a;
    char               field[NGSP_QUOTA_NAME_MAX + 4], value[24];
    char               key[NGSP_QUOTA_TAG_MAX + 16];

    (void) argc;

    rc = ngspctl_field_args(c, argv, &a, field, key);
    if (rc != 0) {
        return rc;
    }

    if (ngspctl_parse_limit(argv[2], &v) != 0) {
        char  *e = ngspctl_escape(argv[2], strlen(argv[2]) > 40
                                           ? 40 : strlen(argv[2]));

        rc = ngspctl_error(NGSPCTL_USAGE, "invalid limit \"%s\": a whole "
                           "number from 0 to 1000000000000000, digits only "
                           "(0 refuses every request)", e ? e : "");
        free(e);
        return rc;
    }

    snprintf(value, sizeof(value), "%llu", (unsigned long long) v);

    rc = ngspctl_redis_connect(c);
    if (rc != 0) {
        return rc;
    }

    r = ngspctl_redis(c, "HSET %s %s %s", key, field, value);
    if (r == NULL) {
        return NGSPCTL_FAIL;
    }

    freeReplyObject(r);

    if (c->json) {
        j = ngspctl_json_agency(&a);
        if (j) {
            json_object_set_new(j, "key", json_string(key));
            json_object_set_new(j, "field", json_string(field));
            json_object_set_new(j, "limit", json_integer((json_int_t) v));
        }
        return ngspctl_json_print(j);
    }

    ngspctl_agency_text(&a);
    printf(": override %s = %s set in %s, in force from the next "
           "request\n", field, value, key);

    return NGSPCTL_OK;
}


int
ngspctl_unset(ngspctl_t *c, int argc, char **argv)
{
    int                rc;
    long long          removed;
    json_t            *j;
    redisReply        *r;
    ngspctl_agency_t   a;
    char               field[NGSP_QUOTA_NAME_MAX + 4];
    char               key[NGSP_QUOTA_TAG_MAX + 16];

    (void) argc;

    rc = ngspctl_field_args(c, argv, &a, field, key);
    if (rc != 0) {
        return rc;
    }

    rc = ngspctl_redis_connect(c);
    if (rc != 0) {
        return rc;
    }

    r = ngspctl_redis(c, "HDEL %s %s", key, field);
    if (r == NULL) {
        return NGSPCTL_FAIL;
    }

    removed = r->type == REDIS_REPLY_INTEGER ? r->integer : 0;
    freeReplyObject(r);

    if (c->json) {
        j = ngspctl_json_agency(&a);
        if (j) {
            json_object_set_new(j, "key", json_string(key));
            json_object_set_new(j, "field", json_string(field));
            json_object_set_new(j, "removed", json_boolean(removed > 0));
        }
        return ngspctl_json_print(j);
    }

    ngspctl_agency_text(&a);

    if (removed > 0) {
        printf(": override %s removed from %s, the configured limit "
               "applies from the next request\n", field, key);

    } else {
        printf(": no override %s in %s, nothing removed\n", field, key);
    }

    return NGSPCTL_OK;
}


/* whether nginx's policies have this field's window; -1: not known */
static int
ngspctl_field_used(ngspctl_t *c, const char *field, size_t len)
{
    char               policy[NGSP_QUOTA_NAME_MAX + 1];
    const char        *colon;
    size_t             i;
    ngsp_quota_unit_t  unit;
    const ngsp_quota_policy_t  *p;

    if (!c->have_status) {
        return -1;
    }

    colon = memchr(field, ':', len);

    if (colon == NULL || (size_t) (colon - field) > NGSP_QUOTA_NAME_MAX
        || ngspctl_parse_unit(colon + 1, len - (colon + 1 - field), &unit)
           != 0)
    {
        return 0;
    }

    memcpy(policy, field, colon - field);
    policy[colon - field] = '\0';

    p = ngspctl_policy(c, policy);

    for (i = 0; p && i < p->nwindows; i++) {
        if (p->windows[i].unit == unit) {
            return 1;
        }
    }

    return 0;
}


/* the fields of one hash, appended to list (JSON) or printed */
static int
ngspctl_list_key(ngspctl_t *c, const char *key, json_t *list)
{
    int          used;
    size_t       i, tlen;
    uint64_t     v;
    json_t      *o;
    redisReply  *r, *f, *val;
    const char  *tag;
    char        *field;

    r = ngspctl_redis(c, "HGETALL %s", key);
    if (r == NULL) {
        return NGSPCTL_FAIL;
    }

    if (r->type != REDIS_REPLY_ARRAY || r->elements % 2) {
        freeReplyObject(r);
        return ngspctl_error(NGSPCTL_FAIL, "redis %s: unexpected reply to "
                             "HGETALL", c->redis);
    }

    /* "ngsp:{" tag "}:limits" */
    tag = key + 6;
    tlen = strlen(key) - 6 - 8;

    for (i = 0; i < r->elements; i += 2) {
        f = r->element[i];
        val = r->element[i + 1];

        if (f->type != REDIS_REPLY_STRING || val->type != REDIS_REPLY_STRING) {
            continue;
        }

        used = ngspctl_field_used(c, f->str, f->len);

        if (strlen(val->str) != val->len
            || ngspctl_parse_limit(val->str, &v) != 0)
        {
            v = UINT64_MAX;
        }

        if (list) {
            o = json_pack("{s:s#, s:s, s:o?, s:o, s:o, s:o}",
                          "tag", tag, (int) tlen,
                          "key", key,
                          "field", json_stringn(f->str, f->len),
                          "limit", v != UINT64_MAX
                                   ? json_integer((json_int_t) v)
                                   : json_null(),
                          "ignored_length", v == UINT64_MAX
                                   ? json_integer((json_int_t) val->len)
                                   : json_null(),
                          "in_nginx", used < 0 ? json_null()
                                               : json_boolean(used));
            json_array_append_new(list, o);
            continue;
        }

        field = ngspctl_escape(f->str, f->len);
        printf("%-66.*s %-24s ", (int) tlen, tag, field ? field : "");
        free(field);

        if (v != UINT64_MAX) {
            printf("%llu", (unsigned long long) v);

        } else {
            printf("ignored by nginx: not a whole number from 0 to 10^15 "
                   "(%zu bytes)", val->len);
        }

        if (used == 0) {
            fputs("  (no such window in nginx's policies: does nothing)",
                  stdout);
        }

        putchar('\n');
    }

    freeReplyObject(r);

    return 0;
}


int
ngspctl_overrides(ngspctl_t *c, int argc, char **argv)
{
    int                rc;
    size_t             i, nkeys;
    json_t            *j, *list;
    char             **keys, *one[1];
    ngspctl_agency_t   a;
    char               key[NGSP_QUOTA_TAG_MAX + 16];

    if (argc == 1) {
        rc = ngspctl_agency(argv[0], &a);
        if (rc != 0) {
            return rc;
        }
        ngsp_quota_limits_key(a.tag, a.tag_len, key);
    }

    rc = ngspctl_redis_connect(c);
    if (rc != 0) {
        return rc;
    }

    if (argc == 1) {
        one[0] = key;
        keys = one;
        nkeys = 1;

    } else {
        rc = ngspctl_scan(c, "ngsp:{*}:limits", &keys, &nkeys);
        if (rc != 0) {
            return rc;
        }
    }

    list = NULL;
    j = NULL;

    if (c->json) {
        j = argc == 1 ? ngspctl_json_agency(&a) : json_object();
        list = json_array();
        if (j == NULL || list == NULL) {
            rc = ngspctl_error(NGSPCTL_FAIL, "out of memory");
            goto done;
        }
        json_object_set_new(j, "overrides", list);

    } else {
        if (argc == 1) {
            ngspctl_agency_text(&a);
            putchar('\n');
        }
        printf("%-66s %-24s %s\n", "tag", "field", "limit");
    }

    for (i = 0; i < nkeys; i++) {
        rc = ngspctl_list_key(c, keys[i], list);
        if (rc != 0) {
            goto done;
        }
    }

    if (c->json) {
        rc = ngspctl_json_print(j);
        j = NULL;
    }

done:

    json_decref(j);

    if (keys != one) {
        ngspctl_free_keys(keys, nkeys);
    }

    return rc;
}
