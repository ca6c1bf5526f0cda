/*
 * ngsp: personal-data masking of JSON and XML response bodies: the
 * module, its directives and configuration.  Profiles are engine objects
 * built once when the configuration is read and freed with the cycle's
 * pool; requests only read them.  The rest of the glue is named by what
 * it does (see ngx_http_ngsp_mask.h): the request side, the header
 * filter, the body filter, inflating, the variables.
 */

#include "ngx_http_ngsp_mask.h"


/* the actions a profile line takes (ngsp_mask_action.c) */
#define NGX_HTTP_NGSP_MASK_ACTIONS                                           \
    "pass, remove, redact, keep_first=N, keep_last=N, initials, year, "     \
    "email, hash, replace=TEXT"


typedef struct {
    ngx_http_ngsp_mask_profile_t  *prof;
    ngx_uint_t                     has_default;
} ngx_http_ngsp_mask_block_t;


static char *ngx_http_ngsp_mask_hash_key(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static void ngx_http_ngsp_mask_key_cleanup(void *data);
static char *ngx_http_ngsp_mask_profile_block(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_http_ngsp_mask_rule(ngx_conf_t *cf, ngx_command_t *dummy,
    void *conf);
static void ngx_http_ngsp_mask_profile_cleanup(void *data);
static char *ngx_http_ngsp_mask(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_ngsp_mask_types(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_ngsp_mask_pass_types(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_http_ngsp_mask_type_list(ngx_conf_t *cf,
    ngx_array_t **list, ngx_uint_t all);

static void *ngx_http_ngsp_mask_create_main_conf(ngx_conf_t *cf);
static char *ngx_http_ngsp_mask_init_main_conf(ngx_conf_t *cf, void *conf);
static void *ngx_http_ngsp_mask_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_ngsp_mask_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static ngx_int_t ngx_http_ngsp_mask_add_masked(ngx_conf_t *cf,
    ngx_http_ngsp_mask_loc_conf_t *lcf);
static char *ngx_http_ngsp_mask_resolve(ngx_conf_t *cf,
    ngx_http_ngsp_mask_loc_conf_t *conf);
static void ngx_cdecl ngx_http_ngsp_mask_conf_error_at(ngx_conf_t *cf,
    ngx_http_ngsp_mask_profile_t *prof, const char *fmt, ...);
static ngx_int_t ngx_http_ngsp_mask_init(ngx_conf_t *cf);


static ngx_command_t  ngx_http_ngsp_mask_commands[] = {

    { ngx_string("ngsp_mask_hash_key"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_ngsp_mask_hash_key,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("ngsp_mask_profile"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_BLOCK|NGX_CONF_TAKE1,
      ngx_http_ngsp_mask_profile_block,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("ngsp_mask"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_ngsp_mask,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("ngsp_mask_types"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_ngsp_mask_types,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("ngsp_mask_pass_types"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_ngsp_mask_pass_types,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("ngsp_mask_max_value"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_ngsp_mask_loc_conf_t, max_value),
      NULL },

    { ngx_string("ngsp_mask_max_depth"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_ngsp_mask_loc_conf_t, max_depth),
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_ngsp_mask_filter_module_ctx = {
    ngx_http_ngsp_mask_add_variables,      /* preconfiguration */
    ngx_http_ngsp_mask_init,               /* postconfiguration */

    ngx_http_ngsp_mask_create_main_conf,   /* create main configuration */
    ngx_http_ngsp_mask_init_main_conf,     /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_ngsp_mask_create_loc_conf,    /* create location configuration */
    ngx_http_ngsp_mask_merge_loc_conf      /* merge location configuration */
};


ngx_module_t  ngx_http_ngsp_mask_filter_module = {
    NGX_MODULE_V1,
    &ngx_http_ngsp_mask_filter_module_ctx, /* module context */
    ngx_http_ngsp_mask_commands,           /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    NULL,                                  /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    NULL,                                  /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


static char *
ngx_http_ngsp_mask_hash_key(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_ngsp_mask_main_conf_t  *mcf = conf;

    ssize_t              n;
    ngx_fd_t             fd;
    ngx_str_t           *value, path;
    ngx_file_info_t      fi;
    ngx_pool_cleanup_t  *cln;
    u_char               buf[1024];

    if (mcf->key) {
        return "is duplicate";
    }

    value = cf->args->elts;
    path = value[1];

    if (ngx_conf_full_name(cf->cycle, &path, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    fd = ngx_open_file(path.data, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);
    if (fd == NGX_INVALID_FILE) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           "ngsp: cannot open hash key file \"%V\"", &path);
        return NGX_CONF_ERROR;
    }

    n = -1;
    if (ngx_fd_info(fd, &fi) != NGX_FILE_ERROR
        && ngx_file_size(&fi) < (off_t) sizeof(buf))
    {
        n = read(fd, buf, sizeof(buf));
    }

    ngx_close_file(fd);

    if (n < 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "ngsp: cannot read hash key file \"%V\" (at most "
                           "%uz bytes)", &path, sizeof(buf) - 1);
        return NGX_CONF_ERROR;
    }

    /* a trailing newline is not part of the key */
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r')) {
        n--;
    }

    /* RFC 2104: a key shorter than the hash output weakens HMAC */
    if (n < 32) {
        ngx_memzero(buf, sizeof(buf));
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "ngsp: hash key in \"%V\" is shorter than 32 bytes",
                           &path);
        return NGX_CONF_ERROR;
    }

    mcf->key = ngsp_mask_key_new(buf, n);
    ngx_memzero(buf, sizeof(buf));

    if (mcf->key == NULL) {
        return NGX_CONF_ERROR;
    }

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        ngsp_mask_key_free(mcf->key);
        mcf->key = NULL;
        return NGX_CONF_ERROR;
    }

    cln->handler = ngx_http_ngsp_mask_key_cleanup;
    cln->data = mcf->key;

    return NGX_CONF_OK;
}


static void
ngx_http_ngsp_mask_key_cleanup(void *data)
{
    ngsp_mask_key_free(data);
}


static char *
ngx_http_ngsp_mask_profile_block(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_ngsp_mask_main_conf_t  *mcf = conf;

    char                          *rv;
    ngx_str_t                     *value;
    ngx_conf_t                     save;
    ngx_pool_cleanup_t            *cln;
    ngx_http_ngsp_mask_block_t     blk;
    ngx_http_ngsp_mask_profile_t  *prof;

    value = cf->args->elts;

    if (ngx_strcmp(value[1].data, "off") == 0 || value[1].data[0] == '$') {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "ngsp: invalid profile name \"%V\"", &value[1]);
        return NGX_CONF_ERROR;
    }

    if (ngx_http_ngsp_mask_find(mcf, &value[1])) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "ngsp: duplicate profile \"%V\"", &value[1]);
        return NGX_CONF_ERROR;
    }

    prof = ngx_array_push(&mcf->profiles);
    if (prof == NULL) {
        return NGX_CONF_ERROR;
    }

    prof->name = value[1];
    prof->file = cf->conf_file->file.name;
    prof->line = cf->conf_file->line;
    prof->profile = ngsp_mask_profile_new();
    if (prof->profile == NULL) {
        return NGX_CONF_ERROR;
    }

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        ngsp_mask_profile_free(prof->profile);
        return NGX_CONF_ERROR;
    }

    cln->handler = ngx_http_ngsp_mask_profile_cleanup;
    cln->data = prof->profile;

    blk.prof = prof;
    blk.has_default = 0;

    save = *cf;
    cf->handler = ngx_http_ngsp_mask_rule;
    cf->handler_conf = (char *) &blk;

    rv = ngx_conf_parse(cf, NULL);

    *cf = save;

    return rv;
}


/* one line inside ngsp_mask_profile { }: "selector action;" */
static char *
ngx_http_ngsp_mask_rule(ngx_conf_t *cf, ngx_command_t *dummy, void *conf)
{
    ngx_http_ngsp_mask_block_t  *blk = conf;

    u_char              *p;
    ngx_str_t           *value;
    ngsp_mask_action_t   a;
    char                 err[256];

    value = cf->args->elts;

    if (cf->args->nelts != 2) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "ngsp: a profile line is \"selector action;\"");
        return NGX_CONF_ERROR;
    }

    if (ngx_strcmp(value[0].data, "default") == 0) {
        if (blk->has_default) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "ngsp: duplicate \"default\" in profile");
            return NGX_CONF_ERROR;
        }

        if (ngx_strcmp(value[1].data, "pass") == 0) {
            ngsp_mask_profile_set_default(blk->prof->profile, NGSP_MASK_PASS);

        } else if (ngx_strcmp(value[1].data, "remove") == 0) {
            ngsp_mask_profile_set_default(blk->prof->profile,
                                          NGSP_MASK_REMOVE);

        } else {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "ngsp: \"default\" is \"pass\" or \"remove\", "
                               "not \"%V\"", &value[1]);
            return NGX_CONF_ERROR;
        }

        blk->has_default = 1;
        return NGX_CONF_OK;
    }

    if (ngsp_mask_action_parse(&a, (char *) value[1].data, value[1].len,
                               err, sizeof(err)) != 0)
    {
        /* the engine may list the actions too: said once, below */
        p = (u_char *) ngx_strstr(err, " (pass, ");
        if (p) {
            *p = '\0';
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "ngsp: bad action \"%V\" for \"%V\" (%s); the "
                           "actions are " NGX_HTTP_NGSP_MASK_ACTIONS,
                           &value[1], &value[0], err);
        return NGX_CONF_ERROR;
    }

    if (ngsp_mask_profile_add(blk->prof->profile, (char *) value[0].data,
                              value[0].len, &a, err, sizeof(err)) != 0)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "ngsp: %s", err);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static void
