/*
 * ngsp-token: mint a signed JWT for the demo and for manual testing.
 *
 *   ngsp-token -k KEYFILE -a ALG [-i KID] [-t TTL] [-j JSON] [name=value ...]
 *
 * Signing is not a hot path, so this uses libjwt (Debian's libjwt-dev);
 * the module itself verifies with OpenSSL directly (see README).
 * name=value adds a string claim; name:=value adds a JSON value claim
 * (number, array, object); -j merges a JSON object of claims.
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <jwt.h>

#include "ngsp_version.h"


static void
usage(void)
{
    fprintf(stderr, "usage: ngsp-token -k keyfile -a alg [-i kid] [-t ttl] "
                    "[-j json] [name=value | name:=json ...]\n"
                    "       ngsp-token -V\n");
    exit(2);
}


static unsigned char *
read_file(const char *path, size_t *len)
{
    FILE           *f;
    unsigned char  *buf;
    long            n;

    f = fopen(path, "rb");
    if (f == NULL) {
        fprintf(stderr, "ngsp-token: %s: %s\n", path, strerror(errno));
        exit(1);
    }

    fseek(f, 0, SEEK_END);
    n = ftell(f);
    rewind(f);

    buf = malloc(n + 1);
    if (buf == NULL || fread(buf, 1, n, f) != (size_t) n) {
        fprintf(stderr, "ngsp-token: cannot read %s\n", path);
        exit(1);
    }

    fclose(f);
    buf[n] = '\0';
    *len = n;
    return buf;
}


int
main(int argc, char **argv)
{
    int             c, i;
    long            ttl = 3600;
    char           *keyfile = NULL, *alg = NULL, *kid = NULL, *extra = NULL;
    char           *out, *eq;
    size_t          keylen;
    jwt_t          *jwt;
    json_t         *claims, *v;
    json_error_t    jerr;
    unsigned char  *key;
    time_t          now;

    while ((c = getopt(argc, argv, "k:a:i:t:j:V")) != -1) {
        switch (c) {
        case 'V':
            printf("ngsp-token (ngsp %s)\n", NGSP_VERSION);
            return 0;
        case 'k': keyfile = optarg; break;
        case 'a': alg = optarg; break;
        case 'i': kid = optarg; break;
        case 't': ttl = atol(optarg); break;
        case 'j': extra = optarg; break;
        default: usage();
        }
    }

    if (keyfile == NULL || alg == NULL) {
        usage();
    }

    key = read_file(keyfile, &keylen);

    /* a raw HMAC secret file: the trailing newline is not part of it */
    if (strncmp(alg, "HS", 2) == 0) {
        while (keylen && (key[keylen - 1] == '\n' || key[keylen - 1] == '\r')) {
            keylen--;
        }
    }

    if (jwt_new(&jwt) != 0
        || jwt_set_alg(jwt, jwt_str_alg(alg), key, keylen) != 0)
    {
        fprintf(stderr, "ngsp-token: cannot use key %s with %s\n",
                keyfile, alg);
        return 1;
    }

    if (kid) {
        jwt_add_header(jwt, "kid", kid);
    }

    now = time(NULL);
    claims = json_object();
    json_object_set_new(claims, "iat", json_integer(now));
    json_object_set_new(claims, "exp", json_integer(now + ttl));

    if (extra) {
        v = json_loads(extra, 0, &jerr);
        if (v == NULL || !json_is_object(v)) {
            fprintf(stderr, "ngsp-token: -j wants a JSON object\n");
            return 1;
        }
        json_object_update(claims, v);
        json_decref(v);
    }

    for (i = optind; i < argc; i++) {
        eq = strchr(argv[i], '=');
        if (eq == NULL || eq == argv[i]) {
            usage();
        }

        if (eq[-1] == ':') {
            eq[-1] = '\0';
            v = json_loads(eq + 1, JSON_DECODE_ANY, &jerr);
            if (v == NULL) {
                fprintf(stderr, "ngsp-token: bad JSON for %s\n", argv[i]);
                return 1;
            }
            json_object_set_new(claims, argv[i], v);

        } else {
            *eq = '\0';
            json_object_set_new(claims, argv[i], json_string(eq + 1));
        }
    }

    out = json_dumps(claims, JSON_COMPACT);
    if (jwt_add_grants_json(jwt, out) != 0) {
        fprintf(stderr, "ngsp-token: cannot add claims\n");
        return 1;
    }
    free(out);

    out = jwt_encode_str(jwt);
    if (out == NULL) {
        fprintf(stderr, "ngsp-token: signing failed\n");
        return 1;
    }

    printf("%s\n", out);
    free(out);
    jwt_free(jwt);
    json_decref(claims);
    free(key);
    return 0;
}
