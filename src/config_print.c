/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What the daemon prints about itself instead of running: the
 * --print-capabilities JSON libvirt reads, the --help text, and
 * config_print()'s "name value" dump of a parsed configuration (debug
 * logs and the golden tests in tests/config/). Everything goes to the
 * stream the caller names or stdout; nothing here parses.
 */
#include <stdio.h>

#include "config_int.h"

/*
 * The vhost-user backend capabilities (QEMU docs/interop/vhost-user.json,
 * VHostUserBackendCapabilitiesFS). Two fs features exist:
 *  - "separate-options": libvirt then passes --shared-dir, --cache,
 *    --sandbox, --xattr, --log-level, --uid-map... as separate options
 *    instead of one "-o source=...,..." string. We accept both, so we
 *    claim it: it is also the only form that gives --log-level and the id
 *    maps an unprivileged libvirt needs.
 *  - "migrate-precopy": libvirt then allows migrating the VM with the
 *    device. phoenixfsd implements no vhost-user device state transfer
 *    (SET_DEVICE_STATE_FD / CHECK_DEVICE_STATE), so it is not claimed.
 * Claims must be true (STYLE.md 2.4): print nothing we do not do.
 */
void
config_print_capabilities(void)
{
	fputs("{\n"
	      "  \"type\": \"fs\",\n"
	      "  \"features\": [\n"
	      "    \"separate-options\"\n"
	      "  ]\n"
	      "}\n",
	    stdout);
}

void
config_print_help(void)
{
	fputs(
	    "Usage: phoenixfsd --shared-dir DIR (--socket-path PATH | --fd N) "
	    "[OPTIONS]\n"
	    "       phoenixfsd -o source=DIR[,OPTION...] --socket-path=PATH "
	    "[OPTIONS]\n"
	    "\n"
	    "A virtio-fs vhost-user backend that survives its own crashes and "
	    "upgrades.\n"
	    "\n"
	    "  --shared-dir DIR             directory to share with the guest\n"
	    "  --socket-path PATH           vhost-user socket to create and "
	    "listen on\n"
	    "  --fd N                       inherited listening socket "
	    "instead\n"
	    "  --socket-group GROUP         group owning the socket (mode "
	    "0660)\n"
	    "  --tag TAG                    tag the device advertises "
	    "(VHOST_USER CONFIG)\n"
	    "  --cache MODE                 auto, always, metadata or never "
	    "[auto]\n"
	    "  --sandbox MODE               namespace, chroot or none "
	    "[namespace]\n"
	    "  --seccomp ACTION             kill, log, trap or none [kill]\n"
	    "  --inode-file-handles MODE    never, prefer or mandatory "
	    "[never]\n"
	    "  --thread-pool-size N         request threads, 0 = none [0]\n"
	    "  --log-level LEVEL            error, warn, info or debug [info]\n"
	    "  --syslog                     log to syslog instead of stderr\n"
	    "  --readonly                   refuse every change to the shared "
	    "tree\n"
	    "  --announce-submounts         tell the guest about submounts "
	    "[default]\n"
	    "  --no-announce-submounts      do not\n"
	    "  --xattr, --no-xattr          extended attributes [off]\n"
	    "  --xattrmap RULES             translate xattr names (implies "
	    "--xattr)\n"
	    "  --posix-acl                  POSIX ACLs (implies --xattr)\n"
	    "  --security-label             security labels (implies --xattr)\n"
	    "  --writeback                  writeback cache in the guest\n"
	    "  --allow-direct-io            honour OPT_DIRECT from the guest\n"
	    "  --allow-mmap                 allow shared mmap with "
	    "cache=never|metadata\n"
	    "  --no-readdirplus             disable READDIRPLUS\n"
	    "  --killpriv-v2                enable FUSE_HANDLE_KILLPRIV_V2\n"
	    "  --preserve-noatime           keep OPT_NOATIME from the guest\n"
	    "  --translate-uid MAP          TYPE:FROM:TO:COUNT, repeatable\n"
	    "  --translate-gid MAP          same for group ids\n"
	    "  --uid-map :NS:HOST:COUNT:    user namespace uid map, "
	    "repeatable\n"
	    "  --gid-map :NS:HOST:COUNT:    user namespace gid map, "
	    "repeatable\n"
	    "  --modcaps +CAP:-CAP          change the capability set\n"
	    "  --rlimit-nofile N            RLIMIT_NOFILE to set, 0 = default\n"
	    "  --pid-file PATH              write the daemon's pid to PATH\n"
	    "  --queues N                   request queues, 1 to 8 [1]\n"
	    "  --max-inodes N               inode table capacity [1048576]\n"
	    "  --max-handles N              open handle capacity [65536]\n"
	    "  --max-fds N                  fds the inode and handle tables "
	    "hold, 0 = from\n"
	    "                               RLIMIT_NOFILE [0]\n"
	    "  --watchdog-ms N              stuck worker timeout, 0 = off "
	    "[5000]\n"
	    "  --quarantine-crashes N       crashes before a request is "
	    "refused [3]\n"
	    "  --degrade-after N            crashes before degraded service "
	    "[5]\n"
	    "  --no-journal                 no crash journal (benchmarks "
	    "only)\n"
	    "  --poll-max-us N              longest spin for the next request, "
	    "0 = never [200]\n"
	    "  --print-capabilities         print the vhost-user JSON and "
	    "exit\n"
	    "  -o OPT[,OPT...]              QEMU C virtiofsd options (source=, "
	    "cache=...)\n"
	    "  -d, --debug                  same as --log-level debug\n"
	    "  -f                           foreground (always; accepted)\n"
	    "  -V, --version                print the version and exit\n"
	    "  -h, --help                   print this help and exit\n"
	    "\n"
	    "Operator commands, on a running daemon (PATH: its --pid-file; "
	    "--status also\n"
	    "takes the pid file libvirt writes for it):\n"
	    "  phoenixfsd --status [--json] --pid-file PATH\n"
	    "        uptime, worker incarnation, crashes by cause, recoveries "
	    "and stalls,\n"
	    "        replayed and quarantined requests, degraded mode, "
	    "upgrades, inodes,\n"
	    "        handles, fds and region in use, requests and latency per "
	    "opcode;\n"
	    "        read only from the state region, answers even while the "
	    "worker is\n"
	    "        dead, stopped or crash-looping\n"
	    "  phoenixfsd --upgrade NEWBINARY --pid-file PATH\n"
	    "        live upgrade: the daemon re-executes NEWBINARY (refused if "
	    "it cannot\n"
	    "        read the state layout); the guest sees a short stall, no "
	    "error\n"
	    "  kill -TERM $(cat PATH)\n"
	    "        clean stop: the worker, the socket and the pid file go\n"
	    "Examples:\n"
	    "  phoenixfsd --status --pid-file /run/vm1-fs.pid\n"
	    "  phoenixfsd --status --json --pid-file "
	    "/run/libvirt/qemu/1-vm1-fs0-virtiofsd.pid\n"
	    "  phoenixfsd --upgrade /usr/libexec/phoenixfsd.new --pid-file "
	    "/run/vm1-fs.pid\n"
	    "\n"
	    "See phoenixfsd(1).\n",
	    stdout);
}

