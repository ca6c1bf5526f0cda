/*
 * ngspctl: the command line, its checks, and the dispatch to commands.
 *
 * Exit codes: 0 done, 1 a failure at run time (Redis or the status
 * unreachable, refused, or an answer declined), 2 a bad command line.
 * Every message goes to stderr prefixed "ngspctl: ".  The Redis password
 * is never an argument (every user sees arguments in ps and /proc), and
 * never printed.
 */

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "ngspctl.h"
#include "ngsp_version.h"


static const char  ngspctl_help[] =
"Usage: ngspctl [options] command [arguments]\n"
"\n"
"Reads and changes ngsp's quotas in Redis.\n"
"\n"
"Commands:\n"
"  usage AGENCY [POLICY]        each window's used, limit, left and reset\n"
"                               (needs --status)\n"
"  set AGENCY POLICY:UNIT N     override a window's limit (N from 0 to\n"
"                               10^15; 0 refuses every request)\n"
"  unset AGENCY POLICY:UNIT     remove an override\n"
"  overrides [AGENCY]           list overrides (every agency without one)\n"
"  reset AGENCY [POLICY]        clear an agency's counters (asks first)\n"
"  slot AGENCY                  the Redis Cluster slot of the agency's keys\n"
"\n"
"Options:\n"
"  --redis ADDRESS        host:port, [ipv6]:port or unix:/path\n"
"                         (default 127.0.0.1:6379)\n"
"  --db N                 Redis database number (default 0)\n"
"  --password-file PATH   read the Redis password from PATH (else from\n"
"                         the NGSP_REDIS_PASSWORD environment variable)\n"
"  --status URL           nginx's ngsp_status location: policies, windows\n"
"                         and time zone as nginx has them\n"
"  --timezone OFFSET      +HH:MM, used only when the status gives none\n"
"  --json                 print JSON\n"
"  --yes                  reset without asking\n"
"  --help                 print this help\n"
"  --version              print the version\n"
"\n"
"UNIT is s, m, h, d or mo.  Exit status: 0 done, 1 failed (Redis or the\n"
"status unreachable, refused), 2 a bad command line.\n";


static const struct option  ngspctl_options[] = {
    { "redis",          required_argument, NULL, 'r' },
    { "db",             required_argument, NULL, 'd' },
    { "password-file",  required_argument, NULL, 'p' },
    { "password",       optional_argument, NULL, 'P' },
    { "status",         required_argument, NULL, 's' },
    { "timezone",       required_argument, NULL, 't' },
    { "json",           no_argument,       NULL, 'j' },
    { "yes",            no_argument,       NULL, 'y' },
    { "help",           no_argument,       NULL, 'h' },
    { "version",        no_argument,       NULL, 'V' },
    { NULL,             0,                 NULL, 0 }
};


int
ngspctl_error(int code, const char *fmt, ...)
{
    va_list  args;

    fputs("ngspctl: ", stderr);
    va_start(args, fmt);
    vfprintf(stderr, fmt, args);
    va_end(args);
    fputc('\n', stderr);

    return code;
}


/* a whole number from 0 to 10^15, digits only: what the script takes */
int
ngspctl_parse_limit(const char *s, uint64_t *v)
{
    size_t  i;

    *v = 0;

    if (s[0] == '\0') {
        return -1;
    }

    for (i = 0; s[i]; i++) {
        if (s[i] < '0' || s[i] > '9' || i >= 16) {
            return -1;
        }

        *v = *v * 10 + (uint64_t) (s[i] - '0');
    }

    return *v <= NGSPCTL_LIMIT_MAX ? 0 : -1;
}


int
ngspctl_parse_unit(const char *s, size_t len, ngsp_quota_unit_t *unit)
{
    int          i;
    const char  *name;

    for (i = NGSP_QUOTA_SEC; i <= NGSP_QUOTA_MONTH; i++) {
        name = ngsp_quota_unit_name((ngsp_quota_unit_t) i);

        if (strlen(name) == len && memcmp(name, s, len) == 0) {
            *unit = (ngsp_quota_unit_t) i;
            return 0;
        }
    }

    return -1;
}


static int
ngspctl_check_policy_name(const char *s, size_t len)
{
    char                 err[256];
    ngsp_quota_policy_t  p;

    if (ngsp_quota_policy_init(&p, s, len, err, sizeof(err)) != 0) {
        return ngspctl_error(NGSPCTL_USAGE, "invalid policy name \"%.*s\": "
                             "%s", (int) (len > 80 ? 80 : len), s, err);
    }

    return 0;
}