ngx_http_ngsp_mask_profile_cleanup(void *data)
{
    ngsp_mask_profile_free(data);
}


static char *
ngx_http_ngsp_mask(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_ngsp_mask_loc_conf_t  *lcf = conf;

    ngx_str_t                          *value;
    ngx_http_compile_complex_value_t    ccv;

    if (lcf->enable != NGX_CONF_UNSET) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_strcmp(value[1].data, "off") == 0) {
        lcf->enable = 0;
        return NGX_CONF_OK;
    }

    lcf->enable = 1;

    if (ngx_http_script_variables_count(&value[1]) == 0) {
        /* a fixed name: resolved when merged, once every profile is known */
        lcf->name = NULL;
        lcf->profile = ngx_pcalloc(cf->pool,
                                   sizeof(ngx_http_ngsp_mask_profile_t));
        if (lcf->profile == NULL) {
            return NGX_CONF_ERROR;
        }
        lcf->profile->name = value[1];
        lcf->profile->file = cf->conf_file->file.name;
        lcf->profile->line = cf->conf_file->line;
        return NGX_CONF_OK;
    }

    lcf->name = ngx_palloc(cf->pool, sizeof(ngx_http_complex_value_t));
    if (lcf->name == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(&ccv, sizeof(ngx_http_compile_complex_value_t));
    ccv.cf = cf;
    ccv.value = &value[1];
    ccv.complex_value = lcf->name;

    if (ngx_http_compile_complex_value(&ccv) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_ngsp_mask_types(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_ngsp_mask_loc_conf_t  *lcf = conf;

    return ngx_http_ngsp_mask_type_list(cf, &lcf->types, 1);
}


static char *
ngx_http_ngsp_mask_pass_types(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_ngsp_mask_loc_conf_t  *lcf = conf;

    return ngx_http_ngsp_mask_type_list(cf, &lcf->pass_types, 0);
}


/*
 * A list of media types ("type/subtype"), each with at most one "*":
 * the same check for the types masked and the types passed.  "*" alone
 * is allowed where all says so: masking every type fails closed, passing
 * every type would not.
 */
static char *
ngx_http_ngsp_mask_type_list(ngx_conf_t *cf, ngx_array_t **list,
    ngx_uint_t all)
{
    ngx_str_t   *value, *t;
    ngx_uint_t   i, j, n;

    if (*list) {
        return "is duplicate";
    }

    *list = ngx_array_create(cf->pool, cf->args->nelts, sizeof(ngx_str_t));
    if (*list == NULL) {
        return NGX_CONF_ERROR;
    }

    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {
        for (j = 0, n = 0; j < value[i].len; j++) {
            n += (value[i].data[j] == '*');
        }

        if (n > 1) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "ngsp: at most one \"*\" in type \"%V\"",
                               &value[i]);
            return NGX_CONF_ERROR;
        }

        if (ngx_strlchr(value[i].data, value[i].data + value[i].len, '/')
            == NULL
            && !(all && value[i].len == 1 && value[i].data[0] == '*'))
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "ngsp: \"%V\" takes media types such as "
                               "\"application/pdf\" or \"image/*\", not "
                               "\"%V\"", &value[0], &value[i]);
            return NGX_CONF_ERROR;
        }

        t = ngx_array_push(*list);
        if (t == NULL) {
            return NGX_CONF_ERROR;
        }

        *t = value[i];
        ngx_strlow(t->data, t->data, t->len);
    }

    return NGX_CONF_OK;
}


