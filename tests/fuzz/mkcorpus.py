#!/usr/bin/env python3
# Writes the seed corpora of the fuzz targets (tests/fuzz/corpus/<target>/)
# in the input formats their sources describe (the files named by a sha1
# beside them are fuzzer-grown inputs kept by -merge=1; drop them when a
# format changes). Re-run after a format change:
#   python3 tests/fuzz/mkcorpus.py
import os
import struct

here = os.path.dirname(os.path.abspath(__file__))


def save(target, name, data):
    d = os.path.join(here, 'corpus', target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), 'wb') as f:
        f.write(data)


# ---- fuzz_vu_msg: hdr(12) + fd count/memfd size + fd kinds + payload ----
def vmsg(req, payload=b'', nfds=0, memfd_mask=0, shift=8, flags=0x1):
    return (struct.pack('<III', req, flags, len(payload)) +
            bytes([nfds | shift << 4, memfd_mask]) + payload)


GET_FEATURES, SET_FEATURES, SET_OWNER, RESET_OWNER, SET_MEM_TABLE = 1, 2, 3, 4, 5
SET_VRING_NUM, SET_VRING_ADDR, SET_VRING_BASE, GET_VRING_BASE = 8, 9, 10, 11
SET_VRING_KICK, SET_VRING_CALL, SET_VRING_ERR = 12, 13, 14
GET_PROTOCOL_FEATURES, SET_PROTOCOL_FEATURES, GET_QUEUE_NUM = 15, 16, 17
SET_VRING_ENABLE, RESET_DEVICE, GET_MAX_MEM_SLOTS = 18, 34, 36
ADD_MEM_REG, REM_MEM_REG = 37, 38
NEED_REPLY = 0x1 | 1 << 3
UADDR = 0x7f0000000000
FEATURES = 1 << 32 | 1 << 28 | 1 << 29 | 1 << 30
PROTO = 1 << 0 | 1 << 3 | 1 << 13 | 1 << 15


def memreg(gpa, size, uaddr, off):
    return struct.pack('<QQQQ', gpa, size, uaddr, off)


def vring_setup(q, num=256):
    desc = UADDR + 0x1000 * (1 + 8 * q)
    avail = desc + 16 * num
    used = (avail + 6 + 2 * num + 3) & ~3
    return [
        vmsg(SET_VRING_NUM, struct.pack('<II', q, num), flags=NEED_REPLY),
        vmsg(SET_VRING_ADDR, struct.pack('<IIQQQQ', q, 0, desc, used, avail, 0),
             flags=NEED_REPLY),
        vmsg(SET_VRING_BASE, struct.pack('<II', q, 0)),
        vmsg(SET_VRING_CALL, struct.pack('<Q', q), nfds=1),
        vmsg(SET_VRING_ERR, struct.pack('<Q', q | 0x100)),
        vmsg(SET_VRING_KICK, struct.pack('<Q', q), nfds=1),
        vmsg(SET_VRING_ENABLE, struct.pack('<II', q, 1)),
    ]


negotiate = [
    vmsg(GET_FEATURES), vmsg(SET_FEATURES, struct.pack('<Q', FEATURES)),
    vmsg(GET_PROTOCOL_FEATURES),
    vmsg(SET_PROTOCOL_FEATURES, struct.pack('<Q', PROTO)),
    vmsg(SET_OWNER), vmsg(GET_QUEUE_NUM), vmsg(GET_MAX_MEM_SLOTS),
]
table1 = vmsg(SET_MEM_TABLE, struct.pack('<II', 1, 0) +
              memreg(0, 0x100000, UADDR, 0), nfds=1, memfd_mask=1)
table2 = vmsg(SET_MEM_TABLE, struct.pack('<II', 2, 0) +
              memreg(0, 0x80000, UADDR, 0) +
              memreg(0x100000, 0x80000, UADDR + 0x80000, 0x80000),
              nfds=2, memfd_mask=3)
save('fuzz_vu_msg', 'negotiate', b''.join(negotiate))
save('fuzz_vu_msg', 'start-queue', b''.join(negotiate[:4] + [table1] +
                                            vring_setup(1)))
save('fuzz_vu_msg', 'start-stop', b''.join(
    [negotiate[3], table2] + vring_setup(0, 64) +
    [vmsg(GET_VRING_BASE, struct.pack('<II', 0, 0)), vmsg(RESET_DEVICE)]))
