/*
 * ngspctl: operators' view and control of ngsp's quotas in Redis.
 *
 * Keys are derived by the quota engine itself (ngsp_quota_key.c), so an
 * agency's hash tag is the one nginx uses; policies, their windows and
 * the time zone come from nginx's status JSON, so the tool never
 * disagrees with nginx's configuration.
 */

#ifndef NGSPCTL_H
#define NGSPCTL_H

#include <stddef.h>
#include <stdint.h>

#include <hiredis/hiredis.h>
#include <jansson.h>

#include "ngsp_quota.h"


/* exit codes */
#define NGSPCTL_OK       0
#define NGSPCTL_FAIL     1      /* Redis, the status, a refusal at run time */
#define NGSPCTL_USAGE    2      /* a bad command line */

/* an override, as the quota script takes it */
#define NGSPCTL_LIMIT_MAX  1000000000000000ULL


typedef struct {
    /* the command line */
    const char           *redis;          /* host:port, [v6]:port, unix:/p */
    long                  db;
    const char           *password_file;
    const char           *status_url;
    const char           *timezone;
    int                   json;
    int                   yes;

    /* what was read */
    char                 *password;       /* NULL: no AUTH */
    redisContext         *rc;
    int                   have_status;
    ngsp_quota_policy_t  *policies;
    size_t                npolicies;
    long                  tz;             /* seconds east of UTC */
    int                   have_tz;
} ngspctl_t;


/* an agency and the tag of its keys */
typedef struct {
    const char           *name;
    size_t                len;
    char                  tag[NGSP_QUOTA_TAG_MAX + 1];
    size_t                tag_len;
} ngspctl_agency_t;


/* ngspctl.c */
int ngspctl_error(int code, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
int ngspctl_parse_limit(const char *s, uint64_t *v);
int ngspctl_parse_unit(const char *s, size_t len, ngsp_quota_unit_t *unit);
int ngspctl_parse_field(const char *s, char *policy,
    ngsp_quota_unit_t *unit);
int ngspctl_agency(const char *s, ngspctl_agency_t *a);
const ngsp_quota_policy_t *ngspctl_policy(ngspctl_t *c, const char *name);
int ngspctl_need_status(ngspctl_t *c, const char *command);

/* ngspctl_redis.c */
int ngspctl_redis_connect(ngspctl_t *c);
redisReply *ngspctl_redis_argv(ngspctl_t *c, int argc, const char **argv,
    const size_t *lens);
redisReply *ngspctl_redis(ngspctl_t *c, const char *fmt, ...);
int ngspctl_redis_time(ngspctl_t *c, int64_t *now_us);
int ngspctl_scan(ngspctl_t *c, const char *pattern, char ***keys,
    size_t *nkeys);
void ngspctl_free_keys(char **keys, size_t n);
void ngspctl_redis_close(ngspctl_t *c);

/* ngspctl_status.c */
int ngspctl_status_load(ngspctl_t *c);
void ngspctl_status_free(ngspctl_t *c);

/* ngspctl_usage.c */
int ngspctl_usage(ngspctl_t *c, int argc, char **argv);

/* ngspctl_overrides.c */
int ngspctl_set(ngspctl_t *c, int argc, char **argv);
int ngspctl_unset(ngspctl_t *c, int argc, char **argv);
int ngspctl_overrides(ngspctl_t *c, int argc, char **argv);

/* ngspctl_reset.c */
int ngspctl_reset(ngspctl_t *c, int argc, char **argv);

/* ngspctl_slot.c */
int ngspctl_slot(ngspctl_t *c, int argc, char **argv);

/* ngspctl_out.c */
void ngspctl_print_escaped(const char *s, size_t len);
char *ngspctl_escape(const char *s, size_t len);
void ngspctl_local_time(int64_t t, long tz, char *buf, size_t size);
void ngspctl_tz_text(long tz, char *buf, size_t size);
int ngspctl_json_print(json_t *j);
json_t *ngspctl_json_agency(const ngspctl_agency_t *a);

#endif /* NGSPCTL_H */
