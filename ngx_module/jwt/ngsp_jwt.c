/*
 * Compact JWS parsing and claim checks (RFC 7515, 7519, 9068).
 */

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ngsp_jwt_key.h"


static const char  *ngsp_jwt_status_names[] = {
    "ok",
    "missing",
    "malformed",
    "bad_signature",
    "expired",
    "not_yet_valid",
    "bad_issuer",
    "bad_audience",
    "unknown_key",
    "alg_not_allowed",
    "bad_claim",
    "unsupported_crit",
    "claim_failed",
    "no_agency",
    "bad_agency",
    "keys_unavailable"
};


static const char  *ngsp_jwt_alg_names[] = {
    "none",
    "HS256", "HS384", "HS512",
    "RS256", "RS384", "RS512",
    "PS256", "PS384", "PS512",
    "ES256", "ES384", "ES512",
    "EdDSA"
};


const char *
ngsp_jwt_status_name(ngsp_jwt_status_t st)
{
    if ((unsigned) st >= NGSP_JWT_STATUS_MAX) {
        return "error";
    }

    return ngsp_jwt_status_names[st];
}


const char *
ngsp_jwt_alg_name(ngsp_jwt_alg_t alg)
{
    if ((unsigned) alg >= NGSP_ALG_MAX) {
        return "none";
    }

    return ngsp_jwt_alg_names[alg];
}


/* exact, case-sensitive (RFC 7518 §3.1): "rs256" is not an algorithm */
ngsp_jwt_alg_t
ngsp_jwt_alg_parse(const char *name, size_t len)
{
    int  a;

    for (a = 1; a < NGSP_ALG_MAX; a++) {
        if (strlen(ngsp_jwt_alg_names[a]) == len
            && memcmp(ngsp_jwt_alg_names[a], name, len) == 0)
        {
            return (ngsp_jwt_alg_t) a;
        }
    }

    return NGSP_ALG_NONE;
}


static json_t *
ngsp_jwt_decode_object(const char *src, size_t len, unsigned char *buf)
{
    long     n;
    json_t  *obj;

    n = ngsp_b64url_decode(buf, src, len);
    if (n <= 0) {
        return NULL;
    }

    /* two "alg" or two "exp" members are a trick, not a token */
    obj = json_loadb((const char *) buf, (size_t) n, JSON_REJECT_DUPLICATES,
                     NULL);

    if (obj && !json_is_object(obj)) {
        json_decref(obj);
        return NULL;
    }

    return obj;
}


ngsp_jwt_status_t
ngsp_jwt_parse(ngsp_jwt_t *jwt, const char *token, size_t len)
{
    size_t           i, dots[2], ndots;
    json_t          *v;
    const char      *s;
    unsigned char   *buf;
    static const char  *time_claims[] = { "exp", "nbf", "iat" };

    memset(jwt, 0, sizeof(*jwt));

    if (len == 0) {
        return NGSP_JWT_MISSING;
    }

    if (len > NGSP_JWT_MAX_TOKEN) {
        return NGSP_JWT_MALFORMED;
    }

    ndots = 0;

    for (i = 0; i < len; i++) {
        if (token[i] == '.') {
            if (ndots == 2) {
                return NGSP_JWT_MALFORMED;
            }
            dots[ndots++] = i;
        }
    }

    if (ndots != 2 || dots[0] == 0 || dots[1] == dots[0] + 1) {
        return NGSP_JWT_MALFORMED;
    }

    buf = malloc(ngsp_b64url_decoded_max(len));
    if (buf == NULL) {
        return NGSP_JWT_MALFORMED;
    }

    jwt->header = ngsp_jwt_decode_object(token, dots[0], buf);
    if (jwt->header == NULL) {
        goto malformed;
    }

    jwt->claims = ngsp_jwt_decode_object(token + dots[0] + 1,
                                         dots[1] - dots[0] - 1, buf);
    free(buf);

    if (jwt->claims == NULL) {
        return NGSP_JWT_MALFORMED;
    }

    jwt->signed_len = dots[1];
    jwt->sig_b64 = token + dots[1] + 1;
    jwt->sig_b64_len = len - dots[1] - 1;

    v = json_object_get(jwt->header, "alg");
    if (!json_is_string(v)) {
        return NGSP_JWT_MALFORMED;
    }

    /* "none" in any letter case falls here too: it is not in the table */
    jwt->alg = ngsp_jwt_alg_parse(json_string_value(v),
                                  json_string_length(v));
    if (jwt->alg == NGSP_ALG_NONE) {
        return NGSP_JWT_ALG_NOT_ALLOWED;
    }

    v = json_object_get(jwt->header, "kid");
    if (v && !json_is_string(v)) {
        return NGSP_JWT_MALFORMED;
    }

    /* RFC 7515 §4.1.11: we understand no extension, so any crit fails */
    v = json_object_get(jwt->header, "crit");
    if (v) {
        if (!json_is_array(v) || json_array_size(v) == 0) {
            return NGSP_JWT_MALFORMED;
        }

        for (i = 0; i < json_array_size(v); i++) {
            s = json_string_value(json_array_get(v, i));
            if (s == NULL) {
                return NGSP_JWT_MALFORMED;
            }
        }

        return NGSP_JWT_UNSUPPORTED_CRIT;
    }

    if (jwt->sig_b64_len == 0) {
        return NGSP_JWT_MALFORMED;
    }

    for (i = 0; i < 3; i++) {
        v = json_object_get(jwt->claims, time_claims[i]);
        if (v && !json_is_number(v)) {
            return NGSP_JWT_BAD_CLAIM;
        }

        if (v && i == 0) {
            jwt->exp = json_number_value(v);
            jwt->has_exp = 1;

        } else if (v && i == 1) {
            jwt->nbf = json_number_value(v);
            jwt->has_nbf = 1;
        }
    }

    jwt->iss = json_string_value(json_object_get(jwt->claims, "iss"));
    jwt->aud = json_object_get(jwt->claims, "aud");

    return NGSP_JWT_OK;

malformed:

    free(buf);
    return NGSP_JWT_MALFORMED;
}


