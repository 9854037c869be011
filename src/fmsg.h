/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * FUSE message access: a bounds-checked read cursor over the request copy
 * (the journal slot), sub-ranges and copies of the live guest iovecs (WRITE
 * payloads, SETXATTR values beyond the copy, READ destinations), and a
 * reply builder that writes fuse_out_header plus body parts into the
 * writable iovecs. Knows no virtqueues and no descriptors: iovecs are plain
 * memory here. fmsg_get*() is the one place guest argument bytes are read.
 * No state, no locks: safe from any thread.
 */
#ifndef PHX_FMSG_H
#define PHX_FMSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

/* Largest iovec array a sub-range may need (IOV_MAX on Linux). */
#define FMSG_IOV_MAX 1024

/* Read cursor over a request copy. */
struct fmsg_in {
	const uint8_t *buf;
	size_t len;
	size_t pos;
};

/* Starts a cursor over len bytes at buf. */
void fmsg_in_init(struct fmsg_in *c, const void *buf, size_t len);
/* Bytes left after the cursor. */
size_t fmsg_left(const struct fmsg_in *c);
/*
 * Copies the next n bytes into dst and advances. -EINVAL if fewer than n
 * remain (dst and the cursor are then unchanged).
 */
int fmsg_get(struct fmsg_in *c, void *dst, size_t n);
/*
 * For argument structs that grew over protocol versions: copies
 * min(n, left) bytes into dst and zero-fills the rest of the n bytes.
 * -EINVAL if fewer than min remain.
 */
int fmsg_get_compat(struct fmsg_in *c, void *dst, size_t min, size_t n);
/*
 * Returns a NUL-terminated string at the cursor (a pointer into the copy)
 * and its length without the NUL, and advances past the NUL. -EINVAL if no
 * NUL occurs before the end.
 */
int fmsg_get_str(struct fmsg_in *c, const char **ret, size_t *ret_len);

/* Sum of the iovec lengths; SIZE_MAX on overflow. */
size_t fmsg_iov_total(const struct iovec *iov, unsigned cnt);
/*
 * Fills dst[0..*ret_cnt) with the byte range [off, off + len) of iov.
 * -EINVAL if iov holds fewer than off + len bytes, -E2BIG if more than
 * dst_max entries are needed. A zero len gives zero entries.
 */
int fmsg_iov_range(const struct iovec *iov, unsigned cnt, size_t off,
    size_t len, struct iovec *dst, unsigned dst_max, unsigned *ret_cnt);
/* Copies [off, off + len) of iov into dst. -EINVAL if out of range. */
int fmsg_iov_copy(void *dst, const struct iovec *iov, unsigned cnt, size_t off,
    size_t len);

/*
 * Reply builder. Each writes a complete reply into the writable iovecs
 * and returns its length (the value fdispatch_handle returns), or 0 when
 * not even an error reply fits.
 *
 * fmsg_reply: header (error 0) + the nparts body parts. A body that does
 * not fit gets an EIO error reply instead (never a partial one); the
 * caller zero-fills its structs, this adds no padding of its own.
 */
size_t fmsg_reply(const struct iovec *out, unsigned cnt, uint64_t unique,
    const struct iovec *parts, unsigned nparts);
/* One body part: header + body (len may be 0). */
size_t fmsg_reply_one(const struct iovec *out, unsigned cnt, uint64_t unique,
    const void *body, size_t len);
/* Error reply: header only, error = err (negative errno). */
size_t fmsg_reply_err(const struct iovec *out, unsigned cnt, uint64_t unique,
    int err);
/*
 * Header only, for a body already placed after it (zero-copy READ):
 * len = sizeof(fuse_out_header) + data_len. EIO reply if it does not fit.
 */
size_t fmsg_reply_hdr(const struct iovec *out, unsigned cnt, uint64_t unique,
    size_t data_len);
/*
 * The destination for a zero-copy READ: the range of at most want bytes
 * right after the reply header. *ret_len is the usable length (clamped to
 * the buffer). -EINVAL if the buffer cannot even hold the header.
 */
int fmsg_out_data(const struct iovec *out, unsigned cnt, size_t want,
    struct iovec *dst, unsigned dst_max, unsigned *ret_cnt, size_t *ret_len);

#endif