/* "standard:d": the policy's name (NGSP_QUOTA_NAME_MAX + 1) and unit */
int
ngspctl_parse_field(const char *s, char *policy, ngsp_quota_unit_t *unit)
{
    int          rc;
    const char  *colon;

    colon = strrchr(s, ':');

    if (colon == NULL) {
        return ngspctl_error(NGSPCTL_USAGE, "invalid window \"%s\": give "
                             "POLICY:UNIT, such as standard:d (UNIT is s, "
                             "m, h, d or mo)", s);
    }

    rc = ngspctl_check_policy_name(s, colon - s);
    if (rc != 0) {
        return rc;
    }

    if (ngspctl_parse_unit(colon + 1, strlen(colon + 1), unit) != 0) {
        return ngspctl_error(NGSPCTL_USAGE, "invalid unit \"%s\" in \"%s\": "
                             "one of s, m, h, d, mo", colon + 1, s);
    }

    memcpy(policy, s, colon - s);
    policy[colon - s] = '\0';

    return 0;
}


int
ngspctl_agency(const char *s, ngspctl_agency_t *a)
{
    a->name = s;
    a->len = strlen(s);

    if (a->len == 0) {
        return ngspctl_error(NGSPCTL_USAGE, "an empty agency: nginx counts "
                             "nothing for it");
    }

    a->tag_len = ngsp_quota_tag((const unsigned char *) s, a->len, a->tag);

    if (a->tag_len == 0) {
        return ngspctl_error(NGSPCTL_FAIL, "cannot hash the agency");
    }

    return 0;
}


const ngsp_quota_policy_t *
ngspctl_policy(ngspctl_t *c, const char *name)
{
    size_t  i;

    for (i = 0; i < c->npolicies; i++) {
        if (strcmp(c->policies[i].name, name) == 0) {
            return &c->policies[i];
        }
    }

    return NULL;
}


int
ngspctl_need_status(ngspctl_t *c, const char *command)
{
    if (c->have_status) {
        return 0;
    }

    return ngspctl_error(NGSPCTL_USAGE, "%s needs --status URL: policies "
                         "and their windows come from nginx's status "
                         "(a location with ngsp_status), so that they are "
                         "nginx's own", command);
}


/* the first line of the file; a trailing CR LF or LF is not part of it */
static int
ngspctl_read_password(ngspctl_t *c)
{
    FILE    *f;
    size_t   n;
    char     buf[4097];

    f = fopen(c->password_file, "r");
    if (f == NULL) {
        return ngspctl_error(NGSPCTL_USAGE, "cannot read the password file "
                             "\"%s\": %s", c->password_file,
                             strerror(errno));
    }

    n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';

    n = strcspn(buf, "\r\n");
    buf[n] = '\0';

    if (n == 0) {
        return ngspctl_error(NGSPCTL_USAGE, "the password file \"%s\" is "
                             "empty", c->password_file);
    }

    c->password = strdup(buf);
    memset(buf, 0, sizeof(buf));

    return c->password ? 0 : ngspctl_error(NGSPCTL_FAIL, "out of memory");
}