ngx_http_ngsp_mask_profile_t *
ngx_http_ngsp_mask_find(ngx_http_ngsp_mask_main_conf_t *mcf, ngx_str_t *name)
{
    ngx_uint_t                     i;
    ngx_http_ngsp_mask_profile_t  *prof;

    prof = mcf->profiles.elts;

    for (i = 0; i < mcf->profiles.nelts; i++) {
        if (prof[i].name.len == name->len
            && ngx_strncmp(prof[i].name.data, name->data, name->len) == 0)
        {
            return &prof[i];
        }
    }

    return NULL;
}


static void *
ngx_http_ngsp_mask_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_ngsp_mask_main_conf_t  *mcf;

    mcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_ngsp_mask_main_conf_t));
    if (mcf == NULL) {
        return NULL;
    }

    if (ngx_array_init(&mcf->profiles, cf->pool, 4,
                       sizeof(ngx_http_ngsp_mask_profile_t))
        != NGX_OK)
    {
        return NULL;
    }

    return mcf;
}


static char *
ngx_http_ngsp_mask_init_main_conf(ngx_conf_t *cf, void *conf)
{
    ngx_http_ngsp_mask_main_conf_t  *mcf = conf;

    ngx_uint_t                     i;
    ngx_http_ngsp_mask_profile_t  *prof;

    prof = mcf->profiles.elts;

    for (i = 0; i < mcf->profiles.nelts; i++) {
        if (ngsp_mask_profile_uses_hash(prof[i].profile) && mcf->key == NULL) {
            ngx_http_ngsp_mask_conf_error_at(cf, &prof[i],
                           "profile \"%V\" uses \"hash\" but no "
                           "\"ngsp_mask_hash_key\" is set", &prof[i].name);
            return NGX_CONF_ERROR;
        }
    }

    return NGX_CONF_OK;
}