void
ngsp_jwt_free(ngsp_jwt_t *jwt)
{
    json_decref(jwt->header);
    json_decref(jwt->claims);

    /* iss and aud point into the claims: nothing of them is left */
    memset(jwt, 0, sizeof(ngsp_jwt_t));
}


ngsp_jwt_status_t
ngsp_jwt_verify(const ngsp_jwt_keyset_t *ks, const ngsp_jwt_t *jwt,
    const char *token)
{
    int              named, fit;
    long             n;
    size_t           i;
    json_t          *v;
    const char      *kid;
    unsigned char    sig[1100];
    ngsp_jwt_key_t  *k;

    /* 1100 bytes hold an RSA-8192 signature; anything longer is not one */
    if (jwt->sig_b64_len > 1464) {
        return NGSP_JWT_BAD_SIGNATURE;
    }

    n = ngsp_b64url_decode(sig, jwt->sig_b64, jwt->sig_b64_len);
    if (n <= 0) {
        return NGSP_JWT_MALFORMED;
    }

    v = json_object_get(jwt->header, "kid");
    kid = v ? json_string_value(v) : NULL;

    named = 0;
    fit = 0;

    for (i = 0; i < ks->nkeys; i++) {
        k = &ks->keys[i];

        /* a kid names its key: never fall back to the others */
        if (kid && (k->kid == NULL || strcmp(k->kid, kid) != 0)) {
            continue;
        }

        named = 1;

        if (!(k->algs & NGSP_ALG_BIT(jwt->alg))) {
            continue;
        }

        fit = 1;

        if (ngsp_jwt_key_verify(k, jwt->alg, (const unsigned char *) token,
                                jwt->signed_len, sig, (size_t) n))
        {
            return NGSP_JWT_OK;
        }
    }

    if (!named) {
        return NGSP_JWT_UNKNOWN_KEY;
    }

    if (!fit) {
        return NGSP_JWT_ALG_NOT_ALLOWED;
    }

    return NGSP_JWT_BAD_SIGNATURE;
}


static int
ngsp_jwt_str_in(const char *s, const char **list)
{
    for ( /* void */ ; *list; list++) {
        if (strcmp(s, *list) == 0) {
            return 1;
        }
    }

    return 0;
}


ngsp_jwt_status_t
ngsp_jwt_check_claims(const ngsp_jwt_t *jwt, const ngsp_jwt_checks_t *checks,
    time_t now)
{
    size_t   i;
    json_t  *v, *e;

    if (jwt->has_exp && (double) now >= jwt->exp + (double) checks->leeway) {
        return NGSP_JWT_EXPIRED;
    }

    if (jwt->has_nbf && (double) now + (double) checks->leeway < jwt->nbf) {
        return NGSP_JWT_NOT_YET_VALID;
    }

    if (checks->issuers && checks->issuers[0]) {
        if (jwt->iss == NULL || !ngsp_jwt_str_in(jwt->iss, checks->issuers)) {
            return NGSP_JWT_BAD_ISSUER;
        }
    }

    if (checks->audiences && checks->audiences[0]) {
        v = jwt->aud;

        if (json_is_string(v)) {
            if (!ngsp_jwt_str_in(json_string_value(v), checks->audiences)) {
                return NGSP_JWT_BAD_AUDIENCE;
            }

        } else if (json_is_array(v)) {
            for (i = 0; i < json_array_size(v); i++) {
                e = json_array_get(v, i);
                if (json_is_string(e)
                    && ngsp_jwt_str_in(json_string_value(e),
                                       checks->audiences))
                {
                    break;
                }
            }

            if (i == json_array_size(v)) {
                return NGSP_JWT_BAD_AUDIENCE;
            }

        } else {
            return NGSP_JWT_BAD_AUDIENCE;
        }
    }

    return NGSP_JWT_OK;
}


