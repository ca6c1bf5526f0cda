/*
 * ngsp quota engine: policies, Redis keys, the Lua script that decides,
 * its reply, and the RateLimit header fields.  Plain C, no nginx headers.
 *
 * Time is Redis's (TIME inside the script): the script decides and replies
 * with raw levels and its clock; this side builds its arguments and derives
 * what the fields say (remaining, reset, retry-after) from that reply.
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

/*
 * "ngsp:{tag}:q:policy": the state of every window of one policy for one
 * agency, in one string; out needs NGSP_QUOTA_KEY_MAX
 */
#define NGSP_QUOTA_KEY_MAX  (NGSP_QUOTA_TAG_MAX + NGSP_QUOTA_NAME_MAX + 12)
size_t ngsp_quota_state_key(const char *tag, size_t tag_len,
    const char *policy, char *out);


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
 * KEYS: the limits hash, the state key.
 * ARGV: a string of little-endian doubles: utc offset seconds, now in
 *       microseconds (0: Redis TIME), the policy's shape
 *       (ngsp_quota_shape()), then unit code (ngsp_quota_unit_t) and limit
 *       per window; its struct format ("<ddddddddd"); the state's format;
 *       then the override field ("<policy>:<unit>") per window.
 * Reply and state: a string of NGSP_QUOTA_STATE_LEN(n) bytes, doubles:
 *       shape, when the key expires (us), now (us), 1 admitted or 0
 *       refused, the month window's end (us; 0: none), then per window the
 *       level before this request (requests; a GCRA bucket drained to now)
 *       and the limit in force, or -(length + 1) for an override ignored
 *       (not all digits, or above 10^15).
 */
#define NGSP_QUOTA_STATE_LEN(n)  (8 * (5 + 2 * (n)))

extern const char    ngsp_quota_script[];
extern const size_t  ngsp_quota_script_len;

/* hex SHA1 of the script (41 bytes with the NUL); 0 or -1 */
int ngsp_quota_script_sha1(char *out);

/* a number naming the policy's units in order: a state of another is new */
double ngsp_quota_shape(const ngsp_quota_policy_t *p);

/*
 * The whole command in Redis's protocol, for an agency's tag: EVALSHA of
 * sha1, or EVAL of the script itself when sha1 is NULL.  The length, or 0
 * when buf is too small (NGSP_QUOTA_CMD_MAX for EVALSHA, that and
 * ngsp_quota_script_len for EVAL) or the arguments are out of range.
 */
#define NGSP_QUOTA_CMD_MAX                                                \
    (64 + 40 + 2 * (NGSP_QUOTA_KEY_MAX + 16)                              \
     + 8 * (3 + 2 * NGSP_QUOTA_MAX_WINDOWS)                               \
     + 2 * (4 + 2 * NGSP_QUOTA_MAX_WINDOWS + 16)                          \
     + NGSP_QUOTA_MAX_WINDOWS * (NGSP_QUOTA_NAME_MAX + 24))
size_t ngsp_quota_command(unsigned char *buf, size_t size, const char *sha1,
    const char *tag, size_t tag_len, const ngsp_quota_policy_t *p, long tz);

/*
 * 0 and *d filled from the reply string, or -1 when malformed: the levels
 * and limits it carries, turned into remaining, reset, width and
 * retry-after at the reply's clock, calendar windows in offset tz.
 */
int ngsp_quota_reply_parse(const unsigned char *s, size_t len,
    const ngsp_quota_policy_t *p, long tz, ngsp_quota_decision_t *d);

/*
 * A stored state read at now_us as the script reads it, for tools that
 * show usage: per window, the level a request would meet (GCRA drained at
 * limit[i] per window), the level as stored after the last admission and
 * when that was (*measured_us; 0 when there is no usable state).  Anything
 * the script would not take is no state.  0, or -1 for bad arguments.
 */
int ngsp_quota_state_read(const unsigned char *st, size_t len,
    const ngsp_quota_policy_t *p, const int64_t *limit, int64_t now_us,
    long tz, double *level, double *stored, int64_t *measured_us);

/*
 * A window's span around now_us, calendar windows in offset tz: its
 * length in seconds and, for calendar windows, its end in Unix
 * microseconds (0 for GCRA windows, which have no edge).
 */
void ngsp_quota_span(ngsp_quota_unit_t unit, int64_t now_us, long tz,
    int64_t *width, int64_t *end_us);


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