static int
ngspctl_options_read(ngspctl_t *c, int argc, char **argv)
{
    int          o;
    const char  *env;
    char        *end;

    opterr = 0;

    while ((o = getopt_long(argc, argv, ":hy", ngspctl_options, NULL))
           != -1)
    {
        switch (o) {

        case 'r':
            c->redis = optarg;
            break;

        case 'd':
            errno = 0;
            c->db = strtol(optarg, &end, 10);
            if (optarg[0] < '0' || optarg[0] > '9' || *end || errno
                || c->db > 65535)
            {
                return ngspctl_error(NGSPCTL_USAGE, "invalid --db \"%s\": "
                                     "a number from 0 to 65535", optarg);
            }
            break;

        case 'p':
            c->password_file = optarg;
            break;

        case 'P':
            return ngspctl_error(NGSPCTL_USAGE, "--password is refused: "
                                 "every user of this host can read a "
                                 "command line; set NGSP_REDIS_PASSWORD or "
                                 "use --password-file PATH");

        case 's':
            c->status_url = optarg;
            break;

        case 't':
            c->timezone = optarg;
            if (ngsp_quota_tz_parse(optarg, strlen(optarg), &c->tz) != 0) {
                return ngspctl_error(NGSPCTL_USAGE, "invalid --timezone "
                                     "\"%s\": +HH:MM or -HH:MM (at most 14 "
                                     "hours), or UTC", optarg);
            }
            c->have_tz = 1;
            break;

        case 'j':
            c->json = 1;
            break;

        case 'y':
            c->yes = 1;
            break;

        case 'h':
            fputs(ngspctl_help, stdout);
            return -1;

        case 'V':
            printf("ngspctl %s\n", NGSP_VERSION);
            return -1;

        case ':':
            return ngspctl_error(NGSPCTL_USAGE, "%s needs a value",
                                 argv[optind - 1]);

        default:
            /* "set AGENCY POLICY:UNIT -1" reaches here, not set */
            if (optopt >= '0' && optopt <= '9') {
                return ngspctl_error(NGSPCTL_USAGE, "invalid limit \"%s\": "
                                     "a whole number from 0 to "
                                     "1000000000000000, digits only",
                                     argv[optind - 1]);
            }

            return ngspctl_error(NGSPCTL_USAGE, "unknown option \"%s\" (see "
                                 "ngspctl --help)", argv[optind - 1]);
        }
    }

    if (c->password_file) {
        return ngspctl_read_password(c);
    }

    env = getenv("NGSP_REDIS_PASSWORD");

    if (env && env[0]) {
        c->password = strdup(env);
        if (c->password == NULL) {
            return ngspctl_error(NGSPCTL_FAIL, "out of memory");
        }
    }

    return 0;
}


typedef struct {
    const char  *name;
    int        (*run)(ngspctl_t *c, int argc, char **argv);
    int          min, max;              /* arguments after the command */
    const char  *args;
} ngspctl_command_t;


static const ngspctl_command_t  ngspctl_commands[] = {
    { "usage",     ngspctl_usage,     1, 2, "AGENCY [POLICY]" },
    { "set",       ngspctl_set,       3, 3, "AGENCY POLICY:UNIT N" },
    { "unset",     ngspctl_unset,     2, 2, "AGENCY POLICY:UNIT" },
    { "overrides", ngspctl_overrides, 0, 1, "[AGENCY]" },
    { "reset",     ngspctl_reset,     1, 2, "AGENCY [POLICY]" },
    { "slot",      ngspctl_slot,      1, 1, "AGENCY" },
    { NULL, NULL, 0, 0, NULL }
};


int
main(int argc, char **argv)
{
    int                       rc, n;
    ngspctl_t                 c;
    const ngspctl_command_t  *cmd;

    memset(&c, 0, sizeof(c));
    c.redis = "127.0.0.1:6379";

    rc = ngspctl_options_read(&c, argc, argv);

    if (rc != 0) {
        free(c.password);
        return rc < 0 ? NGSPCTL_OK : rc;
    }

    if (optind >= argc) {
        free(c.password);
        fputs(ngspctl_help, stderr);
        return NGSPCTL_USAGE;
    }

    for (cmd = ngspctl_commands; cmd->name; cmd++) {
        if (strcmp(cmd->name, argv[optind]) == 0) {
            break;
        }
    }

    rc = NGSPCTL_OK;
    n = argc - optind - 1;

    if (cmd->name == NULL) {
        rc = ngspctl_error(NGSPCTL_USAGE, "unknown command \"%s\" (one of "
                           "usage, set, unset, overrides, reset, slot; "
                           "see "
                           "ngspctl --help)", argv[optind]);

    } else if (n < cmd->min || n > cmd->max) {
        rc = ngspctl_error(NGSPCTL_USAGE, "usage: ngspctl %s %s", cmd->name,
                           cmd->args);
    }

    if (rc == NGSPCTL_OK && c.status_url) {
        curl_global_init(CURL_GLOBAL_DEFAULT);
        rc = ngspctl_status_load(&c);
    }

    if (rc == NGSPCTL_OK && !c.have_tz) {
        c.tz = 7 * 3600;        /* nginx's ngsp_quota_timezone default */
    }

    if (rc == NGSPCTL_OK) {
        rc = cmd->run(&c, n, argv + optind + 1);
    }

    ngspctl_redis_close(&c);
    ngspctl_status_free(&c);

    if (c.status_url) {
        curl_global_cleanup();
    }

    if (c.password) {
        memset(c.password, 0, strlen(c.password));
        free(c.password);
    }

    return rc;
}