time_t
ngsp_jwt_expires(const ngsp_jwt_t *jwt)
{
    double  d;

    if (!jwt->has_exp) {
        return 0;
    }

    d = floor(jwt->exp);

    if (d < 1) {
        return 1;
    }

    if (d > 4102444800.0) {         /* 2100-01-01 is far enough */
        return (time_t) 4102444800LL;
    }

    return (time_t) d;
}


json_t *
ngsp_jwt_claim(json_t *obj, const char *name, size_t len)
{
    json_t      *v;
    const char  *dot, *end;

    if (!json_is_object(obj)) {
        return NULL;
    }

    /* a claim whose own name has dots ("https://x.gov.vn/roles") first */
    v = json_object_getn(obj, name, len);
    if (v) {
        return v;
    }

    end = name + len;

    while (name < end) {
        dot = memchr(name, '.', (size_t) (end - name));
        if (dot == NULL) {
            dot = end;
        }

        if (!json_is_object(obj)) {
            return NULL;
        }

        obj = json_object_getn(obj, name, (size_t) (dot - name));
        if (obj == NULL) {
            return NULL;
        }

        name = dot + 1;
    }

    return obj;
}


static char *
ngsp_jwt_scalar_text(json_t *v)
{
    char  *s;

    if (json_is_string(v)) {
        s = malloc(json_string_length(v) + 1);
        if (s) {
            memcpy(s, json_string_value(v), json_string_length(v) + 1);
        }
        return s;
    }

    if (json_is_null(v)) {
        return NULL;
    }

    return json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
}


static int
ngsp_jwt_is_control(unsigned char c)
{
    return c < 0x20 || c == 0x7f;
}


/* the text with its control characters JSON-escaped; frees t on change */
static char *
ngsp_jwt_escape_controls(char *t, size_t *len)
{
    char           *out, *p;
    size_t          i, n;
    unsigned char   c;
    static const char  hex[] = "0123456789abcdef";

    n = 0;

    for (i = 0; i < *len; i++) {
        if (ngsp_jwt_is_control((unsigned char) t[i])) {
            n++;
        }
    }

    if (n == 0) {
        return t;
    }

    /* "\u00XX" is the longest form: 5 more bytes per character */
    out = malloc(*len + 5 * n + 1);
    if (out == NULL) {
        free(t);
        return NULL;
    }

    p = out;

    for (i = 0; i < *len; i++) {
        c = (unsigned char) t[i];

        if (!ngsp_jwt_is_control(c)) {
            *p++ = (char) c;
            continue;
        }

        *p++ = '\\';

        switch (c) {
        case '\b': *p++ = 'b'; break;
        case '\f': *p++ = 'f'; break;
        case '\n': *p++ = 'n'; break;
        case '\r': *p++ = 'r'; break;
        case '\t': *p++ = 't'; break;
        default:
            *p++ = 'u';
            *p++ = '0';
            *p++ = '0';
            *p++ = hex[c >> 4];
            *p++ = hex[c & 0xf];
        }
    }

    *p = '\0';
    *len = (size_t) (p - out);
    free(t);

    return out;
}


static char *
ngsp_jwt_claim_raw_text(json_t *v, size_t *len)
{
    char    *out, *t, *p;
    size_t   i, n, tl;

    if (json_is_string(v)) {
        *len = json_string_length(v);
        return ngsp_jwt_scalar_text(v);
    }

    if (json_is_array(v)) {
        n = 0;
        out = NULL;

        for (i = 0; i < json_array_size(v); i++) {
            t = ngsp_jwt_scalar_text(json_array_get(v, i));
            if (t == NULL) {
                continue;
            }

            tl = strlen(t);
            p = realloc(out, n + tl + 2);
            if (p == NULL) {
                free(t);
                free(out);
                return NULL;
            }

            out = p;
            if (n) {
                out[n++] = ',';
            }
            memcpy(out + n, t, tl + 1);
            n += tl;
            free(t);
        }

        if (out == NULL) {
            out = calloc(1, 1);
        }

        *len = n;
        return out;
    }

    out = ngsp_jwt_scalar_text(v);
    if (out) {
        *len = strlen(out);
    }

    return out;
}


