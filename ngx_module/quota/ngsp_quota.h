/*
 * ngsp quota engine: policies, Redis keys, the Lua script that decides,
 * its reply, and the RateLimit header fields.  Plain C, no nginx headers.
 *
 * Time is Redis's (TIME inside the script), so the calendar math lives in
 * the script; this side only builds its arguments and reads its answer.
 */

#ifndef NGSP_QUOTA_H
#define NGSP_QUOTA_H

#include <stddef.h>
#include <stdint.h>


#define NGSP_QUOTA_MAX_WINDOWS   5      /* one per unit */
#define NGSP_QUOTA_NAME_MAX      64     /* policy names */
#define NGSP_QUOTA_SAFE_MAX      64     /* agency kept verbatim up to this */
#define NGSP_QUOTA_TAG_MAX       65     /* "~" + 64 hex digits */
#define NGSP_QUOTA_TZ_MAX        (14 * 3600)


typedef enum {
    NGSP_QUOTA_SEC = 0,
    NGSP_QUOTA_MIN,
    NGSP_QUOTA_HOUR,
    NGSP_QUOTA_DAY,
    NGSP_QUOTA_MONTH
} ngsp_quota_unit_t;


typedef struct {
    ngsp_quota_unit_t   unit;
    uint64_t            limit;
} ngsp_quota_window_t;


typedef struct {
    char                 name[NGSP_QUOTA_NAME_MAX + 1];
    size_t               nwindows;
    ngsp_quota_window_t  windows[NGSP_QUOTA_MAX_WINDOWS];  /* by unit */
} ngsp_quota_policy_t;


/* the state of one window after a decision, as the script reports it */
typedef struct {
    ngsp_quota_unit_t   unit;
    int64_t             limit;      /* effective: an override if set */
    int64_t             remaining;
    int64_t             reset;      /* seconds until fully available */
    int64_t             width;      /* the window's length in seconds */
    int64_t             ignored;    /* an override not taken (not a whole
                                       number 0..10^15): its length + 1;
                                       0: none */
} ngsp_quota_state_t;


typedef struct {
    int                 allowed;
    int64_t             retry_after;    /* seconds; rejected only */
    size_t              tightest;       /* index into windows */
    unsigned            invalid;        /* bit i: windows[i].ignored */
    size_t              nwindows;
    ngsp_quota_state_t  windows[NGSP_QUOTA_MAX_WINDOWS];
} ngsp_quota_decision_t;


/* --- policy ------------------------------------------------------------ */

const char *ngsp_quota_unit_name(ngsp_quota_unit_t unit);

/* "20r/s": 0 and *w filled, or -1 */
int ngsp_quota_window_parse(const char *s, size_t len,
    ngsp_quota_window_t *w);

/*
 * A policy from its name and window texts; 0, or -1 with a message in
 * err.  Windows are kept sorted by unit; a unit given twice is an error.
 */
int ngsp_quota_policy_init(ngsp_quota_policy_t *p, const char *name,
    size_t name_len, char *err, size_t errlen);
int ngsp_quota_policy_add(ngsp_quota_policy_t *p, const char *s, size_t len,
    char *err, size_t errlen);

/* "+07:00", "-03:30", "+0700", "UTC", "Z": 0 and seconds east, or -1 */
int ngsp_quota_tz_parse(const char *s, size_t len, long *offset);


/* --- keys -------------------------------------------------------------- */

/*
 * The hash tag for an agency: the agency itself when it is 1 to 64 of
 * [A-Za-z0-9._-], else "~" and the hex SHA-256 of its bytes.  Returns the
 * tag's length (out needs NGSP_QUOTA_TAG_MAX + 1), 0 for an empty agency
 * or when hashing fails.
 */
size_t ngsp_quota_tag(const unsigned char *agency, size_t len, char *out);

/* "ngsp:{tag}:limits"; out needs NGSP_QUOTA_TAG_MAX + 16 */
size_t ngsp_quota_limits_key(const char *tag, size_t tag_len, char *out);

