/*
 * ngsp status glue: what crosses its files.  The module, its zone and the
 * counting in the log phase: ngx_http_ngsp_status_module.c; the handler
 * and its output: _handler.c; the JSON form: _json.c; the Prometheus
 * form: _prom.c; the HTML page: ngsp_status_page.c.
 */

#ifndef NGX_HTTP_NGSP_STATUS_H
#define NGX_HTTP_NGSP_STATUS_H

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngsp_jwt.h"
#include "ngsp_quota.h"
#include "ngsp_status_page.h"
#include "ngsp_status_table.h"
#include "ngsp_status_text.h"
#include "ngx_http_ngsp_mask.h"


/* an agency's counters: the JWT outcomes, then per policy its block */
#define NGX_HTTP_NGSP_STATUS_JWT        0
#define NGX_HTTP_NGSP_STATUS_POLICY     NGSP_JWT_STATUS_MAX

/* a policy's block: the outcomes, then per window its last state */
enum {
    NGX_HTTP_NGSP_STATUS_ALLOWED = 0,
    NGX_HTTP_NGSP_STATUS_REJECTED,
    NGX_HTTP_NGSP_STATUS_ERROR,
    NGX_HTTP_NGSP_STATUS_DRY_RUN,
    NGX_HTTP_NGSP_STATUS_OUTCOMES
};

enum {
    NGX_HTTP_NGSP_STATUS_LIMIT = 0,
    NGX_HTTP_NGSP_STATUS_REMAINING,
    NGX_HTTP_NGSP_STATUS_RESET,        /* unix seconds */
    NGX_HTTP_NGSP_STATUS_UPDATED,      /* unix seconds; 0: never */
    NGX_HTTP_NGSP_STATUS_WINDOW
};

/* a mask profile's counters */
enum {
    NGX_HTTP_NGSP_STATUS_MASK_OK = 0,
    NGX_HTTP_NGSP_STATUS_MASK_PASS,
    NGX_HTTP_NGSP_STATUS_MASK_ERROR,
    NGX_HTTP_NGSP_STATUS_MASK_FIELDS,
    NGX_HTTP_NGSP_STATUS_MASK_BYTES_IN,
    NGX_HTTP_NGSP_STATUS_MASK_BYTES_OUT,
    /* then one per $ngsp_mask_reason word, "profile" first */
    NGX_HTTP_NGSP_STATUS_MASK_REFUSED,
    NGX_HTTP_NGSP_STATUS_MASK_N = NGX_HTTP_NGSP_STATUS_MASK_REFUSED
                                  + NGX_HTTP_NGSP_MASK_WHY_N - 1
};

/* the mask row of a profile name that no profile has */
#define NGX_HTTP_NGSP_STATUS_UNKNOWN    "_unknown"


/* the start of the zone's memory, then the mask rows, then the table */
typedef struct {
    uint64_t                     layout;
    uint64_t                     generation; /* loads of this zone */
    uint64_t                     mask[];
} ngx_http_ngsp_status_sh_t;


typedef struct {
    ngx_shm_zone_t              *shm_zone;    /* NULL: no zone */
    ngx_str_t                    name;
    size_t                       size;
    ngx_uint_t                   max_agencies;
    ngx_str_t                    file;        /* where the zone is */
    ngx_uint_t                   line;

    /* the layout, made once the http block is read */
    ngx_array_t                 *policies;    /* ngsp_quota_policy_t */
    ngx_uint_t                  *policy_base; /* first counter of each */
    ngx_uint_t                   ncounters;
    ngx_str_t                   *profiles;    /* and "_unknown" last */
    ngx_uint_t                   nprofiles;
    uint64_t                     layout;
    size_t                       block;       /* bytes taken in the zone */
    ngx_int_t                    tz;

    /* in the zone */
    ngx_http_ngsp_status_sh_t   *sh;
    ngsp_status_table_t         *table;
    time_t                       load_time;

    /* each worker's own, copied with the configuration at fork */
    ngsp_status_memo_t          *memo;

    ngx_uint_t                   handlers;    /* locations that serve it */
} ngx_http_ngsp_status_main_conf_t;


/* the output of one response: buffers from the request's pool */
typedef struct {
    ngx_http_request_t          *r;
    ngx_chain_t                 *out;
    ngx_chain_t                **last;
    ngx_buf_t                   *b;
    off_t                        size;
    ngx_uint_t                   failed;
} ngx_http_ngsp_status_out_t;


extern ngx_module_t  ngx_http_ngsp_status_module;


/* the content handler (ngx_http_ngsp_status_handler.c) */
ngx_int_t ngx_http_ngsp_status_handler(ngx_http_request_t *r);

void ngx_http_ngsp_status_add(ngx_http_ngsp_status_out_t *o, const void *p,
    size_t len);
void ngx_http_ngsp_status_u64(ngx_http_ngsp_status_out_t *o, uint64_t v);
void ngx_http_ngsp_status_i64(ngx_http_ngsp_status_out_t *o, int64_t v);
void ngx_http_ngsp_status_micro(ngx_http_ngsp_status_out_t *o, int64_t v);
/* a JSON string, quoted */
void ngx_http_ngsp_status_json_str(ngx_http_ngsp_status_out_t *o,
    const u_char *s, size_t len);
/* a Prometheus label value, quoted */
void ngx_http_ngsp_status_prom_str(ngx_http_ngsp_status_out_t *o,
    const u_char *s, size_t len);

#define ngx_http_ngsp_status_lit(o, s)                                      \
    ngx_http_ngsp_status_add(o, s, sizeof(s) - 1)

/* the forms (ngx_http_ngsp_status_json.c, _prom.c) */
void ngx_http_ngsp_status_json(ngx_http_ngsp_status_out_t *o,
    ngx_http_ngsp_status_main_conf_t *mcf);
void ngx_http_ngsp_status_prom(ngx_http_ngsp_status_out_t *o,
    ngx_http_ngsp_status_main_conf_t *mcf);

/*
 * Counting (ngx_http_ngsp_status_module.c), shared by the log phase and
 * the Lua surface: _counting gives the configuration while a zone counts
 * for this worker, NULL otherwise; _request_row the row of the request's
 * verified agency ("_none" without one).
 */
ngx_http_ngsp_status_main_conf_t *ngx_http_ngsp_status_counting(
    ngx_http_request_t *r);
uint64_t *ngx_http_ngsp_status_request_row(
    ngx_http_ngsp_status_main_conf_t *mcf, ngx_http_request_t *r);
/* outcome: NGX_HTTP_NGSP_STATUS_ALLOWED...; d NULL: no counters read */
void ngx_http_ngsp_status_count_quota(ngx_http_ngsp_status_main_conf_t *mcf,
    uint64_t *row, ngsp_quota_policy_t *policy, ngx_uint_t outcome,
    ngsp_quota_decision_t *d);
/* outcome: NGX_HTTP_NGSP_STATUS_MASK_OK, _PASS or _ERROR; why: its reason */
void ngx_http_ngsp_status_count_mask(ngx_http_ngsp_status_main_conf_t *mcf,
    ngx_str_t *profile, ngx_uint_t outcome, ngx_uint_t why,
    uint64_t fields, off_t bytes_in, off_t bytes_out);

/* names shared by both forms */
const char *ngx_http_ngsp_status_outcome_name(ngx_uint_t i);
const char *ngx_http_ngsp_status_mask_name(ngx_uint_t i);
/* a window's width in seconds, 0 for a month (its length varies) */
ngx_uint_t ngx_http_ngsp_status_width(ngsp_quota_unit_t unit);

#endif /* NGX_HTTP_NGSP_STATUS_H */
