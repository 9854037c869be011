/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Bounds-checked FUSE message access (see fmsg.h). The request copy is
 * read only through fmsg_get*(), which never read past the copy; guest
 * iovecs are walked with overflow-checked arithmetic. Replies are written
 * whole or not at all: a body that does not fit the writable buffers is
 * replaced by an EIO error reply, so the guest never sees partial bytes
 * from us. This is the reply half of DESIGN 3 step 4 ("write the reply").
 */
#include <errno.h>
#include <linux/fuse.h>
#include <string.h>

#include "fmsg.h"

void
fmsg_in_init(struct fmsg_in *c, const void *buf, size_t len)
{
	c->buf = buf;
	c->len = buf != NULL ? len : 0;
	c->pos = 0;
}

size_t
fmsg_left(const struct fmsg_in *c)
{
	return c->len - c->pos;
}

int
fmsg_get(struct fmsg_in *c, void *dst, size_t n)
{
	if (n > fmsg_left(c))
		return -EINVAL;
	if (n > 0)
		memcpy(dst, c->buf + c->pos, n);
	c->pos += n;
	return 0;
}

int
fmsg_get_compat(struct fmsg_in *c, void *dst, size_t min, size_t n)
{
	size_t have = fmsg_left(c);

	if (have < min)
		return -EINVAL;
	if (have > n)
		have = n;
	if (have > 0)
		memcpy(dst, c->buf + c->pos, have);
	memset((uint8_t *)dst + have, 0, n - have);
	c->pos += have;
	return 0;
}

int
fmsg_get_str(struct fmsg_in *c, const char **ret, size_t *ret_len)
{
	const uint8_t *p = c->buf + c->pos;
	const uint8_t *nul;
	size_t left = fmsg_left(c);

	if (left == 0)
		return -EINVAL;
	nul = memchr(p, '\0', left);
	if (nul == NULL)
		return -EINVAL;
	*ret = (const char *)p;
	if (ret_len)
		*ret_len = (size_t)(nul - p);
	c->pos += (size_t)(nul - p) + 1;
	return 0;
}

size_t
fmsg_iov_total(const struct iovec *iov, unsigned cnt)
{
	size_t t = 0;

	for (unsigned i = 0; i < cnt; i++) {
		if (iov[i].iov_len > SIZE_MAX - t)
			return SIZE_MAX;
		t += iov[i].iov_len;
	}
	return t;
}

int
fmsg_iov_range(const struct iovec *iov, unsigned cnt, size_t off, size_t len,
    struct iovec *dst, unsigned dst_max, unsigned *ret_cnt)
{
	unsigned n = 0, i = 0;

	/* Skip whole buffers before off. */
	while (i < cnt && off >= iov[i].iov_len) {
		off -= iov[i].iov_len;
		i++;
	}
	while (len > 0) {
		size_t take;

		if (i >= cnt)
			return -EINVAL;
		take = iov[i].iov_len - off;
		if (take > len)
			take = len;
		if (take > 0) {
			if (n >= dst_max)
				return -E2BIG;
			dst[n].iov_base = (uint8_t *)iov[i].iov_base + off;
			dst[n].iov_len = take;
			n++;
			len -= take;
		}
		off = 0;
		i++;
	}
	*ret_cnt = n;
	return 0;
}

int
fmsg_iov_copy(void *dst, const struct iovec *iov, unsigned cnt, size_t off,
    size_t len)
{
	uint8_t *d = dst;
	unsigned i = 0;

	while (i < cnt && off >= iov[i].iov_len) {
		off -= iov[i].iov_len;
		i++;
	}
	while (len > 0) {
		size_t take;

		if (i >= cnt)
			return -EINVAL;
		take = iov[i].iov_len - off;
		if (take > len)
			take = len;
		memcpy(d, (const uint8_t *)iov[i].iov_base + off, take);
		d += take;
		len -= take;
		off = 0;
		i++;
	}
	return 0;
}

/* Writes len bytes at byte offset off of out; the caller checked bounds. */
static void
put(const struct iovec *out, unsigned cnt, size_t off, const void *src,
    size_t len)
{
	const uint8_t *s = src;
	unsigned i = 0;

	while (i < cnt && off >= out[i].iov_len) {
		off -= out[i].iov_len;
		i++;
	}
	while (len > 0 && i < cnt) {
		size_t take = out[i].iov_len - off;

		if (take > len)
			take = len;
		memcpy((uint8_t *)out[i].iov_base + off, s, take);
		s += take;
		len -= take;
		off = 0;
		i++;
	}
}

static size_t
put_hdr(const struct iovec *out, unsigned cnt, uint64_t unique, int err,
    size_t len)
{
	struct fuse_out_header oh;

	memset(&oh, 0, sizeof(oh));
	oh.len = (uint32_t)len;
	oh.error = err;
	oh.unique = unique;
	put(out, cnt, 0, &oh, sizeof(oh));
	return len;
}

size_t
fmsg_reply_err(const struct iovec *out, unsigned cnt, uint64_t unique, int err)
{
	if (fmsg_iov_total(out, cnt) < sizeof(struct fuse_out_header))
		return 0;
	if (err > 0 || err < -4095)
		err = -EIO;
	return put_hdr(out, cnt, unique, err, sizeof(struct fuse_out_header));
}

size_t
fmsg_reply(const struct iovec *out, unsigned cnt, uint64_t unique,
    const struct iovec *parts, unsigned nparts)
{
	size_t total = fmsg_iov_total(out, cnt);
	size_t len = sizeof(struct fuse_out_header);
	size_t off;

	for (unsigned i = 0; i < nparts; i++) {
		if (parts[i].iov_len > UINT32_MAX - len)
			return fmsg_reply_err(out, cnt, unique, -EIO);
		len += parts[i].iov_len;
	}
	if (len > total)
		return fmsg_reply_err(out, cnt, unique, -EIO);
	off = sizeof(struct fuse_out_header);
	for (unsigned i = 0; i < nparts; i++) {
		put(out, cnt, off, parts[i].iov_base, parts[i].iov_len);
		off += parts[i].iov_len;
	}
	return put_hdr(out, cnt, unique, 0, len);
}

size_t
fmsg_reply_one(const struct iovec *out, unsigned cnt, uint64_t unique,
    const void *body, size_t len)
{
	struct iovec part = {.iov_base = (void *)(uintptr_t)body,
	    .iov_len = len};

	return fmsg_reply(out, cnt, unique, &part, len > 0 ? 1 : 0);
}

size_t
fmsg_reply_hdr(const struct iovec *out, unsigned cnt, uint64_t unique,
    size_t data_len)
{
	size_t total = fmsg_iov_total(out, cnt);
	size_t hl = sizeof(struct fuse_out_header);

	if (total < hl || data_len > total - hl || data_len > UINT32_MAX - hl)
		return fmsg_reply_err(out, cnt, unique, -EIO);
	return put_hdr(out, cnt, unique, 0, hl + data_len);
}

int
fmsg_out_data(const struct iovec *out, unsigned cnt, size_t want,
    struct iovec *dst, unsigned dst_max, unsigned *ret_cnt, size_t *ret_len)
{
	size_t total = fmsg_iov_total(out, cnt);
	size_t hl = sizeof(struct fuse_out_header);
	int err;

	if (total < hl || total == SIZE_MAX)
		return -EINVAL;
	if (want > total - hl)
		want = total - hl;
	err = fmsg_iov_range(out, cnt, hl, want, dst, dst_max, ret_cnt);
	if (err < 0)
		return err;
	*ret_len = want;
	return 0;
}