char *
ngsp_jwt_claim_text(json_t *v, size_t *len)
{
    char  *t;

    if (v == NULL || json_is_null(v)) {
        return NULL;
    }

    t = ngsp_jwt_claim_raw_text(v, len);
    if (t == NULL) {
        return NULL;
    }

    return ngsp_jwt_escape_controls(t, len);
}


ngsp_jwt_status_t
ngsp_jwt_agency(json_t *v, const char **text, size_t *len)
{
    size_t       i, n;
    const char  *s;

    if (v == NULL || json_is_null(v)) {
        return NGSP_JWT_NO_AGENCY;
    }

    /* a number or an array is no agency to guess a text for */
    if (!json_is_string(v)) {
        return NGSP_JWT_BAD_AGENCY;
    }

    s = json_string_value(v);
    n = json_string_length(v);

    if (n == 0) {
        return NGSP_JWT_NO_AGENCY;
    }

    if (n > NGSP_JWT_MAX_AGENCY) {
        return NGSP_JWT_BAD_AGENCY;
    }

    for (i = 0; i < n; i++) {
        if (ngsp_jwt_is_control((unsigned char) s[i])) {
            return NGSP_JWT_BAD_AGENCY;
        }
    }

    *text = s;
    *len = n;

    return NGSP_JWT_OK;
}


ngsp_jwt_req_op_t
ngsp_jwt_req_op_parse(const char *name, int *ok)
{
    static const char  *ops[] = { "eq", "ne", "in", "contains", "exists",
                                  "match" };
    size_t  i;

    for (i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
        if (strcmp(name, ops[i]) == 0) {
            *ok = 1;
            return (ngsp_jwt_req_op_t) i;
        }
    }

    *ok = 0;
    return NGSP_REQ_EQ;
}


/* does the claim value hold `want` as an element or a space-separated word */
static int
ngsp_jwt_contains(json_t *v, const char *want)
{
    int          hit;
    char        *t;
    size_t       i, wl;
    const char  *s, *e;

    if (json_is_array(v)) {
        for (i = 0; i < json_array_size(v); i++) {
            t = ngsp_jwt_scalar_text(json_array_get(v, i));
            if (t == NULL) {
                continue;
            }
            hit = (strcmp(t, want) == 0);
            free(t);
            if (hit) {
                return 1;
            }
        }
        return 0;
    }

    if (!json_is_string(v)) {
        return 0;
    }

    s = json_string_value(v);
    wl = strlen(want);

    while (*s) {
        while (*s == ' ') {
            s++;
        }

        e = s;
        while (*e && *e != ' ') {
            e++;
        }

        if ((size_t) (e - s) == wl && wl && memcmp(s, want, wl) == 0) {
            return 1;
        }

        s = e;
    }

    return 0;
}


int
ngsp_jwt_req_eval(const ngsp_jwt_req_t *req, json_t *claims,
    ngsp_jwt_match_pt match)
{
    int      ok;
    char    *t;
    size_t   i, len;
    json_t  *v, *e;

    v = ngsp_jwt_claim(claims, req->claim, strlen(req->claim));

    if (v == NULL || json_is_null(v)) {
        return 0;
    }

    switch (req->op) {

    case NGSP_REQ_EXISTS:
        return 1;

    case NGSP_REQ_CONTAINS:
        /* every listed value must be held */
        for (i = 0; req->values[i]; i++) {
            if (!ngsp_jwt_contains(v, req->values[i])) {
                return 0;
            }
        }
        return 1;

    case NGSP_REQ_MATCH:
        if (match == NULL) {
            return 0;
        }

        if (json_is_array(v)) {
            for (i = 0; i < json_array_size(v); i++) {
                e = json_array_get(v, i);
                if (json_is_object(e) || json_is_array(e)) {
                    continue;
                }
                t = ngsp_jwt_scalar_text(e);
                if (t == NULL) {
                    continue;
                }
                ok = match(req->regexes[0], t, strlen(t));
                free(t);
                if (ok) {
                    return 1;
                }
            }
            return 0;
        }

        if (json_is_object(v)) {
            return 0;
        }

        t = ngsp_jwt_scalar_text(v);
        if (t == NULL) {
            return 0;
        }
        len = json_is_string(v) ? json_string_length(v) : strlen(t);
        ok = match(req->regexes[0], t, len);
        free(t);
        return ok;

    default:
        break;
    }

    /* eq, ne, in compare a scalar's text */
    if (json_is_object(v) || json_is_array(v)) {
        return 0;
    }

    t = ngsp_jwt_scalar_text(v);
    if (t == NULL) {
        return 0;
    }

    ok = 0;

    for (i = 0; req->values[i]; i++) {
        if (strcmp(t, req->values[i]) == 0) {
            ok = 1;
            break;
        }
    }

    free(t);

    return (req->op == NGSP_REQ_NE) ? !ok : ok;
}
