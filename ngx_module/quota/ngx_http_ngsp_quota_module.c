/*
 * ngx_http_ngsp_quota_module: per-agency quotas kept in Redis.  Its
 * directives, configuration, the worker's Redis connection, and where
 * its handler and filter sit.
 */

#include "ngx_http_ngsp_quota.h"
#include "ngx_http_ngsp_log.h"
#include "ngx_http_ngsp_subrequest.h"


static void *ngx_http_ngsp_quota_create_main_conf(ngx_conf_t *cf);
static char *ngx_http_ngsp_quota_init_main_conf(ngx_conf_t *cf, void *conf);
static void *ngx_http_ngsp_quota_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_ngsp_quota_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static ngx_int_t ngx_http_ngsp_quota_find_policy(ngx_conf_t *cf,
    ngx_http_ngsp_quota_loc_conf_t *conf);
static void ngx_http_ngsp_quota_conf_error(ngx_conf_t *cf,
    ngx_http_ngsp_quota_loc_conf_t *conf, const char *fmt, ...);

static char *ngx_http_ngsp_redis(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_ngsp_quota_policy(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_ngsp_quota_timezone(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_ngsp_quota(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_ngsp_quota_set_enum(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_ngsp_quota_check_timeout(ngx_conf_t *cf, void *post,
    void *data);

static ngx_int_t ngx_http_ngsp_quota_preconfiguration(ngx_conf_t *cf);
static ngx_int_t ngx_http_ngsp_quota_init(ngx_conf_t *cf);
static ngx_int_t ngx_http_ngsp_quota_init_process(ngx_cycle_t *cycle);
static void ngx_http_ngsp_quota_exit_process(ngx_cycle_t *cycle);


/* in the order an error message lists them */
static ngx_conf_enum_t  ngx_http_ngsp_quota_fail_modes[] = {
    { ngx_string("open"), 1 },
    { ngx_string("closed"), 0 },
    { ngx_null_string, 0 }
};


static ngx_conf_num_bounds_t  ngx_http_ngsp_quota_status_bounds = {
    ngx_conf_check_num_bounds, 400, 599
};


static ngx_conf_post_handler_pt  ngx_http_ngsp_quota_timeout_post =
    ngx_http_ngsp_quota_check_timeout;


static ngx_command_t  ngx_http_ngsp_quota_commands[] = {

    { ngx_string("ngsp_redis"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_1MORE,
      ngx_http_ngsp_redis,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("ngsp_redis_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_ngsp_quota_loc_conf_t, timeout),
      &ngx_http_ngsp_quota_timeout_post },

    { ngx_string("ngsp_quota_policy"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_2MORE,
      ngx_http_ngsp_quota_policy,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("ngsp_quota_timezone"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_ngsp_quota_timezone,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("ngsp_quota"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE12,
      ngx_http_ngsp_quota,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("ngsp_quota_fail"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_ngsp_quota_set_enum,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_ngsp_quota_loc_conf_t, fail_open),
      &ngx_http_ngsp_quota_fail_modes },

    { ngx_string("ngsp_quota_dry_run"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_ngsp_quota_loc_conf_t, dry_run),
      NULL },

    { ngx_string("ngsp_quota_status"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_ngsp_quota_loc_conf_t, status),
      &ngx_http_ngsp_quota_status_bounds },

    { ngx_string("ngsp_quota_log_level"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_ngsp_quota_set_enum,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_ngsp_quota_loc_conf_t, log_level),
      &ngx_http_ngsp_log_levels },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_ngsp_quota_module_ctx = {
    ngx_http_ngsp_quota_preconfiguration,  /* preconfiguration */
    ngx_http_ngsp_quota_init,              /* postconfiguration */

    ngx_http_ngsp_quota_create_main_conf,  /* create main configuration */
    ngx_http_ngsp_quota_init_main_conf,    /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_ngsp_quota_create_loc_conf,   /* create location configuration */
    ngx_http_ngsp_quota_merge_loc_conf     /* merge location configuration */
};


ngx_module_t  ngx_http_ngsp_quota_module = {
    NGX_MODULE_V1,
    &ngx_http_ngsp_quota_module_ctx,       /* module context */
    ngx_http_ngsp_quota_commands,          /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    ngx_http_ngsp_quota_init_process,      /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    ngx_http_ngsp_quota_exit_process,      /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


/* this worker made a Redis connection: its exit_process frees it */
static ngx_uint_t  ngx_http_ngsp_quota_connected;


static void *
ngx_http_ngsp_quota_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_ngsp_quota_main_conf_t  *mcf;

    mcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_ngsp_quota_main_conf_t));
    if (mcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     mcf->redis = { 0 };
     *     mcf->policies = NULL;
     *     mcf->used = 0;
     *     mcf->sh = NULL;
     */

    mcf->tz = NGX_CONF_UNSET;

    return mcf;
}


static char *
ngx_http_ngsp_quota_init_main_conf(ngx_conf_t *cf, void *conf)
{
    ngx_http_ngsp_quota_main_conf_t  *mcf = conf;

    ngx_conf_init_value(mcf->tz, 7 * 3600);

    if (ngsp_quota_script_sha1(mcf->sha1) != 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "ngsp: cannot hash the quota script");
        return NGX_CONF_ERROR;
    }

    mcf->redis.preload.data = (u_char *) ngsp_quota_script;
    mcf->redis.preload.len = ngsp_quota_script_len;

    return NGX_CONF_OK;
}


static void *
ngx_http_ngsp_quota_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_ngsp_quota_loc_conf_t  *lcf;

    lcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_ngsp_quota_loc_conf_t));
    if (lcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     lcf->name = { 0, NULL };
     *     lcf->policy = NULL;
     *     lcf->key = NULL;
     */

    lcf->fail_open = NGX_CONF_UNSET_UINT;
    lcf->dry_run = NGX_CONF_UNSET;
    lcf->status = NGX_CONF_UNSET;
    lcf->timeout = NGX_CONF_UNSET_MSEC;
    lcf->log_level = NGX_CONF_UNSET_UINT;

    return lcf;
}


static char *
ngx_http_ngsp_quota_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_ngsp_quota_loc_conf_t  *prev = parent;
    ngx_http_ngsp_quota_loc_conf_t  *conf = child;

    ngx_http_ngsp_quota_main_conf_t  *mcf;

    ngx_conf_merge_uint_value(conf->fail_open, prev->fail_open, 0);
    ngx_conf_merge_value(conf->dry_run, prev->dry_run, 0);
    ngx_conf_merge_value(conf->status, prev->status,
                              NGX_HTTP_TOO_MANY_REQUESTS);
    ngx_conf_merge_msec_value(conf->timeout, prev->timeout, 100);
    /* a refusal is seen at nginx's default level, as limit_req's is */
    ngx_conf_merge_uint_value(conf->log_level, prev->log_level,
                              NGX_LOG_ERR);

    if (conf->name.data == NULL) {
        conf->name = prev->name;
        conf->key = prev->key;
        conf->file = prev->file;
        conf->line = prev->line;
    }

    if (conf->name.data == NULL
        || (conf->name.len == 3 && ngx_strncmp(conf->name.data, "off", 3) == 0))
    {
        conf->policy = NULL;
        return NGX_CONF_OK;
    }

    mcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_ngsp_quota_module);

    if (mcf->redis.name.len == 0) {
        ngx_http_ngsp_quota_conf_error(cf, conf,
                                       "ngsp: \"ngsp_quota %V\" needs "
                                       "\"ngsp_redis host:port;\" at http "
                                       "level", &conf->name);
        return NGX_CONF_ERROR;
    }

    if (ngx_http_ngsp_quota_find_policy(cf, conf) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/* policies are defined at http level, perhaps after the server blocks */
static ngx_int_t
ngx_http_ngsp_quota_find_policy(ngx_conf_t *cf,
    ngx_http_ngsp_quota_loc_conf_t *conf)
{
    u_char                           *p, *last;
    ngx_uint_t                        i, n;
    ngsp_quota_policy_t              *policy;
    ngx_http_ngsp_quota_main_conf_t  *mcf;
    u_char                            names[512];

    mcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_ngsp_quota_module);

    policy = mcf->policies ? mcf->policies->elts : NULL;
    n = mcf->policies ? mcf->policies->nelts : 0;

    for (i = 0; i < n; i++) {
        if (ngx_strlen(policy[i].name) == conf->name.len
            && ngx_strncmp(policy[i].name, conf->name.data, conf->name.len)
               == 0)
        {
            conf->policy = &policy[i];
            return NGX_OK;
        }
    }

    if (n == 0) {
        ngx_http_ngsp_quota_conf_error(cf, conf,
                                       "ngsp: unknown quota policy \"%V\": "
                                       "none is defined (add \"ngsp_quota_"
                                       "policy %V 100r/m;\" at http level)",
                                       &conf->name, &conf->name);
        return NGX_ERROR;
    }

    p = names;
    last = names + sizeof(names);

    for (i = 0; i < n; i++) {
        p = ngx_slprintf(p, last, "%s\"%s\"", i ? ", " : "", policy[i].name);
    }

    ngx_http_ngsp_quota_conf_error(cf, conf,
                                   "ngsp: unknown quota policy \"%V\" "
                                   "(defined at http level: %*s)",
                                   &conf->name, p - names, names);

    return NGX_ERROR;
}


/*
 * An error found when merging, long after the directive was read: told at
 * the "ngsp_quota" line, also when that line is in an included file.
 */
static void
ngx_http_ngsp_quota_conf_error(ngx_conf_t *cf,
    ngx_http_ngsp_quota_loc_conf_t *conf, const char *fmt, ...)
{
    u_char           *p;
    va_list           args;
    ngx_conf_file_t   file, *saved;
    u_char            text[NGX_MAX_CONF_ERRSTR];

    va_start(args, fmt);
    p = ngx_vslprintf(text, text + sizeof(text), fmt, args);
    va_end(args);

    saved = cf->conf_file;

    if (saved) {
        file = *saved;
        file.file.name = conf->file;
        file.line = conf->line;
        cf->conf_file = &file;
    }

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "%*s", p - text, text);

    cf->conf_file = saved;
}


static char *
ngx_http_ngsp_redis(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_ngsp_quota_main_conf_t  *mcf = conf;

    if (mcf->redis.name.len) {
        return "is duplicate";
    }

    return ngx_http_ngsp_redis_parse(cf, &mcf->redis);
}


static char *
ngx_http_ngsp_quota_policy(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_ngsp_quota_main_conf_t  *mcf = conf;

    ngx_str_t            *value;
    ngx_uint_t            i;
    ngsp_quota_policy_t  *p;
    ngsp_quota_window_t   w;
    char                  err[256];

    value = cf->args->elts;

    if (mcf->policies == NULL) {
        mcf->policies = ngx_array_create(cf->pool, 4,
                                         sizeof(ngsp_quota_policy_t));
        if (mcf->policies == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    p = mcf->policies->elts;

    for (i = 0; i < mcf->policies->nelts; i++) {
        if (ngx_strlen(p[i].name) == value[1].len
            && ngx_strncmp(p[i].name, value[1].data, value[1].len) == 0)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "ngsp: quota policy \"%V\" is defined twice",
                               &value[1]);
            return NGX_CONF_ERROR;
        }
    }

    if (value[1].len == 3 && ngx_strncmp(value[1].data, "off", 3) == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "ngsp: \"off\" cannot name a quota policy");
        return NGX_CONF_ERROR;
    }

    p = ngx_array_push(mcf->policies);
    if (p == NULL) {
        return NGX_CONF_ERROR;
    }

    if (ngsp_quota_policy_init(p, (char *) value[1].data, value[1].len,
                               err, sizeof(err)) != 0)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "ngsp: invalid quota policy \"%V\": %s",
                           &value[1], err);
        return NGX_CONF_ERROR;
    }

    for (i = 2; i < cf->args->nelts; i++) {
        if (ngsp_quota_window_parse((char *) value[i].data, value[i].len, &w)
            != 0)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "ngsp: invalid window \"%V\" in quota policy "
                               "\"%V\": the form is Nr/s|m|h|d|mo, N from 1 "
                               "to 1000000000 (at most 1000000r/s), such as "
                               "100r/m or 10000r/d", &value[i], &value[1]);
            return NGX_CONF_ERROR;
        }

        if (ngsp_quota_policy_add(p, (char *) value[i].data, value[i].len,
                                  err, sizeof(err)) != 0)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "ngsp: quota policy \"%V\": %s",
                               &value[1], err);
            return NGX_CONF_ERROR;
        }
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_ngsp_quota_timezone(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_ngsp_quota_main_conf_t  *mcf = conf;

    long        off;
    ngx_str_t  *value;

    if (mcf->tz != NGX_CONF_UNSET) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngsp_quota_tz_parse((char *) value[1].data, value[1].len, &off)
        != 0)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "ngsp: invalid time zone \"%V\" (a fixed offset "
                           "+HH:MM, -HH:MM, +HHMM or -HHMM of at most 14 "
                           "hours, or UTC; such as +07:00)", &value[1]);
        return NGX_CONF_ERROR;
    }

    mcf->tz = off;

    return NGX_CONF_OK;
}


