/*
 * ngsp masking glue: configuration shared by the directives
 * (ngx_http_ngsp_mask_conf.c), the filters and variables
 * (ngx_http_ngsp_mask_filter_module.c).
 */

#ifndef NGX_HTTP_NGSP_MASK_H
#define NGX_HTTP_NGSP_MASK_H

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngsp_mask_json.h"
#include "ngsp_mask_body.h"
#include "ngsp_mask_type.h"


#define NGX_HTTP_NGSP_MASK_MAX_VALUE   65536
#define NGX_HTTP_NGSP_MASK_MAX_DEPTH   64


typedef struct {
    ngx_str_t                   name;
    ngsp_mask_profile_t        *profile;
    ngx_uint_t                  line;       /* for messages */
} ngx_http_ngsp_mask_profile_t;


typedef struct {
    ngx_array_t                 profiles;   /* ngx_http_ngsp_mask_profile_t */
    ngsp_mask_key_t            *key;        /* NULL: no hash key */
    ngx_array_t                *masked;     /* ngx_http_ngsp_mask_masked_t */
} ngx_http_ngsp_mask_main_conf_t;


typedef struct {
    ngx_flag_t                  enable;     /* unset, 0: off, 1: on */
    ngx_http_complex_value_t   *name;       /* a variable profile name */
    ngx_http_ngsp_mask_profile_t  *profile; /* a fixed one */
    ngx_array_t                *types;      /* ngx_str_t, may hold a '*' */
    ngx_array_t                *pass_types; /* ngx_str_t, may hold a '*' */
    size_t                      max_value;
    ngx_uint_t                  max_depth;
    u_char                     *file;       /* where the block opens */
    ngx_uint_t                  line;
} ngx_http_ngsp_mask_loc_conf_t;


/* a location (or server) that masks, for checks made once all are merged */
typedef struct {
    void                      **loc_conf;
    ngx_http_ngsp_mask_loc_conf_t  *lcf;
} ngx_http_ngsp_mask_masked_t;


extern ngx_module_t  ngx_http_ngsp_mask_filter_module;


char *ngx_http_ngsp_mask_hash_key(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_ngsp_mask_profile_block(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_ngsp_mask(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
char *ngx_http_ngsp_mask_types(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_ngsp_mask_pass_types(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);

void *ngx_http_ngsp_mask_create_main_conf(ngx_conf_t *cf);
char *ngx_http_ngsp_mask_init_main_conf(ngx_conf_t *cf, void *conf);
void *ngx_http_ngsp_mask_create_loc_conf(ngx_conf_t *cf);
char *ngx_http_ngsp_mask_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);

/* the profile named name, NULL if none */
ngx_http_ngsp_mask_profile_t *ngx_http_ngsp_mask_find(
    ngx_http_ngsp_mask_main_conf_t *mcf, ngx_str_t *name);

/* 1 if the media type ("type/subtype", any case) is one of types */
ngx_int_t ngx_http_ngsp_mask_type_in(ngx_str_t *type, ngx_array_t *types);

/*
 * What a masked location does with a response, by its status line and
 * header (ngx_http_ngsp_mask_type.c): NGX_OK to mask it with *syntax,
 * NGX_DECLINED to pass it untouched, NGX_ABORT to refuse it (the reason
 * is logged), NGX_ERROR.
 */
ngx_int_t ngx_http_ngsp_mask_decide(ngx_http_request_t *r,
    ngx_http_ngsp_mask_loc_conf_t *lcf, ngsp_mask_syntax_t *syntax);

/* NGX_ERROR if a masked location caches or stores (postconfiguration) */
ngx_int_t ngx_http_ngsp_mask_check_disk(ngx_conf_t *cf);

/* the response the masking takes is read unbuffered, never cached */
ngx_uint_t ngx_http_ngsp_mask_unbuffer(ngx_http_request_t *r);

#endif /* NGX_HTTP_NGSP_MASK_H */
