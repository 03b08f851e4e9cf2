/*
** builtins_time.c -- stage 3 support: Ordo's extended builtins, time (8).
**
** UTC civil-date math and chrono's strftime / parse dialect, written here:
** no libc locale, TZ or strftime.
**
** Input: borrowed argument values (arity already checked by the VM).
** Output: new values in the run's arena, or an error recorded in 'gv_rt'
** with Ordo's message text.  Shared helpers: builtins_lib.h; the table:
** builtins_ext.c.
*/
#define _GNU_SOURCE /* memrchr */
#include "builtins_lib.h"

#include <time.h>

/* ==== Time: UTC civil dates and chrono's strftime dialect ==== */

#define YEAR_MIN (-262143) /* chrono's NaiveDate::MIN year */
#define YEAR_MAX 262142    /* chrono's NaiveDate::MAX year */

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
  int64_t era;
  unsigned yoe, doy, doe;
  y -= m <= 2;
  era = (y >= 0 ? y : y - 399) / 400;
  yoe = (unsigned)(y - era * 400);
  doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + (int64_t)doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d) {
  int64_t era;
  unsigned doe, yoe, doy, mp;
  z += 719468;
  era = (z >= 0 ? z : z - 146096) / 146097;
  doe = (unsigned)(z - era * 146097);
  yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  mp = (5 * doy + 2) / 153;
  *d = doy - (153 * mp + 2) / 5 + 1;
  *m = mp < 10 ? mp + 3 : mp - 9;
  *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

static int is_leap(int64_t y) {
  return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static unsigned days_in_month(int64_t y, unsigned m) {
  static const unsigned dm[12] = {31, 28, 31, 30, 31, 30,
                                  31, 31, 30, 31, 30, 31};
  return m == 2 && is_leap(y) ? 29 : dm[m - 1];
}

/* ISO weekday of a day number: 1 = Monday ... 7 = Sunday. */
static unsigned wday_of(int64_t days) {
  return (unsigned)((((days % 7) + 7) % 7 + 3) % 7 + 1);
}

static unsigned iso_weeks_in(int64_t y) {
  unsigned j1 = wday_of(days_from_civil(y, 1, 1));
  return j1 == 4 || (j1 == 3 && is_leap(y)) ? 53 : 52;
}

typedef struct tm_utc {
  int64_t days;            /* days since the epoch             */
  int64_t year;            /* proleptic Gregorian year         */
  unsigned month, day;     /* 1-12, 1-31                       */
  unsigned ordinal;        /* 1-366                            */
  unsigned wday;           /* 1 = Monday ... 7 = Sunday        */
  unsigned hour, min, sec; /* time of day                      */
  int64_t isoyear;         /* ISO 8601 week-based year         */
  unsigned isoweek;        /* 1-53                             */
  int64_t ts;              /* the Unix timestamp               */
} tm_utc;

/* chrono's DateTime::from_timestamp(ts, 0): 0, or 1 when out of range. */
static int tm_from_ts(int64_t ts, tm_utc *t) {
  int64_t days = ts / 86400, rem = ts % 86400;
  int w;
  if (rem < 0)
    rem += 86400, days--;
  if (days < days_from_civil(YEAR_MIN, 1, 1) ||
      days > days_from_civil(YEAR_MAX, 12, 31))
    return 1;
  t->ts = ts;
  t->days = days;
  civil_from_days(days, &t->year, &t->month, &t->day);
  t->ordinal = (unsigned)(days - days_from_civil(t->year, 1, 1)) + 1;
  t->wday = wday_of(days);
  t->hour = (unsigned)(rem / 3600);
  t->min = (unsigned)(rem / 60 % 60);
  t->sec = (unsigned)(rem % 60);
  w = ((int)t->ordinal - (int)t->wday + 10) / 7;
  if (w < 1) {
    t->isoyear = t->year - 1;
    t->isoweek = iso_weeks_in(t->year - 1);
  } else if ((unsigned)w > iso_weeks_in(t->year)) {
    t->isoyear = t->year + 1;
    t->isoweek = 1;
  } else {
    t->isoyear = t->year;
    t->isoweek = (unsigned)w;
  }
  return 0;
}

/* ---- strftime items (chrono's StrftimeItems) ---- */

enum { PAD_NONE, PAD_ZERO, PAD_SPACE };
enum { IT_END, IT_LIT, IT_SPACE, IT_NUM, IT_FIX, IT_ERR };
enum {
  N_YEAR,
  N_YDIV,
  N_YMOD,
  N_IYEAR,
  N_IYDIV,
  N_IYMOD,
  N_QUARTER,
  N_MONTH,
  N_DAY,
  N_WSUN,
  N_WMON,
  N_IWEEK,
  N_WDSUN,
  N_WDMON,
  N_ORD,
  N_HOUR,
  N_HOUR12,
  N_MIN,
  N_SEC,
  N_NANO,
  N_TS
};
enum {
  F_SMON,
  F_LMON,
  F_SWD,
  F_LWD,
  F_LAMPM,
  F_UAMPM,
  F_NANO,
  F_NANO3,
  F_NANO6,
  F_NANO9,
  F_NANO3ND,
  F_NANO6ND,
  F_NANO9ND,
  F_TZNAME,
  F_TZOFF,
  F_TZCOLON,
  F_TZDCOLON,
  F_TZTCOLON,
  F_TZPERM,
  F_RFC3339
};

typedef struct tf_item {
  int kind;        /* IT_*                                  */
  int spec;        /* N_* or F_*                            */
  int pad;         /* PAD_* for IT_NUM                      */
  const char *lit; /* IT_LIT / IT_SPACE text                */
  size_t lit_len;  /* its length                            */
} tf_item;

#define TI_L(s)                                                                \
  { IT_LIT, 0, 0, s, sizeof(s) - 1 }
#define TI_S(s)                                                                \
  { IT_SPACE, 0, 0, s, sizeof(s) - 1 }
#define TI_N(n, p)                                                             \
  { IT_NUM, n, p, NULL, 0 }
#define TI_F(f)                                                                \
  { IT_FIX, f, 0, NULL, 0 }
#define TI_END                                                                 \
  { IT_END, 0, 0, NULL, 0 }

static const tf_item TQ_D[] = {TI_N(N_MONTH, PAD_ZERO), TI_L("/"),
                               TI_N(N_DAY, PAD_ZERO),   TI_L("/"),
                               TI_N(N_YMOD, PAD_ZERO),  TI_END};
static const tf_item TQ_F[] = {TI_N(N_YEAR, PAD_ZERO),  TI_L("-"),
                               TI_N(N_MONTH, PAD_ZERO), TI_L("-"),
                               TI_N(N_DAY, PAD_ZERO),   TI_END};
static const tf_item TQ_R[] = {TI_N(N_HOUR, PAD_ZERO), TI_L(":"),
                               TI_N(N_MIN, PAD_ZERO), TI_END};
static const tf_item TQ_T[] = {TI_N(N_HOUR, PAD_ZERO), TI_L(":"),
                               TI_N(N_MIN, PAD_ZERO),  TI_L(":"),
                               TI_N(N_SEC, PAD_ZERO),  TI_END};
static const tf_item TQ_C[] = {TI_F(F_SWD),
                               TI_S(" "),
                               TI_F(F_SMON),
                               TI_S(" "),
                               TI_N(N_DAY, PAD_SPACE),
                               TI_S(" "),
                               TI_N(N_HOUR, PAD_ZERO),
                               TI_L(":"),
                               TI_N(N_MIN, PAD_ZERO),
                               TI_L(":"),
                               TI_N(N_SEC, PAD_ZERO),
                               TI_S(" "),
                               TI_N(N_YEAR, PAD_ZERO),
                               TI_END};
static const tf_item TQ_RR[] = {
    TI_N(N_HOUR12, PAD_ZERO), TI_L(":"), TI_N(N_MIN, PAD_ZERO), TI_L(":"),
    TI_N(N_SEC, PAD_ZERO),    TI_S(" "), TI_F(F_UAMPM),         TI_END};
static const tf_item TQ_V[] = {TI_N(N_DAY, PAD_SPACE), TI_L("-"),
                               TI_F(F_SMON),           TI_L("-"),
                               TI_N(N_YEAR, PAD_ZERO), TI_END};

typedef struct tf_tok {
  const char *s;        /* remaining format text       */
  const char *end;      /* its end                     */
  const tf_item *queue; /* queued composite items      */
} tf_tok;

/* Unicode White_Space at s (n bytes available); returns its length or 0. */
static size_t uspace(const char *s, size_t n) {
  uint32_t cp;
  size_t l = utf8_dec(s, n, &cp);
  if ((cp >= 9 && cp <= 13) || cp == ' ' || cp == 0x85 || cp == 0xA0 ||
      cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 ||
      cp == 0x2029 || cp == 0x202F || cp == 0x205F || cp == 0x3000)
    return l;
  return 0;
}

static int spec_item(int c, int alt, tf_tok *k, tf_item *it) {
  static const char nspec[] = "CGHIMSUVWYdefgjklmqsuwy";
  static const signed char nkind[] = {
      N_YDIV,   N_IYEAR, N_HOUR,    N_HOUR12, N_MIN,   N_SEC,   N_WSUN, N_IWEEK,
      N_WMON,   N_YEAR,  N_DAY,     N_DAY,    N_NANO,  N_IYMOD, N_ORD,  N_HOUR,
      N_HOUR12, N_MONTH, N_QUARTER, N_TS,     N_WDMON, N_WDSUN, N_YMOD};
  static const char npad[] = "zzzzzzzzzzzszzzsszn"
                             "nnnz";
  const char *q = strchr(nspec, c);
  *it = (tf_item){IT_FIX, 0, 0, NULL, 0};
  if (c && q) {
    size_t x = (size_t)(q - nspec);
    it->kind = IT_NUM;
    it->spec = nkind[x];
    it->pad = npad[x] == 'z' ? PAD_ZERO : npad[x] == 's' ? PAD_SPACE : PAD_NONE;
    return 0;
  }
  switch (c) {
  case 'A':
    it->spec = F_LWD;
    return 0;
  case 'B':
    it->spec = F_LMON;
    return 0;
  case 'P':
    it->spec = F_LAMPM;
    return 0;
  case 'p':
    it->spec = F_UAMPM;
    return 0;
  case 'Z':
    it->spec = F_TZNAME;
    return 0;
  case 'a':
    it->spec = F_SWD;
    return 0;
  case 'b':
  case 'h':
    it->spec = F_SMON;
    return 0;
  case 'z':
    it->spec = alt ? F_TZPERM : F_TZOFF;
    return 0;
  case '+':
    it->spec = F_RFC3339;
    return 0;
  case 'n':
    *it = (tf_item){IT_SPACE, 0, 0, "\n", 1};
    return 0;
  case 't':
    *it = (tf_item){IT_SPACE, 0, 0, "\t", 1};
    return 0;
  case '%':
    *it = (tf_item){IT_LIT, 0, 0, "%", 1};
    return 0;
  case 'D':
  case 'x':
    k->queue = TQ_D;
    break;
  case 'F':
    k->queue = TQ_F;
    break;
  case 'R':
    k->queue = TQ_R;
    break;
  case 'T':
  case 'X':
    k->queue = TQ_T;
    break;
  case 'c':
    k->queue = TQ_C;
    break;
  case 'r':
    k->queue = TQ_RR;
    break;
  case 'v':
    k->queue = TQ_V;
    break;
  default:
    return 1;
  }
  *it = *k->queue++;
  return 0;
}

/* Next format item; IT_END at the end of the format. */
static void tf_next(tf_tok *k, tf_item *it) {
  int c, pad = -1, alt = 0;
  size_t sl;
  if (k->queue) {
    *it = *k->queue++;
    if (it->kind != IT_END)
      return;
    k->queue = NULL;
  }
  if (k->s >= k->end) {
    it->kind = IT_END;
    return;
  }
  if (*k->s != '%') {
    const char *p = k->s;
    int sp = uspace(p, (size_t)(k->end - p)) != 0;
    while (p < k->end && *p != '%') {
      size_t l = uspace(p, (size_t)(k->end - p));
      uint32_t cp;
      if ((l != 0) != sp)
        break;
      p += l ? l : utf8_dec(p, (size_t)(k->end - p), &cp);
    }
    *it = (tf_item){sp ? IT_SPACE : IT_LIT, 0, 0, k->s, (size_t)(p - k->s)};
    k->s = p;
    return;
  }
  k->s++;
  it->kind = IT_ERR;
  if (k->s >= k->end)
    return;
  c = (unsigned char)*k->s++;
  if (c == '-' || c == '0' || c == '_')
    pad = c == '-' ? PAD_NONE : c == '0' ? PAD_ZERO : PAD_SPACE;
  alt = c == '#';
  if (pad >= 0 || alt) {
    if (k->s >= k->end)
      return;
    c = (unsigned char)*k->s++;
    if (alt && c != 'z')
      return;
  }
  sl = (size_t)(k->end - k->s);
  if (c == ':') {
    static const char *const z[3] = {"::z", ":z", "z"};
    static const int zs[3] = {F_TZTCOLON, F_TZDCOLON, F_TZCOLON};
    int j;
    for (j = 0; j < 3; j++)
      if (sl >= strlen(z[j]) && !memcmp(k->s, z[j], strlen(z[j])))
        break;
    if (j == 3)
      return;
    k->s += strlen(z[j]);
    *it = (tf_item){IT_FIX, zs[j], 0, NULL, 0};
  } else if (c == '.' || c == '3' || c == '6' || c == '9') {
    int d = c;
    if (c == '.') {
      if (k->s >= k->end)
        return;
      d = (unsigned char)*k->s++;
      if (d == 'f') {
        *it = (tf_item){IT_FIX, F_NANO, 0, NULL, 0};
        goto padcheck;
      }
    }
    if ((d != '3' && d != '6' && d != '9') || k->s >= k->end || *k->s != 'f')
      return;
    k->s++;
    it->kind = IT_FIX;
    it->spec = (c == '.' ? F_NANO3 : F_NANO3ND) + (d - '3') / 3;
  } else if (c >= 0x80 || spec_item(c, alt, k, it)) {
    if (c >= 0x80) /* skip the rest of a multibyte specifier char */
      while (k->s < k->end && ((unsigned char)*k->s & 0xC0) == 0x80)
        k->s++;
    it->kind = IT_ERR;
    return;
  }
padcheck:
  if (pad >= 0) {
    if (it->kind == IT_NUM && !k->queue)
      it->pad = pad;
    else
      *it = (tf_item){IT_ERR, 0, 0, NULL, 0}, k->queue = NULL;
  }
}

static const char *const MON_NAMES[12] = {
    "January", "February", "March",     "April",   "May",      "June",
    "July",    "August",   "September", "October", "November", "December"};
static const char *const WD_NAMES[7] = {"Monday",   "Tuesday", "Wednesday",
                                        "Thursday", "Friday",  "Saturday",
                                        "Sunday"};

static int64_t floor_div(int64_t a, int64_t b) {
  int64_t q = a / b;
  return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

/* Rust integer formatting with a width: '{}', '{:0w}', '{:w}', and for
** out-of-range years '{:+}', '{:+0w}', '{:+w}'. */
static void fmt_num(gv_buf *b, int64_t v, int width, int pad, int plus) {
  char d[32];
  int len =
      snprintf(d, sizeof d, plus && v >= 0 ? "+%lld" : "%lld", (long long)v);
  int fill = pad == PAD_NONE || len >= width ? 0 : width - len;
  if (pad == PAD_SPACE)
    while (fill--)
      gavel__buf_addc(b, ' ');
  if (pad == PAD_ZERO) {
    int sign = d[0] == '-' || d[0] == '+';
    gavel__buf_add(b, d, (size_t)sign);
    while (fill--)
      gavel__buf_addc(b, '0');
    gavel__buf_add(b, d + sign, (size_t)(len - sign));
    return;
  }
  gavel__buf_add(b, d, (size_t)len);
}

static void tf_numeric(gv_buf *b, const tm_utc *t, int spec, int pad) {
  static const signed char width[] = {4, 2, 2, 4, 2, 2, 1, 2, 2, 2, 2,
                                      2, 1, 1, 3, 2, 2, 2, 2, 9, 1};
  int64_t v = 0;
  unsigned d_sun = t->wday % 7; /* days since Sunday */
  switch (spec) {
  case N_YEAR:
    v = t->year;
    break;
  case N_YDIV:
    v = floor_div(t->year, 100);
    break;
  case N_YMOD:
    v = t->year - floor_div(t->year, 100) * 100;
    break;
  case N_IYEAR:
    v = t->isoyear;
    break;
  case N_IYDIV:
    v = floor_div(t->isoyear, 100);
    break;
  case N_IYMOD:
    v = t->isoyear - floor_div(t->isoyear, 100) * 100;
    break;
  case N_QUARTER:
    v = (t->month - 1) / 3 + 1;
    break;
  case N_MONTH:
    v = t->month;
    break;
  case N_DAY:
    v = t->day;
    break;
  case N_WSUN:
    v = ((int)t->ordinal - (int)d_sun + 6) / 7;
    break;
  case N_WMON:
    v = ((int)t->ordinal - (int)t->wday + 1 + 6) / 7;
    break;
  case N_IWEEK:
    v = t->isoweek;
    break;
  case N_WDSUN:
    v = d_sun;
    break;
  case N_WDMON:
    v = t->wday;
    break;
  case N_ORD:
    v = t->ordinal;
    break;
  case N_HOUR:
    v = t->hour;
    break;
  case N_HOUR12:
    v = t->hour % 12 ? t->hour % 12 : 12;
    break;
  case N_MIN:
    v = t->min;
    break;
  case N_SEC:
    v = t->sec;
    break;
  case N_NANO:
    v = 0;
    break;
  case N_TS:
    v = t->ts;
    break;
  default:
    break;
  }
  if ((spec == N_YEAR || spec == N_IYEAR) && !(v >= 0 && v < 10000))
    fmt_num(b, v, width[spec] + 1, pad, 1);
  else
    fmt_num(b, v, width[spec], pad, 0);
}

/* Appends one fixed item; 1 if chrono would fail to format it. */
static int tf_fixed(gv_buf *b, const tm_utc *t, int spec) {
  static const char *const fixed_text[] = {
      NULL,        NULL,   NULL,      NULL,         NULL,        NULL,
      "",          ".000", ".000000", ".000000000", "000",       "000000",
      "000000000", "UTC",  "+0000",   "+00:00",     "+00:00:00", "+00"};
  switch (spec) {
  case F_SMON:
    gavel__buf_add(b, MON_NAMES[t->month - 1], 3);
    return 0;
  case F_LMON:
    gavel__buf_adds(b, MON_NAMES[t->month - 1]);
    return 0;
  case F_SWD:
    gavel__buf_add(b, WD_NAMES[t->wday - 1], 3);
    return 0;
  case F_LWD:
    gavel__buf_adds(b, WD_NAMES[t->wday - 1]);
    return 0;
  case F_LAMPM:
    gavel__buf_adds(b, t->hour < 12 ? "am" : "pm");
    return 0;
  case F_UAMPM:
    gavel__buf_adds(b, t->hour < 12 ? "AM" : "PM");
    return 0;
  case F_TZPERM:
    return 1;
  case F_RFC3339:
    if (t->year >= 0 && t->year <= 9999)
      gavel__buf_addf(b, "%04lld", (long long)t->year);
    else
      fmt_num(b, t->year, 5, PAD_ZERO, 1);
    gavel__buf_addf(b, "-%02u-%02uT%02u:%02u:%02u+00:00", t->month, t->day,
                    t->hour, t->min, t->sec);
    return 0;
  default:
    gavel__buf_adds(b, fixed_text[spec]);
    return 0;
  }
}

/* Formats 't' with 'fmt' into 'b'; 1 on a format chrono cannot render. */
static int tf_format(gv_buf *b, const tm_utc *t, const char *fmt, size_t n) {
  tf_tok k = {fmt, fmt + n, NULL};
  tf_item it;
  for (;;) {
    tf_next(&k, &it);
    switch (it.kind) {
    case IT_END:
      return 0;
    case IT_ERR:
      return 1;
    case IT_LIT:
    case IT_SPACE:
      gavel__buf_add(b, it.lit, it.lit_len);
      break;
    case IT_NUM:
      tf_numeric(b, t, it.spec, it.pad);
      break;
    default:
      if (tf_fixed(b, t, it.spec))
        return 1;
    }
  }
}

/* ---- Parsing (chrono's parse + Parsed::to_naive_datetime_with_offset) ---- */

enum {
  PE_OK,
  PE_RANGE,
  PE_IMPOSSIBLE,
  PE_NOT_ENOUGH,
  PE_INVALID,
  PE_SHORT,
  PE_LONG,
  PE_FORMAT
};
static const char *const PE_TEXT[] = {
    "",
    "input is out of range",
    "no possible date and time matching input",
    "input is not enough for unique date and time",
    "input contains invalid characters",
    "premature end of input",
    "trailing input",
    "bad or unsupported format string"};

enum {
  P_YEAR,
  P_YDIV,
  P_YMOD,
  P_IYEAR,
  P_IYDIV,
  P_IYMOD,
  P_QUARTER,
  P_MONTH,
  P_WSUN,
  P_WMON,
  P_IWEEK,
  P_WDAY,
  P_ORD,
  P_DAY,
  P_HDIV,
  P_HMOD,
  P_MIN,
  P_SEC,
  P_NANO,
  P_TS,
  P_OFF,
  P__N
};

typedef struct tp_parsed {
  int64_t v[P__N]; /* field values (P_WDAY: 1 = Monday ... 7 = Sunday) */
  unsigned set;    /* bit i: field i present                           */
} tp_parsed;

static int tp_has(const tp_parsed *p, int f) { return (p->set >> f) & 1; }

static int tp_set(tp_parsed *p, int f, int64_t v) {
  if (tp_has(p, f))
    return p->v[f] == v ? PE_OK : PE_IMPOSSIBLE;
  p->v[f] = v;
  p->set |= 1u << f;
  return PE_OK;
}

/* chrono's Parsed::set_* range checks, then tp_set. */
static int tp_set_num(tp_parsed *p, int spec, int64_t v) {
  static const int64_t lo[] = {INT32_MIN, 0, 0, INT32_MIN, 0, 0, 1,
                               1,         1, 0, 0,         1, 0, 1,
                               1,         0, 1, 0,         0, 0, INT64_MIN};
  static const int64_t hi[] = {
      INT32_MAX, INT32_MAX, 99, INT32_MAX, INT32_MAX, 99,        4,
      12,        31,        53, 53,        53,        6,         7,
      366,       23,        12, 59,        60,        999999999, INT64_MAX};
  static const signed char field[] = {
      P_YEAR,  P_YDIV, P_YMOD, P_IYEAR, P_IYDIV, P_IYMOD, P_QUARTER,
      P_MONTH, P_DAY,  P_WSUN, P_WMON,  P_IWEEK, P_WDAY,  P_WDAY,
      P_ORD,   -1,     -2,     P_MIN,   P_SEC,   P_NANO,  P_TS};
  int rc;
  if (v < lo[spec] || v > hi[spec])
    return PE_RANGE;
  if (spec == N_WDSUN)
    v = v == 0 ? 7 : v;
  if (field[spec] == -1) { /* hour: both halves */
    if ((rc = tp_set(p, P_HDIV, v / 12)))
      return rc;
    return tp_set(p, P_HMOD, v % 12);
  }
  if (field[spec] == -2)
    return tp_set(p, P_HMOD, v == 12 ? 0 : v);
  return tp_set(p, field[spec], v);
}

/* scan::number: 'min'..'max' ASCII digits. */
static int scan_num(const char **s, const char *e, size_t min, size_t max,
                    int64_t *out) {
  size_t i, avail = (size_t)(e - *s);
  int64_t n = 0;
  if (avail < min)
    return PE_SHORT;
  for (i = 0; i < avail && i < max; i++) {
    int c = (unsigned char)(*s)[i];
    if (c < '0' || c > '9') {
      if (i < min)
        return PE_INVALID;
      break;
    }
    if (n > (INT64_MAX - (c - '0')) / 10)
      return PE_RANGE;
    n = n * 10 + (c - '0');
  }
  *s += i;
  *out = n;
  return PE_OK;
}

static int ieq(const char *a, const char *b, size_t n) {
  size_t i;
  for (i = 0; i < n; i++) {
    int x = (unsigned char)a[i], y = (unsigned char)b[i];
    if ((x | (x >= 'A' && x <= 'Z' ? 32 : 0)) !=
        (y | (y >= 'A' && y <= 'Z' ? 32 : 0)))
      return 0;
  }
  return 1;
}

/* Month (names = MON_NAMES, 12) or weekday (WD_NAMES, 7) name. */
static int scan_name(const char **s, const char *e, const char *const *names,
                     int count, int allow_long, int *idx) {
  int k;
  if (e - *s < 3)
    return PE_SHORT;
  for (k = 0; k < count; k++)
    if (ieq(*s, names[k], 3))
      break;
  if (k == count)
    return PE_INVALID;
  *s += 3;
  if (allow_long) {
    size_t l = strlen(names[k]) - 3;
    if ((size_t)(e - *s) >= l && ieq(*s, names[k] + 3, l))
      *s += l;
  }
  *idx = k;
  return PE_OK;
}

static int scan_nanos(const char **s, const char *e, int64_t *out) {
  static const int64_t scale[10] = {0,     100000000, 10000000, 1000000, 100000,
                                    10000, 1000,      100,      10,      1};
  const char *b = *s;
  int rc = scan_num(s, e, 1, 9, out);
  if (rc)
    return rc;
  *out *= scale[*s - b];
  while (*s < e && **s >= '0' && **s <= '9')
    (*s)++;
  return PE_OK;
}

/* scan::timezone_offset; 'perm' = %#z (Z, missing minutes allowed). */
static int scan_offset(const char **s, const char *e, int perm, int64_t *out) {
  int neg, h, m = 0;
  const char *p = *s;
  if (p < e && (*p == ' ' || *p == '\t'))
    p++;
  if (perm && p < e && (*p == 'Z' || *p == 'z')) {
    *s = p + 1;
    *out = 0;
    return PE_OK;
  }
  if (p >= e)
    return PE_SHORT;
  if (*p == '+' || *p == '-')
    neg = *p++ == '-';
  else if (e - p >= 3 && !memcmp(p, "\xE2\x88\x92", 3))
    neg = 1, p += 3;
  else
    return PE_INVALID;
  if (e - p < 2)
    return PE_SHORT;
  if (p[0] < '0' || p[0] > '9' || p[1] < '0' || p[1] > '9')
    return PE_INVALID;
  h = (p[0] - '0') * 10 + (p[1] - '0');
  p += 2;
  if (p < e && *p == ':')
    p++;
  if (e - p >= 2 && p[1] >= '0' && p[1] <= '9' && p[0] >= '0' && p[0] <= '9') {
    if (p[0] > '5')
      return PE_RANGE;
    m = (p[0] - '0') * 10 + (p[1] - '0');
    p += 2;
  } else if (!perm) {
    return e - p < 2 ? PE_SHORT : PE_INVALID;
  }
  *s = p;
  *out = neg ? -(h * 3600 + m * 60) : h * 3600 + m * 60;
  return PE_OK;
}

static int scan_char(const char **s, const char *e, char c) {
  if (*s >= e)
    return PE_SHORT;
  if (**s != c)
    return PE_INVALID;
  (*s)++;
  return PE_OK;
}

/* %+ (strict RFC 3339). */
static int scan_rfc3339(tp_parsed *p, const char **s, const char *e) {
  static const struct {
    int spec;
    size_t w;
    char sep;
  } f[] = {{N_YEAR, 4, '-'}, {N_MONTH, 2, '-'}, {N_DAY, 2, 'T'},
           {N_HOUR, 2, ':'}, {N_MIN, 2, ':'},   {N_SEC, 2, 0}};
  int64_t v;
  int rc, k;
  for (k = 0; k < 6; k++) {
    if ((rc = scan_num(s, e, f[k].w, f[k].w, &v)) ||
        (rc = tp_set_num(p, f[k].spec, v)))
      return rc;
    if (f[k].sep == 'T') {
      if (*s >= e)
        return PE_SHORT;
      if (**s != 'T' && **s != 't')
        return PE_INVALID;
      (*s)++;
    } else if (f[k].sep && (rc = scan_char(s, e, f[k].sep))) {
      return rc;
    }
  }
  if (*s < e && **s == '.') {
    (*s)++;
    if ((rc = scan_nanos(s, e, &v)) || (rc = tp_set(p, P_NANO, v)))
      return rc;
  }
  if ((rc = scan_offset(s, e, 1, &v)))
    return rc;
  if (v <= -86400 || v >= 86400)
    return PE_RANGE;
  return tp_set(p, P_OFF, v);
}

static int tp_fixed(tp_parsed *p, int spec, const char **s, const char *e) {
  int64_t v;
  int rc, k;
  switch (spec) {
  case F_SMON:
  case F_LMON:
    if ((rc = scan_name(s, e, MON_NAMES, 12, spec == F_LMON, &k)))
      return rc;
    return tp_set(p, P_MONTH, k + 1);
  case F_SWD:
  case F_LWD:
    if ((rc = scan_name(s, e, WD_NAMES, 7, spec == F_LWD, &k)))
      return rc;
    return tp_set(p, P_WDAY, k + 1);
  case F_LAMPM:
  case F_UAMPM:
    if (e - *s < 2)
      return PE_SHORT;
    if (((*s)[1] | 32) != 'm' ||
        (((*s)[0] | 32) != 'a' && ((*s)[0] | 32) != 'p'))
      return PE_INVALID;
    k = ((*s)[0] | 32) == 'p';
    *s += 2;
    return tp_set(p, P_HDIV, k);
  case F_NANO:
  case F_NANO3:
  case F_NANO6:
  case F_NANO9:
    if (*s < e && **s == '.') {
      (*s)++;
      if ((rc = scan_nanos(s, e, &v)))
        return rc;
      return tp_set(p, P_NANO, v);
    }
    return PE_OK;
  case F_NANO3ND:
  case F_NANO6ND:
  case F_NANO9ND: {
    static const int64_t sc[3] = {1000000, 1000, 1};
    size_t w = (size_t)(spec - F_NANO3ND + 1) * 3;
    if ((size_t)(e - *s) < w)
      return PE_SHORT;
    if ((rc = scan_num(s, e, w, w, &v)))
      return rc;
    return tp_set(p, P_NANO, v * sc[spec - F_NANO3ND]);
  }
  case F_TZNAME:
    while (*s < e && !uspace(*s, (size_t)(e - *s)))
      (*s)++;
    return PE_OK;
  case F_RFC3339:
    return scan_rfc3339(p, s, e);
  default: /* the offsets */
    if ((rc = scan_offset(s, e, spec == F_TZPERM, &v)))
      return rc;
    return tp_set(p, P_OFF, v);
  }
}

/* Runs the format over the input, filling 'p'. */
static int tp_scan(tp_parsed *p, const gv_str *in, const gv_str *fmt) {
  tf_tok k = {fmt->s, fmt->s + fmt->len, NULL};
  const char *s = in->s, *e = in->s + in->len;
  tf_item it;
  int64_t v;
  int rc;
  for (;;) {
    tf_next(&k, &it);
    switch (it.kind) {
    case IT_END:
      return s < e ? PE_LONG : PE_OK;
    case IT_ERR:
      return PE_FORMAT;
    case IT_LIT:
      if ((size_t)(e - s) < it.lit_len)
        return PE_SHORT;
      if (memcmp(s, it.lit, it.lit_len))
        return PE_INVALID;
      s += it.lit_len;
      break;
    case IT_SPACE: {
      const char *q = it.lit, *qe = it.lit + it.lit_len;
      while (q < qe) {
        uint32_t a, b;
        size_t la = utf8_dec(q, (size_t)(qe - q), &a), lb;
        if (s >= e)
          return PE_SHORT;
        lb = utf8_dec(s, (size_t)(e - s), &b);
        if (a != b)
          return PE_INVALID;
        q += la;
        s += lb;
      }
      break;
    }
    case IT_NUM: {
      static const unsigned char w[] = {4, 2, 2, 4, 2, 2, 1, 2, 2, 2,  2,
                                        2, 1, 1, 3, 2, 2, 2, 2, 9, 255};
      size_t width = w[it.spec] == 255 ? SIZE_MAX : w[it.spec];
      if ((it.spec == N_YEAR || it.spec == N_IYEAR) && s < e &&
          (*s == '-' || *s == '+')) {
        int neg = *s++ == '-';
        if ((rc = scan_num(&s, e, 1, SIZE_MAX, &v)))
          return rc;
        v = neg ? -v : v;
      } else if ((rc = scan_num(&s, e, 1, width, &v))) {
        return rc;
      }
      if ((rc = tp_set_num(p, it.spec, v)))
        return rc;
      break;
    }
    default:
      if ((rc = tp_fixed(p, it.spec, &s, e)))
        return rc;
    }
  }
}

/* resolve_year: full year, or century + year-of-century, or 2-digit. */
static int tp_year(const tp_parsed *p, int fy, int fq, int fr, int *has,
                   int64_t *y) {
  int hy = tp_has(p, fy), hq = tp_has(p, fq), hr = tp_has(p, fr);
  *has = 1;
  if (!hq && !hr) {
    *has = hy;
    *y = p->v[fy];
  } else if (hy) {
    *y = p->v[fy];
    if (*y < 0 || (hq && p->v[fq] != *y / 100) || (hr && p->v[fr] != *y % 100))
      return PE_IMPOSSIBLE;
  } else if (hq && hr) {
    *y = p->v[fq] * 100 + p->v[fr];
    if (*y > INT32_MAX)
      return PE_RANGE;
  } else if (hr) {
    *y = p->v[fr] + (p->v[fr] < 70 ? 2000 : 1900);
  } else {
    return PE_NOT_ENOUGH;
  }
  return PE_OK;
}

static int in_range_year(int64_t y) { return y >= YEAR_MIN && y <= YEAR_MAX; }

/* Checks a candidate date against every given date field. */
static int tp_verify(const tp_parsed *p, int64_t days) {
  tm_utc t;
  int64_t yq, yr;
  if (tm_from_ts(days * 86400, &t))
    return 0;
  yq = t.year >= 0 ? t.year / 100 : -1;
  yr = t.year >= 0 ? t.year % 100 : -1;
  if ((tp_has(p, P_YEAR) && p->v[P_YEAR] != t.year) ||
      (tp_has(p, P_YDIV) && p->v[P_YDIV] != yq) ||
      (tp_has(p, P_YMOD) && p->v[P_YMOD] != yr) ||
      (tp_has(p, P_MONTH) && p->v[P_MONTH] != t.month) ||
      (tp_has(p, P_DAY) && p->v[P_DAY] != t.day) ||
      (tp_has(p, P_QUARTER) && p->v[P_QUARTER] != (t.month - 1) / 3 + 1))
    return 0;
  yq = t.isoyear >= 0 ? t.isoyear / 100 : -1;
  yr = t.isoyear >= 0 ? t.isoyear % 100 : -1;
  if ((tp_has(p, P_IYEAR) && p->v[P_IYEAR] != t.isoyear) ||
      (tp_has(p, P_IYDIV) && p->v[P_IYDIV] != yq) ||
      (tp_has(p, P_IYMOD) && p->v[P_IYMOD] != yr) ||
      (tp_has(p, P_IWEEK) && p->v[P_IWEEK] != t.isoweek) ||
      (tp_has(p, P_WDAY) && p->v[P_WDAY] != t.wday))
    return 0;
  if ((tp_has(p, P_ORD) && p->v[P_ORD] != t.ordinal) ||
      (tp_has(p, P_WSUN) &&
       p->v[P_WSUN] != ((int)t.ordinal - (int)(t.wday % 7) + 6) / 7) ||
      (tp_has(p, P_WMON) &&
       p->v[P_WMON] != ((int)t.ordinal - (int)t.wday + 7) / 7))
    return 0;
  return 1;
}

/* Parsed::to_naive_date, as days since the epoch. */
static int tp_date(const tp_parsed *p, int64_t *days) {
  int64_t y, iy;
  int hy, hiy, rc;
  if ((rc = tp_year(p, P_YEAR, P_YDIV, P_YMOD, &hy, &y)) ||
      (rc = tp_year(p, P_IYEAR, P_IYDIV, P_IYMOD, &hiy, &iy)))
    return rc;
  if (hy && tp_has(p, P_MONTH) && tp_has(p, P_DAY)) {
    if (!in_range_year(y) ||
        p->v[P_DAY] > days_in_month(y, (unsigned)p->v[P_MONTH]))
      return PE_RANGE;
    *days = days_from_civil(y, (unsigned)p->v[P_MONTH], (unsigned)p->v[P_DAY]);
  } else if (hy && tp_has(p, P_ORD)) {
    if (!in_range_year(y) || p->v[P_ORD] > 365 + is_leap(y))
      return PE_RANGE;
    *days = days_from_civil(y, 1, 1) + p->v[P_ORD] - 1;
  } else if (hy && tp_has(p, P_WDAY) &&
             (tp_has(p, P_WSUN) || tp_has(p, P_WMON))) {
    int sun = tp_has(p, P_WSUN);
    int64_t j1, first, wd = p->v[P_WDAY];
    if (!in_range_year(y))
      return PE_RANGE;
    j1 = days_from_civil(y, 1, 1);
    /* days from Jan 1 to the first Sunday (Monday) */
    first =
        sun ? (7 - (int64_t)wday_of(j1)) % 7 : (8 - (int64_t)wday_of(j1)) % 7;
    *days = j1 + first + ((sun ? p->v[P_WSUN] : p->v[P_WMON]) - 1) * 7 +
            (sun ? wd % 7 : wd - 1);
    {
      int64_t yy;
      unsigned mm, dd;
      civil_from_days(*days, &yy, &mm, &dd);
      if (yy != y)
        return PE_RANGE;
    }
  } else if (hiy && tp_has(p, P_IWEEK) && tp_has(p, P_WDAY)) {
    int64_t j4;
    if (!in_range_year(iy) || p->v[P_IWEEK] > iso_weeks_in(iy))
      return PE_RANGE;
    j4 = days_from_civil(iy, 1, 4);
    *days =
        j4 - (wday_of(j4) - 1) + (p->v[P_IWEEK] - 1) * 7 + (p->v[P_WDAY] - 1);
    {
      int64_t yy;
      unsigned mm, dd;
      civil_from_days(*days, &yy, &mm, &dd);
      if (!in_range_year(yy))
        return PE_RANGE;
    }
  } else {
    return PE_NOT_ENOUGH;
  }
  return tp_verify(p, *days) ? PE_OK : PE_IMPOSSIBLE;
}

/* Parsed::to_naive_time, as seconds of the day ('leap' for second 60). */
static int tp_time(const tp_parsed *p, int64_t *secs, int *leap) {
  int64_t sec = 0;
  if (!tp_has(p, P_HDIV) || !tp_has(p, P_HMOD) || !tp_has(p, P_MIN))
    return PE_NOT_ENOUGH;
  if (tp_has(p, P_SEC))
    sec = p->v[P_SEC];
  else if (tp_has(p, P_NANO))
    return PE_NOT_ENOUGH;
  *leap = sec == 60;
  if (sec == 60)
    sec = 59;
  *secs = (p->v[P_HDIV] * 12 + p->v[P_HMOD]) * 3600 + p->v[P_MIN] * 60 + sec;
  return PE_OK;
}

/* NaiveDateTime::parse_from_str(s, fmt) then .and_utc().timestamp(). */
static int tp_parse(const gv_str *in, const gv_str *fmt, int64_t *ts) {
  tp_parsed p;
  int64_t days, secs;
  int rd, rt, leap = 0, rc;
  memset(&p, 0, sizeof p);
  if ((rc = tp_scan(&p, in, fmt)))
    return rc;
  rd = tp_date(&p, &days);
  rt = tp_time(&p, &secs, &leap);
  if (!rd && !rt) {
    *ts = days * 86400 + secs;
    if (tp_has(&p, P_TS) && p.v[P_TS] != *ts && !(leap && p.v[P_TS] == *ts + 1))
      return PE_IMPOSSIBLE;
    return PE_OK;
  }
  if (tp_has(&p, P_TS)) {
    tm_utc t;
    if (rd == PE_RANGE || rt == PE_RANGE)
      return PE_RANGE;
    if (rd == PE_IMPOSSIBLE || rt == PE_IMPOSSIBLE)
      return PE_IMPOSSIBLE;
    if (tm_from_ts(p.v[P_TS], &t))
      return PE_RANGE;
    if ((rc = tp_set_num(&p, N_YEAR, t.year)) ||
        (rc = tp_set_num(&p, N_ORD, t.ordinal)) ||
        (rc = tp_set_num(&p, N_HOUR, t.hour)) ||
        (rc = tp_set_num(&p, N_MIN, t.min)) ||
        (rc = tp_set_num(&p, N_SEC, t.sec)) || (rc = tp_date(&p, &days)) ||
        (rc = tp_time(&p, &secs, &leap)))
      return rc;
    *ts = days * 86400 + secs;
    return PE_OK;
  }
  return rd ? rd : rt;
}

int gavel__bi_now(gv_rt *rt, gvalue *out, const gvalue *args, int nargs) {
  struct timespec ts;
  (void)rt, (void)args, (void)nargs;
  clock_gettime(CLOCK_REALTIME, &ts);
  *out = gv_int((int64_t)ts.tv_sec);
  return 0;
}

int gavel__bi_now_millis(gv_rt *rt, gvalue *out, const gvalue *args,
                         int nargs) {
  struct timespec ts;
  (void)rt, (void)args, (void)nargs;
  clock_gettime(CLOCK_REALTIME, &ts);
  *out = gv_int((int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
  return 0;
}

int gavel__bi_parse_time(gv_rt *rt, gvalue *out, const gvalue *args,
                         int nargs) {
  const gv_str *s, *fmt;
  int64_t ts;
  int rc;
  (void)nargs;
  if (arg_str(rt, args[0], &s) || arg_str(rt, args[1], &fmt) ||
      charge(rt, s->len + fmt->len))
    return 1;
  if ((rc = tp_parse(s, fmt, &ts)))
    return eval_err(rt, "parse_time: %s", PE_TEXT[rc]);
  *out = gv_int(ts);
  return 0;
}

int gavel__bi_format_time(gv_rt *rt, gvalue *out, const gvalue *args,
                          int nargs) {
  const gv_str *fmt;
  int64_t ts;
  tm_utc t;
  gv_buf b;
  (void)nargs;
  if (arg_int(rt, args[0], &ts) || arg_str(rt, args[1], &fmt) ||
      charge(rt, fmt->len * 4))
    return 1;
  if (tm_from_ts(ts, &t))
    return eval_err(rt, "format_time: invalid timestamp");
  buf_open(rt, &b);
  if (tf_format(&b, &t, fmt->s, fmt->len)) {
    char m[GAVEL_ERRMSG_SIZE];
    gavel__buf_free(&b);
    return eval_err(rt, "format_time: invalid format string '%s'",
                    MSG_STR(m, fmt));
  }
  return ret_buf(rt, out, "format_time", &b);
}

/* Seconds per unit name, or 0 when unknown. */
static int64_t time_unit(const gv_str *u) {
  static const struct {
    const char *name;
    int64_t secs;
  } units[] = {{"seconds", 1},  {"s", 1},    {"minutes", 60}, {"m", 60},
               {"hours", 3600}, {"h", 3600}, {"days", 86400}, {"d", 86400}};
  size_t k;
  for (k = 0; k < sizeof units / sizeof units[0]; k++)
    if (gavel__str_eqn(u, units[k].name, strlen(units[k].name)))
      return units[k].secs;
  return 0;
}

int gavel__bi_time_diff(gv_rt *rt, gvalue *out, const gvalue *args, int nargs) {
  int64_t t1, t2, diff, unit;
  const gv_str *u;
  (void)nargs;
  if (arg_int(rt, args[0], &t1) || arg_int(rt, args[1], &t2) ||
      arg_str(rt, args[2], &u))
    return 1;
  if (__builtin_sub_overflow(t1, t2, &diff))
    return eval_err(rt, "Integer overflow in time_diff()");
  if (!(unit = time_unit(u))) {
    char m[GAVEL_ERRMSG_SIZE];
    return eval_err(rt, "time_diff: unknown unit '%s'", MSG_STR(m, u));
  }
  *out = gv_int(diff / unit);
  return 0;
}

int gavel__bi_date_add(gv_rt *rt, gvalue *out, const gvalue *args, int nargs) {
  int64_t ts, n, unit, secs, r;
  const gv_str *u;
  (void)nargs;
  if (arg_int(rt, args[0], &ts) || arg_int(rt, args[1], &n) ||
      arg_str(rt, args[2], &u))
    return 1;
  if (!(unit = time_unit(u))) {
    char m[GAVEL_ERRMSG_SIZE];
    return eval_err(rt, "date_add: unknown unit '%s'", MSG_STR(m, u));
  }
  if (__builtin_mul_overflow(n, unit, &secs) ||
      __builtin_add_overflow(ts, secs, &r))
    return eval_err(rt, "Integer overflow in date_add()");
  *out = gv_int(r);
  return 0;
}

int gavel__bi_time_of_day(gv_rt *rt, gvalue *out, const gvalue *args,
                          int nargs) {
  int64_t ts;
  tm_utc t;
  char s[16];
  (void)nargs;
  if (arg_int(rt, args[0], &ts))
    return 1;
  if (tm_from_ts(ts, &t))
    return eval_err(rt, "time_of_day: invalid timestamp");
  snprintf(s, sizeof s, "%02u:%02u:%02u", t.hour, t.min, t.sec);
  return ret_str(rt, out, "time_of_day", s, 8);
}

int gavel__bi_day_of_week(gv_rt *rt, gvalue *out, const gvalue *args,
                          int nargs) {
  int64_t ts;
  tm_utc t;
  (void)nargs;
  if (arg_int(rt, args[0], &ts))
    return 1;
  if (tm_from_ts(ts, &t))
    return eval_err(rt, "day_of_week: invalid timestamp");
  *out = gv_int(t.wday);
  return 0;
}
