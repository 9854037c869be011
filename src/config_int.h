/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Internals shared by config.c (the argv walk, the error line, the
 * digest), config_opt.c (the option tables and their setter),
 * config_value.c (value syntax), config_validate.c (host checks and
 * derived settings) and config_print.c; not for other modules. All of it
 * runs once, single-threaded, in the launcher before anything else starts,
 * and writes to stderr only through config_error().
 */
#ifndef PHX_CONFIG_INT_H
#define PHX_CONFIG_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "compiler.h"
#include "config.h"

/*
 * config.c. Writes the one error line, "phoenixfsd: <message>", to stderr
 * (a newline inside a user value becomes a space). Always returns -EINVAL,
 * for "return config_error(...)".
 */
int config_error(const char *fmt, ...) PRINTF_LIKE(1, 2);

/* ---- config_opt.c ------------------------------------------------------ */

/* One entry of an option table; opaque outside config_opt.c. */
struct config_opt;

/*
 * The long option whose name (without "--") is name[0..len), or NULL if
 * there is none. Does not report the error.
 */
const struct config_opt *config_opt_long(const char *name, size_t len);
/* Whether o takes a value ("--opt=value" or "--opt value"). */
bool config_opt_takes_value(const struct config_opt *o);
/*
 * Applies o with val (NULL for an option that takes none) to *cfg. what
 * is the option as the user spelt it, for the error line. Returns 0, or
 * -EINVAL after config_error().
 */
int config_opt_set(struct config *cfg, const struct config_opt *o,
    const char *what, const char *val);
/*
 * Applies the short option -c (h, V, d or f; -o is config_opt_legacy()'s).
 * Returns 0, or -EINVAL after config_error() naming what.
 */
int config_opt_short(struct config *cfg, char c, const char *what);
/*
 * Applies one "-o" argument: comma-separated key[=value] items of QEMU C
 * virtiofsd, a comma inside a value written ",," or "\,". Returns 0, or
 * -EINVAL after config_error() for the first bad item.
 */
int config_opt_legacy(struct config *cfg, const char *arg);
/*
 * The name of value for the long option name that takes a choice
 * ("cache", "sandbox", "seccomp", "inode-file-handles", "log-level"),
 * as config_print() writes it; "?" if there is none.
 */
const char *config_opt_choice_name(const char *name, int value);

/* ---- config_value.c ----------------------------------------------------
 * Each checker takes what (the option as the user spelt it) and val, and
 * returns 0, or -EINVAL after config_error(), unless it says otherwise.
 */

/*
 * Decimal digits only: no sign, no spaces, no hex, no trailing junk.
 * Returns 0, -EINVAL or -ERANGE, and reports nothing.
 */
int config_value_u64(const char *s, uint64_t *ret);
/* An integer from min to max into *ret. */
int config_value_range(const char *what, const char *val, uint64_t min,
    uint64_t max, uint64_t *ret);
/* The same for an unsigned field. */
int config_value_uint(const char *what, const char *val, unsigned min,
    unsigned max, unsigned *ret);
/* Copies a non-empty val that fits into dst[size]. */
int config_value_copy(const char *what, char *dst, size_t size,
    const char *val);
/* Appends one more occurrence of a repeatable option, space-separated. */
int config_value_append(const char *what, char *dst, size_t size,
    const char *val);
/* --translate-uid/-gid: "<type>:<a>:<b>:<count>" (virtiofsd's soft_idmap). */
int config_value_translate(const char *what, const char *val);
/* --uid-map/--gid-map: ":<namespace id>:<host id>:<count>:". */
int config_value_idmap(const char *what, const char *val);
/* --modcaps: "+cap:-cap:..." with names as libcap-ng spells them. */
int config_value_modcaps(const char *what, const char *val);
/* --xattrmap: the shape of the rules only; xattrmap.c builds the map. */
int config_value_xattrmap(const char *what, const char *val);

/* ---- config_validate.c -------------------------------------------------- */

/*
 * Cross-option rules and host checks for a run, then the derived settings
 * (xattr implied by --xattrmap, --posix-acl or --security-label; no
 * readdirplus with cache=never). Canonicalizes cfg->shared_dir. Returns 0,
 * or -EINVAL after config_error().
 */
int config_validate(struct config *cfg);

#endif