static void *
ngx_http_ngsp_mask_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_ngsp_mask_loc_conf_t  *lcf;

    lcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_ngsp_mask_loc_conf_t));
    if (lcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     lcf->name = NULL;
     *     lcf->profile = NULL;
     *     lcf->types = NULL;
     *     lcf->pass_types = NULL;
     */

    lcf->enable = NGX_CONF_UNSET;
    lcf->max_value = NGX_CONF_UNSET_SIZE;
    lcf->max_depth = NGX_CONF_UNSET_UINT;

    if (cf->conf_file) {
        lcf->file = cf->conf_file->file.name.data;
        lcf->line = cf->conf_file->line;
    }

    return lcf;
}


static char *
ngx_http_ngsp_mask_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_ngsp_mask_loc_conf_t  *prev = parent;
    ngx_http_ngsp_mask_loc_conf_t  *conf = child;

    ngx_str_t  *t;

    if (conf->enable == NGX_CONF_UNSET) {
        conf->enable = prev->enable;
        conf->name = prev->name;
        conf->profile = prev->profile;
    }

    if (conf->enable == NGX_CONF_UNSET) {
        conf->enable = 0;
    }

    if (conf->enable && ngx_http_ngsp_mask_add_masked(cf, conf) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    ngx_conf_merge_size_value(conf->max_value, prev->max_value,
                              NGX_HTTP_NGSP_MASK_MAX_VALUE);
    ngx_conf_merge_uint_value(conf->max_depth, prev->max_depth,
                              NGX_HTTP_NGSP_MASK_MAX_DEPTH);

    if (conf->max_value < 16 || conf->max_value > 16 * 1024 * 1024) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "ngsp: \"ngsp_mask_max_value\" must be between 16 "
                           "and 16m");
        return NGX_CONF_ERROR;
    }

    if (conf->max_depth < 1 || conf->max_depth > 10000) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "ngsp: \"ngsp_mask_max_depth\" must be between 1 "
                           "and 10000");
        return NGX_CONF_ERROR;
    }

    if (conf->types == NULL) {
        if (prev->types == NULL) {
            prev->types = ngx_array_create(cf->pool, 5, sizeof(ngx_str_t));
            if (prev->types == NULL) {
                return NGX_CONF_ERROR;
            }

            t = ngx_array_push_n(prev->types, 5);
            if (t == NULL) {
                return NGX_CONF_ERROR;
            }

            ngx_str_set(&t[0], "application/json");
            ngx_str_set(&t[1], "application/*+json");
            ngx_str_set(&t[2], "text/xml");
            ngx_str_set(&t[3], "application/xml");
            ngx_str_set(&t[4], "application/*+xml");   /* soap+xml */
        }

        conf->types = prev->types;
    }

    /* none by default: a type the masker cannot read is refused */
    if (conf->pass_types == NULL) {
        conf->pass_types = prev->pass_types;
    }

    /* a fixed profile name must name a profile */
    if (conf->enable == 1 && conf->name == NULL
        && conf->profile->profile == NULL)
    {
        return ngx_http_ngsp_mask_resolve(cf, conf);
    }

    return NGX_CONF_OK;
}


/*
 * Called while merging: cf->ctx then holds the location's own loc_conf
 * array, where other modules' settings are found later.
 */
