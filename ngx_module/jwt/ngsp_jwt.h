/*
 * ngsp JWT engine: compact JWS parsing, signature verification with keys
 * parsed once, and claim checks.  Plain C (OpenSSL + jansson), no nginx
 * headers, so it is unit-tested, fuzzed and callable through FFI.
 */

#ifndef NGSP_JWT_H
#define NGSP_JWT_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <jansson.h>

#include "ngsp_b64url.h"


/* the longest token looked at; longer ones are refused unread */
#define NGSP_JWT_MAX_TOKEN  16384

/* the longest agency, in bytes: it goes into headers, logs and keys */
#define NGSP_JWT_MAX_AGENCY  256


typedef enum {
    NGSP_JWT_OK = 0,
    NGSP_JWT_MISSING,           /* no token in the request */
    NGSP_JWT_MALFORMED,         /* not a compact JWS we can read */
    NGSP_JWT_BAD_SIGNATURE,
    NGSP_JWT_EXPIRED,
    NGSP_JWT_NOT_YET_VALID,
    NGSP_JWT_BAD_ISSUER,
    NGSP_JWT_BAD_AUDIENCE,
    NGSP_JWT_UNKNOWN_KEY,       /* kid names no key, or no key at all */
    NGSP_JWT_ALG_NOT_ALLOWED,   /* none, unknown, or not what keys allow */
    NGSP_JWT_BAD_CLAIM,         /* exp/nbf/iat not a number */
    NGSP_JWT_UNSUPPORTED_CRIT,  /* crit names a parameter we do not know */
    NGSP_JWT_CLAIM_FAILED,      /* an ngsp_jwt_require rule did not hold */
    NGSP_JWT_NO_AGENCY,         /* none of the agency claims is present */
    NGSP_JWT_BAD_AGENCY,        /* not a string, too long, or a control
                                   character in it */
    NGSP_JWT_KEYS_UNAVAILABLE,  /* keys are fetched and none are at hand */
    NGSP_JWT_STATUS_MAX
} ngsp_jwt_status_t;


typedef enum {
    NGSP_ALG_NONE = 0,
    NGSP_ALG_HS256, NGSP_ALG_HS384, NGSP_ALG_HS512,
    NGSP_ALG_RS256, NGSP_ALG_RS384, NGSP_ALG_RS512,
    NGSP_ALG_PS256, NGSP_ALG_PS384, NGSP_ALG_PS512,
    NGSP_ALG_ES256, NGSP_ALG_ES384, NGSP_ALG_ES512,
    NGSP_ALG_EDDSA,
    NGSP_ALG_MAX
} ngsp_jwt_alg_t;

#define NGSP_ALG_BIT(a)  (1u << (a))


typedef struct ngsp_jwt_keyset_s  ngsp_jwt_keyset_t;


/* the short name of a status, as $ngsp_jwt_status shows it */
const char *ngsp_jwt_status_name(ngsp_jwt_status_t st);

/* "RS256" -> NGSP_ALG_RS256; NGSP_ALG_NONE when unknown */
ngsp_jwt_alg_t ngsp_jwt_alg_parse(const char *name, size_t len);
const char *ngsp_jwt_alg_name(ngsp_jwt_alg_t alg);


ngsp_jwt_keyset_t *ngsp_jwt_keyset_new(void);
void ngsp_jwt_keyset_free(ngsp_jwt_keyset_t *ks);

/*
 * Adds the keys of one file: a JWKS or single JWK (JSON), a PEM public key
 * or certificate, or (with algs naming HMAC algorithms only) a raw shared
 * secret.  algs: a mask of NGSP_ALG_BIT()s pinning the file's keys, 0 for
 * "what the key itself allows"; kid: a kid for a PEM or secret key, or
 * NULL.  Returns the number of keys added, or -1 with a reason in err.
 */
int ngsp_jwt_keyset_add(ngsp_jwt_keyset_t *ks, const unsigned char *data,
    size_t len, unsigned algs, const char *kid, char *err, size_t errlen);
int ngsp_jwt_keyset_add_file(ngsp_jwt_keyset_t *ks, const char *path,
    unsigned algs, const char *kid, char *err, size_t errlen);

/*
 * Adds the keys of a JWKS (or single JWK) held in memory, as fetched from
 * an issuer, with the refusals of a file; source names where it came
 * from.  The set takes it whole or not at all.  Returns the number of keys
 * added, or -1 with a reason in err.
 */
int ngsp_jwt_keyset_add_jwks(ngsp_jwt_keyset_t *ks, const unsigned char *data,
    size_t len, const char *source, char *err, size_t errlen);

/* appends a copy of every key of src to dst: 0, or -1 out of memory */
int ngsp_jwt_keyset_copy(ngsp_jwt_keyset_t *dst, const ngsp_jwt_keyset_t *src,
    char *err, size_t errlen);

size_t ngsp_jwt_keyset_count(const ngsp_jwt_keyset_t *ks);

/* what a key is, for the status page; its strings belong to the set */
typedef struct {
    const char  *kid;        /* NULL: none */
    const char  *kty;        /* "RSA", "EC", "OKP", "oct" */
    unsigned     algs;       /* NGSP_ALG_BIT()s */
    const char  *source;     /* the file it came from */
    int64_t      not_after;  /* a certificate's expiry, unix seconds;
                                0: not a certificate */
    int          bits;       /* key size in bits (RSA modulus, EC curve,
                                oct secret) */
} ngsp_jwt_key_info_t;