static char *
ngx_http_ngsp_quota(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_ngsp_quota_loc_conf_t  *lcf = conf;

    ngx_str_t                          *value, s;
    ngx_http_compile_complex_value_t    ccv;
    ngx_http_ngsp_quota_main_conf_t    *mcf;

    if (lcf->name.data) {
        return "is duplicate";
    }

    value = cf->args->elts;

    lcf->name = value[1];
    lcf->file = cf->conf_file->file.name;
    lcf->line = cf->conf_file->line;

    if (cf->args->nelts == 3) {
        if (ngx_strncmp(value[2].data, "key=", 4) != 0 || value[2].len == 4) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "ngsp: invalid parameter \"%V\" (the "
                               "second parameter is key=<value with "
                               "variables>)", &value[2]);
            return NGX_CONF_ERROR;
        }

        s.data = value[2].data + 4;
        s.len = value[2].len - 4;

        lcf->key = ngx_palloc(cf->pool, sizeof(ngx_http_complex_value_t));
        if (lcf->key == NULL) {
            return NGX_CONF_ERROR;
        }

        ngx_memzero(&ccv, sizeof(ngx_http_compile_complex_value_t));
        ccv.cf = cf;
        ccv.value = &s;
        ccv.complex_value = lcf->key;

        if (ngx_http_compile_complex_value(&ccv) != NGX_OK) {
            return NGX_CONF_ERROR;
        }
    }

    if (!(value[1].len == 3 && ngx_strncmp(value[1].data, "off", 3) == 0)) {
        mcf = ngx_http_conf_get_module_main_conf(cf,
                                                 ngx_http_ngsp_quota_module);
        mcf->used = 1;
    }

    return NGX_CONF_OK;
}