static ngx_int_t
ngx_http_ngsp_mask_add_masked(ngx_conf_t *cf,
    ngx_http_ngsp_mask_loc_conf_t *lcf)
{
    void                           **loc_conf;
    ngx_http_ngsp_mask_masked_t     *loc;
    ngx_http_ngsp_mask_main_conf_t  *mcf;

    loc_conf = ((ngx_http_conf_ctx_t *) cf->ctx)->loc_conf;

    if (loc_conf[ngx_http_ngsp_mask_filter_module.ctx_index] != lcf) {
        /* merged from elsewhere than nginx's own walk: not a location */
        return NGX_OK;
    }

    mcf = ngx_http_conf_get_module_main_conf(cf,
                                             ngx_http_ngsp_mask_filter_module);

    if (mcf->masked == NULL) {
        mcf->masked = ngx_array_create(cf->pool, 8,
                                       sizeof(ngx_http_ngsp_mask_masked_t));
        if (mcf->masked == NULL) {
            return NGX_ERROR;
        }
    }

    loc = ngx_array_push(mcf->masked);
    if (loc == NULL) {
        return NGX_ERROR;
    }

    loc->loc_conf = loc_conf;
    loc->lcf = lcf;

    return NGX_OK;
}


/*
 * The profile a fixed "ngsp_mask name" names, known once every
 * ngsp_mask_profile block is read; an unknown name is refused with the
 * names that exist.
 */
static char *
ngx_http_ngsp_mask_resolve(ngx_conf_t *cf,
    ngx_http_ngsp_mask_loc_conf_t *conf)
{
    u_char                          *p, *last;
    ngx_uint_t                       i;
    ngx_http_ngsp_mask_profile_t    *prof;
    ngx_http_ngsp_mask_main_conf_t  *mcf;
    u_char                           names[512];

    mcf = ngx_http_conf_get_module_main_conf(cf,
                                             ngx_http_ngsp_mask_filter_module);

    prof = ngx_http_ngsp_mask_find(mcf, &conf->profile->name);
    if (prof) {
        conf->profile = prof;
        return NGX_CONF_OK;
    }

    prof = mcf->profiles.elts;
    last = names + sizeof(names) - sizeof(", ...");

    if (mcf->profiles.nelts == 0) {
        p = ngx_cpystrn(names, (u_char *) "none is defined", sizeof(names));

    } else {
        p = ngx_cpystrn(names, (u_char *) "the profiles are ", sizeof(names));

        for (i = 0; i < mcf->profiles.nelts; i++) {
            if (p + prof[i].name.len + sizeof("\"\", ") > last) {
                p = ngx_cpymem(p, ", ...", sizeof(", ...") - 1);
                break;
            }

            p = ngx_sprintf(p, "%s\"%V\"", i ? ", " : "", &prof[i].name);
        }
    }

    *p = '\0';

    ngx_http_ngsp_mask_conf_error_at(cf, conf->profile,
                       "\"ngsp_mask %V\" names no \"ngsp_mask_profile\"; %s",
                       &conf->profile->name, names);

    return NGX_CONF_ERROR;
}


/*
 * A configuration error found once the blocks are read, reported as
 * ngx_conf_log_error() reports one at the directive: with the file and
 * line where prof was named.
 */
static void ngx_cdecl
ngx_http_ngsp_mask_conf_error_at(ngx_conf_t *cf,
    ngx_http_ngsp_mask_profile_t *prof, const char *fmt, ...)
{
    u_char            *p;
    va_list            args;
    ngx_conf_file_t    at, *saved;
    u_char             msg[NGX_MAX_CONF_ERRSTR];

    va_start(args, fmt);
    p = ngx_vslprintf(msg, msg + sizeof(msg) - 1, fmt, args);
    va_end(args);

    *p = '\0';

    saved = cf->conf_file;

    if (saved) {
        at = *saved;
    } else {
        ngx_memzero(&at, sizeof(ngx_conf_file_t));
    }

    at.file.name = prof->file;
    at.line = prof->line;
    cf->conf_file = &at;

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "ngsp: %s", msg);

    cf->conf_file = saved;
}


static ngx_int_t
ngx_http_ngsp_mask_init(ngx_conf_t *cf)
{
    ngx_http_handler_pt        *h;
    ngx_http_core_main_conf_t  *cmcf;

    if (ngx_http_ngsp_mask_check_disk(cf) != NGX_OK) {
        return NGX_ERROR;
    }

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_PRECONTENT_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_ngsp_mask_request_headers;

    ngx_http_ngsp_mask_header_filter_init();
    ngx_http_ngsp_mask_body_filter_init();

    return NGX_OK;
}