/* the i-th key of the set, in the order added: 0, or -1 past the end */
int ngsp_jwt_keyset_info(const ngsp_jwt_keyset_t *ks, size_t i,
    ngsp_jwt_key_info_t *info);

/* SHA-256 over every key and its pins: a verification cached under one
 * key set is not trusted under another (key rotation on reload) */
const unsigned char *ngsp_jwt_keyset_digest(const ngsp_jwt_keyset_t *ks);


/* one parsed token; header and claims are owned by it */
typedef struct {
    json_t          *header;
    json_t          *claims;
    ngsp_jwt_alg_t   alg;

    /* where the signed part and the signature sit in the token */
    size_t           signed_len;
    const char      *sig_b64;
    size_t           sig_b64_len;

    /*
     * The claims every use of a token checks, found once by the parse:
     * a verified token is judged again on each request (and each Lua
     * call), and the lookups would cost more than the checks.  iss and
     * aud point into claims, which nothing changes once parsed.
     */
    double           exp;
    double           nbf;
    unsigned         has_exp:1;
    unsigned         has_nbf:1;
    const char      *iss;           /* NULL: none, or not a string */
    json_t          *aud;           /* NULL: none */
} ngsp_jwt_t;


/*
 * Splits and decodes a compact JWS, checks its header (alg, crit) and the
 * types of exp/nbf/iat.  Does not verify the signature.
 */
ngsp_jwt_status_t ngsp_jwt_parse(ngsp_jwt_t *jwt, const char *token,
    size_t len);

/* verifies the signature of a parsed token against the key set */
ngsp_jwt_status_t ngsp_jwt_verify(const ngsp_jwt_keyset_t *ks,
    const ngsp_jwt_t *jwt, const char *token);

void ngsp_jwt_free(ngsp_jwt_t *jwt);

/*
 * Per-process crypto state (the fetched digests, the HMAC contexts):
 * made once before verifying, freed at exit.  0 on success, -1 when
 * OpenSSL fails.
 */
int ngsp_jwt_crypto_init(void);
void ngsp_jwt_crypto_free(void);


/*
 * A skew allowance beyond an hour no longer describes clocks: it turns
 * exp off.
 */
#define NGSP_JWT_LEEWAY_MAX  3600


typedef struct {
    const char     **issuers;       /* NULL-terminated, or NULL */
    const char     **audiences;     /* NULL-terminated, or NULL */
    long             leeway;        /* seconds, 0..NGSP_JWT_LEEWAY_MAX */
} ngsp_jwt_checks_t;

/* exp, nbf (with leeway), iss, aud */
ngsp_jwt_status_t ngsp_jwt_check_claims(const ngsp_jwt_t *jwt,
    const ngsp_jwt_checks_t *checks, time_t now);

/* exp as a time_t, or 0 when the token has none */
time_t ngsp_jwt_expires(const ngsp_jwt_t *jwt);


/* a claim by dotted name ("realm_access.roles"), or NULL */
json_t *ngsp_jwt_claim(json_t *obj, const char *name, size_t len);

/*
 * The text of a scalar claim: a string as is, a number or boolean as its
 * JSON text, an array of scalars joined by ","; an object as compact JSON.
 * Control characters (0x00-0x1F, 0x7F) are escaped as JSON escapes them
 * (\n, \r, \t, \u007f), so the text can never split a header or a log
 * line.  Returns a malloc()ed string, or NULL.
 */
char *ngsp_jwt_claim_text(json_t *v, size_t *len);

/*
 * Judges one agency claim: NGSP_JWT_OK with its text (owned by v) when it
 * is a usable agency; NGSP_JWT_NO_AGENCY when it is absent, null or "" (the
 * next agency claim is tried); NGSP_JWT_BAD_AGENCY when it is present but
 * not a string, longer than NGSP_JWT_MAX_AGENCY bytes or holds a control
 * character.
 */
ngsp_jwt_status_t ngsp_jwt_agency(json_t *v, const char **text,
    size_t *len);


typedef enum {
    NGSP_REQ_EQ = 0,
    NGSP_REQ_NE,
    NGSP_REQ_IN,
    NGSP_REQ_CONTAINS,
    NGSP_REQ_EXISTS,
    NGSP_REQ_MATCH
} ngsp_jwt_req_op_t;

/* regex matcher supplied by the caller (nginx's PCRE in the module) */
typedef int (*ngsp_jwt_match_pt)(void *re, const char *s, size_t len);

typedef struct {
    const char          *claim;     /* dotted name */
    ngsp_jwt_req_op_t    op;
    const char         **values;    /* NULL-terminated */
    void               **regexes;   /* for match: one per value */
} ngsp_jwt_req_t;

ngsp_jwt_req_op_t ngsp_jwt_req_op_parse(const char *name, int *ok);

/* 1 when the rule holds */
int ngsp_jwt_req_eval(const ngsp_jwt_req_t *req, json_t *claims,
    ngsp_jwt_match_pt match);


#endif /* NGSP_JWT_H */