/*
 * ngx_conf_set_enum_slot(), with the valid values named when the one given
 * is not one of them
 */
static char *
ngx_http_ngsp_quota_set_enum(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    char  *p = conf;

    u_char           *s, *last;
    ngx_str_t        *value;
    ngx_uint_t       *np, i;
    ngx_conf_enum_t  *e;
    u_char            names[256];

    np = (ngx_uint_t *) (p + cmd->offset);

    if (*np != NGX_CONF_UNSET_UINT) {
        return "is duplicate";
    }

    value = cf->args->elts;
    e = cmd->post;

    for (i = 0; e[i].name.len; i++) {
        if (e[i].name.len == value[1].len
            && ngx_strcasecmp(e[i].name.data, value[1].data) == 0)
        {
            *np = e[i].value;
            return NGX_CONF_OK;
        }
    }

    s = names;
    last = names + sizeof(names);

    for (i = 0; e[i].name.len; i++) {
        s = ngx_slprintf(s, last, "%s%V", i ? " | " : "", &e[i].name);
    }

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "ngsp: invalid value \"%V\" in \"%V\" (one of: %*s)",
                       &value[1], &cmd->name, s - names, names);

    return NGX_CONF_ERROR;
}


/* 0 would fail every request at once: surely not what was meant */
static char *
ngx_http_ngsp_quota_check_timeout(ngx_conf_t *cf, void *post, void *data)
{
    ngx_msec_t  *tp = data;

    if (*tp == 0) {
        return "must be more than 0";
    }

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_ngsp_quota_preconfiguration(ngx_conf_t *cf)
{
    return ngx_http_ngsp_quota_add_variables(cf);
}


/*
 * The decision of a main request runs in the precontent phase: after
 * every access check (JWT, allow/deny, auth_basic, auth_request) whatever
 * "satisfy" says, so a refused request never counts and an admitted one
 * always does, without reordering other modules' handlers.
 */
static ngx_int_t
ngx_http_ngsp_quota_init(ngx_conf_t *cf)
{
    ngx_http_handler_pt              *h;
    ngx_http_core_main_conf_t        *cmcf;
    ngx_http_ngsp_quota_main_conf_t  *mcf;

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_PRECONTENT_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_ngsp_quota_handler;

    mcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_ngsp_quota_module);

    if (mcf->used && ngx_http_ngsp_quota_zone_add(cf, mcf) != NGX_OK) {
        return NGX_ERROR;
    }

    /* subrequests skip the access phase: JWT and quota for them */
    if (ngx_http_ngsp_subrequest_init(cf) != NGX_OK) {
        return NGX_ERROR;
    }

    return ngx_http_ngsp_quota_header_init(cf);
}


static ngx_int_t
ngx_http_ngsp_quota_init_process(ngx_cycle_t *cycle)
{
    ngx_http_ngsp_quota_main_conf_t  *mcf;

    mcf = ngx_http_cycle_get_module_main_conf(cycle,
                                              ngx_http_ngsp_quota_module);

    /* with Sentinel, Lua alone needs the worker to find the master */
    if (mcf == NULL || mcf->redis.name.len == 0
        || (!mcf->used && mcf->redis.mode != NGX_HTTP_NGSP_REDIS_SENTINEL))
    {
        return NGX_OK;
    }

    ngx_http_ngsp_quota_connected = 1;

    return ngx_http_ngsp_redis_init(cycle, &mcf->redis);
}


static void
ngx_http_ngsp_quota_exit_process(ngx_cycle_t *cycle)
{
    if (ngx_http_ngsp_quota_connected) {
        ngx_http_ngsp_redis_exit();
    }
}