/* "ngsp:{tag}:q:policy:unit"; out needs NGSP_QUOTA_KEY_MAX */
#define NGSP_QUOTA_KEY_MAX  (NGSP_QUOTA_TAG_MAX + NGSP_QUOTA_NAME_MAX + 20)
size_t ngsp_quota_window_key(const char *tag, size_t tag_len,
    const char *policy, ngsp_quota_unit_t unit, char *out);


/*
 * The Redis Cluster slot of a key (0 to 16383), as CLUSTER KEYSLOT gives
 * it: CRC16 of the hash tag (what lies between the first "{" and the
 * first "}" after it, when not empty), else of the whole key.  Every key
 * of an agency has the same slot, that of its tag.
 */
#define NGSP_QUOTA_SLOTS  16384
unsigned ngsp_quota_slot(const char *key, size_t len);


/* --- script ------------------------------------------------------------ */

/*
 * KEYS: limits hash, then one base key per window.
 * ARGV: a string of little-endian doubles: utc offset seconds, now in
 *       microseconds (0: Redis TIME), then unit code (ngsp_quota_unit_t)
 *       and limit per window; its struct format ("<dddddd"); the reply's
 *       format; then the override field ("<policy>:<unit>") per window.
 * Reply: a string of little-endian doubles: allowed, retry_after, then
 *        limit, remaining, reset, width per window, then per window 0 or,
 *        for an override ignored (not all digits, or above 10^15), its
 *        length + 1.
 */
extern const char    ngsp_quota_script[];
extern const size_t  ngsp_quota_script_len;

/* hex SHA1 of the script (41 bytes with the NUL); 0 or -1 */
int ngsp_quota_script_sha1(char *out);

/*
 * The whole command in Redis's protocol, for an agency's tag: EVALSHA of
 * sha1, or EVAL of the script itself when sha1 is NULL.  The length, or 0
 * when buf is too small (NGSP_QUOTA_CMD_MAX for EVALSHA, that and
 * ngsp_quota_script_len for EVAL) or the arguments are out of range.
 */
#define NGSP_QUOTA_CMD_MAX                                                \
    (64 + 40 + (NGSP_QUOTA_MAX_WINDOWS + 1) * (NGSP_QUOTA_KEY_MAX + 16)   \
     + 8 * (2 + 2 * NGSP_QUOTA_MAX_WINDOWS)                               \
     + 2 * (3 + 5 * NGSP_QUOTA_MAX_WINDOWS + 16)                          \
     + NGSP_QUOTA_MAX_WINDOWS * (NGSP_QUOTA_NAME_MAX + 24))
size_t ngsp_quota_command(unsigned char *buf, size_t size, const char *sha1,
    const char *tag, size_t tag_len, const ngsp_quota_policy_t *p, long tz);

/* 0 and *d filled from the reply string, or -1 when malformed */
int ngsp_quota_reply_parse(const unsigned char *s, size_t len,
    const ngsp_quota_policy_t *p, ngsp_quota_decision_t *d);


/*
 * The decimal digits of v, written backwards to end at end; returns where
 * they start.  NGSP_QUOTA_DEC_MAX bytes hold any uint64_t.  Shared by the
 * command and the fields: both are on every request, printf is not.
 */
#define NGSP_QUOTA_DEC_MAX  20
char *ngsp_quota_dec(char *end, uint64_t v);


/* --- RateLimit fields (draft-ietf-httpapi-ratelimit-headers-10) -------- */

/* "standard-d";q=50000;w=86400, ... : the length written, 0 if too small */
size_t ngsp_quota_fmt_policy(char *buf, size_t size, const char *policy,
    const ngsp_quota_decision_t *d);

/* "standard-d";r=123;t=3600, ... */
size_t ngsp_quota_fmt_ratelimit(char *buf, size_t size, const char *policy,
    const ngsp_quota_decision_t *d);

#endif /* NGSP_QUOTA_H */