#define CHOICE(opt, v) config_opt_choice_name(opt, (int)(v))
#define STR(s)         ((s)[0] != '\0' ? (s) : "-")

void
config_print(const struct config *cfg, FILE *f)
{
	static const char *const actions[] = {"run", "print-capabilities",
	    "version", "help"};

	fprintf(f, "action %s\n", actions[cfg->action]);
	fprintf(f, "socket_path %s\nsocket_fd %d\nsocket_group %s\n",
	    STR(cfg->socket_path), cfg->socket_fd, STR(cfg->socket_group));
	fprintf(f, "shared_dir %s\ntag %s\n", STR(cfg->shared_dir),
	    STR(cfg->tag));
	fprintf(f, "cache %s\nsandbox %s\nseccomp %s\n",
	    CHOICE("cache", cfg->cache), CHOICE("sandbox", cfg->sandbox),
	    CHOICE("seccomp", cfg->seccomp));
	fprintf(f, "inode_file_handles %s\nlog_level %s\n",
	    CHOICE("inode-file-handles", cfg->inode_file_handles),
	    CHOICE("log-level", cfg->log_level));
	fprintf(f, "thread_pool_size %u\nqueues %u\nrlimit_nofile %llu\n",
	    cfg->thread_pool_size, cfg->num_request_queues,
	    (unsigned long long)cfg->rlimit_nofile);
	fprintf(f, "syslog %d\nreadonly %d\nannounce_submounts %d\n",
	    cfg->use_syslog, cfg->readonly, cfg->announce_submounts);
	fprintf(f, "xattr %d\nposix_acl %d\nsecurity_label %d\n", cfg->xattr,
	    cfg->posix_acl, cfg->security_label);
	fprintf(f, "writeback %d\nallow_direct_io %d\nallow_mmap %d\n",
	    cfg->writeback, cfg->allow_direct_io, cfg->allow_mmap);
	fprintf(f, "readdirplus %d\nkillpriv_v2 %d\npreserve_noatime %d\n",
	    cfg->readdirplus, cfg->killpriv_v2, cfg->preserve_noatime);
	fprintf(f, "no_posix_lock %d\nno_flock %d\n", cfg->no_posix_lock,
	    cfg->no_flock);
	fprintf(f, "xattrmap %s\nmodcaps %s\n", STR(cfg->xattrmap),
	    STR(cfg->modcaps));
	fprintf(f, "translate_uid %s\ntranslate_gid %s\n",
	    STR(cfg->translate_uid), STR(cfg->translate_gid));
	fprintf(f, "uid_map %s\ngid_map %s\npid_file %s\n", STR(cfg->uid_map),
	    STR(cfg->gid_map), STR(cfg->pid_file));
	fprintf(f, "max_inodes %u\nmax_handles %u\nmax_fds %u\nwatchdog_ms %u\n",
	    cfg->max_inodes, cfg->max_handles, cfg->max_fds, cfg->watchdog_ms);
	fprintf(f, "quarantine_crashes %u\ndegrade_after %u\njournal %d\n",
	    cfg->quarantine_crashes, cfg->degrade_after, cfg->journal);
	fprintf(f, "poll_max_us %u\n", cfg->poll_max_us);
}