save('fuzz_vu_msg', 'mem-slots', b''.join([
    negotiate[3],
    vmsg(ADD_MEM_REG, struct.pack('<Q', 0) + memreg(0, 0x10000, UADDR, 0),
         nfds=1, memfd_mask=1, shift=4),
    vmsg(ADD_MEM_REG, struct.pack('<Q', 0) +
         memreg(0x20000, 0x10000, UADDR + 0x20000, 0), nfds=1, memfd_mask=1,
         shift=4),
    vmsg(REM_MEM_REG, struct.pack('<Q', 0) + memreg(0, 0x10000, UADDR, 0)),
    table1, vmsg(RESET_OWNER)]))
save('fuzz_vu_msg', 'bad', b''.join([
    vmsg(SET_FEATURES, struct.pack('<Q', 1 << 63), flags=NEED_REPLY),
    vmsg(SET_MEM_TABLE, struct.pack('<II', 9, 0), nfds=1),
    vmsg(SET_VRING_NUM, struct.pack('<II', 200, 3)),
    vmsg(99, b'xx'), vmsg(GET_VRING_BASE, b'1234'),
    vmsg(SET_VRING_KICK, struct.pack('<Q', 1), nfds=9)]))

# ---- fuzz_vring: 8 control bytes + the bytes of region A ---------------
GPA_A = 0x10000
A_SIZE = 0x10000
NEXT, WRITE, INDIRECT = 1, 2, 4


def ring(log2num, flags, descs, heads, last=0, used=0, iovmax=0, pubcount=0,
         extra=()):
    num = 1 << log2num
    mem = bytearray(0x9000)
    for i, (addr, ln, fl, nx) in enumerate(descs):
        struct.pack_into('<QIHH', mem, 16 * i, addr, ln, fl, nx)
    avail = 16 * num
    struct.pack_into('<HH', mem, avail, 0, (last + len(heads)) & 0xffff)
    for i, h in enumerate(heads):
        struct.pack_into('<H', mem, avail + 4 + 2 * ((last + i) % num), h)
    for off, data in extra:
        mem[off:off + len(data)] = data
    ctl = bytes([log2num, flags]) + struct.pack('<HH', last, used) + \
        bytes([iovmax, pubcount])
    return ctl + bytes(mem)


BUF = GPA_A + 0x8000
save('fuzz_vring', 'simple', ring(3, 0x07, [
    (BUF, 40, NEXT, 1), (BUF + 0x100, 100, NEXT, 2), (BUF + 0x200, 200, WRITE, 0)],
    [0]))
save('fuzz_vring', 'two-chains', ring(4, 0x15, [
    (BUF, 48, NEXT, 1), (BUF + 0x400, 4096, WRITE, 0),
    (BUF + 0x100, 64, 0, 0)], [0, 2], last=0xfffe, used=0xfffe))
ind = b''.join(struct.pack('<QIHH', *d) for d in [
    (BUF, 40, NEXT, 1), (BUF + 0x100, 300, WRITE | NEXT, 2),
    (BUF + 0x300, 300, WRITE, 0)])
save('fuzz_vring', 'indirect', ring(3, 0x07, [
    (GPA_A + 0x4000, len(ind), INDIRECT, 0)], [0], extra=[(0x4000, ind)]))
save('fuzz_vring', 'cross-regions', ring(2, 0x04, [
    (GPA_A + A_SIZE - 32, 64, NEXT, 1), (0x100000, 0x1000, WRITE, 0)], [0]))
save('fuzz_vring', 'publish', ring(3, 0x0c, [(BUF, 40, 0, 0)], [0],
                                   pubcount=3))
save('fuzz_vring', 'big', ring(10, 0x07, [
    (BUF + 0x10 * i, 16, NEXT if i < 20 else WRITE, i + 1) for i in range(21)],
    [0, 5]))

# ---- fuzz_fuse_req: u16 len, u16 reply size, u8 flags, request ---------
seq = [100]


def freq(opcode, nodeid, args=b'', out=4096, flags=0):
    seq[0] += 1
    body = struct.pack('<IIQQIIIHH', 40 + len(args), opcode, seq[0], nodeid,
                       0, 0, 1, 0, 0) + args
    return struct.pack('<HHB', len(body), out, flags) + body


LOOKUP, FORGET, GETATTR, SETATTR, READLINK, SYMLINK = 1, 2, 3, 4, 5, 6
MKNOD, MKDIR, UNLINK, RMDIR, RENAME, LINK, OPEN, READ, WRITE_, STATFS = \
    8, 9, 10, 11, 12, 13, 14, 15, 16, 17
RELEASE, FSYNC, FLUSH, INIT, OPENDIR, READDIR, RELEASEDIR = \
    18, 20, 25, 26, 27, 28, 29
ACCESS, CREATE, INTERRUPT, DESTROY, BATCH_FORGET, FALLOCATE = \
    34, 35, 36, 38, 42, 43
READDIRPLUS, RENAME2, LSEEK = 44, 45, 46
N2 = 2  # the first nodeid a LOOKUP hands out after the reset
init_in = struct.pack('<IIII', 7, 38, 65536, 0x1000 | 0x2000 | 0x400000) + \
    bytes(48)
read_in = struct.pack('<QQIIQII', 1, 0, 4096, 0, 0, 0, 0)
F = 'fuzz_fuse_req'
save(F, 'init', freq(INIT, 0, init_in))
save(F, 'lookup-getattr', freq(LOOKUP, 1, b'f\0') +
     freq(GETATTR, N2, struct.pack('<IIQ', 0, 0, 0)) + freq(STATFS, 1) +
     freq(ACCESS, N2, struct.pack('<II', 4, 0)))
save(F, 'open-read', freq(LOOKUP, 1, b'f\0') +
     freq(OPEN, N2, struct.pack('<II', 0, 0)) + freq(READ, N2, read_in) +
     freq(RELEASE, N2, struct.pack('<QIIQ', 1, 0, 0, 0)))
save(F, 'readdir', freq(OPENDIR, 1, struct.pack('<II', 0, 0)) +
     freq(READDIRPLUS, 1, read_in, out=8192) + freq(READDIR, 1, read_in) +
     freq(RELEASEDIR, 1, struct.pack('<QIIQ', 1, 0, 0, 0)))
save(F, 'mkdir-rmdir', freq(MKDIR, 1, struct.pack('<II', 0o755, 0o22) + b'x\0') +
     freq(RMDIR, 1, b'x\0'))
save(F, 'create-write', freq(CREATE, 1, struct.pack('<IIII', 0o102, 0o644, 0o22, 0) +
                             b'n\0') +
     freq(WRITE_, N2, struct.pack('<QQIIQII', 1, 0, 5, 0, 0, 0, 0) + b'hello') +
     freq(FSYNC, N2, struct.pack('<QII', 1, 0, 0)) +
     freq(FLUSH, N2, struct.pack('<QIIQ', 1, 0, 0, 0)))
save(F, 'readlink', freq(LOOKUP, 1, b'l\0') + freq(READLINK, N2) +
     freq(LOOKUP, 1, b'out\0') + freq(READLINK, N2 + 1))
save(F, 'names', freq(SYMLINK, 1, b's\0f\0') +
     freq(LOOKUP, 1, b'f\0') + freq(LINK, 1, struct.pack('<Q', N2 + 1) + b'h\0') +
     freq(RENAME, 1, struct.pack('<Q', 1) + b'h\0h2\0'))
save(F, 'rename2-unlink', freq(RENAME2, 1, struct.pack('<QII', 1, 0, 0) +
                               b'e\0e2\0') + freq(UNLINK, 1, b'e2\0') +
     freq(MKNOD, 1, struct.pack('<IIII', 0o10644, 0, 0o22, 0) + b'p\0'))
save(F, 'setattr', freq(LOOKUP, 1, b'f\0') +
     freq(SETATTR, N2, struct.pack('<IIQQQQQQIIIIIIII', 1 | 8, 0, 0, 10, 0, 0, 0, 0,
                                   0, 0, 0, 0o600, 0, 0, 0, 0)))
save(F, 'lseek-fallocate', freq(LOOKUP, 1, b'f\0') +
     freq(OPEN, N2, struct.pack('<II', 2, 0)) +
     freq(LSEEK, N2, struct.pack('<QQII', 1, 10, 3, 0)) +
     freq(FALLOCATE, N2, struct.pack('<QQQII', 1, 0, 100, 0, 0)))
save(F, 'forget', freq(LOOKUP, 1, b'd\0') + freq(FORGET, N2, struct.pack('<Q', 1)) +
     freq(BATCH_FORGET, 0, struct.pack('<II', 1, 0) + struct.pack('<QQ', N2, 1)) +
     freq(INTERRUPT, 0, struct.pack('<Q', 5)))
save(F, 'destroy', freq(DESTROY, 0) + freq(INIT, 0, init_in) +
     freq(GETATTR, 1, struct.pack('<IIQ', 0, 0, 0), out=20, flags=0x04))
save(F, 'replay', freq(MKDIR, 1, struct.pack('<II', 0o755, 0o22) + b'r\0',
                       flags=0x01) +
     freq(LOOKUP, 1, b'd\0', flags=0x0a))
