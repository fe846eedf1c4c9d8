"""A private, disposable Dovecot instance for tests, the local demo and the benchmark.

Dovecot is the reference IMAP/POP3/ManageSieve server we migrate to and from locally.
Each :class:`DovecotServer` has its own config, runtime directory, state directory,
``instance_name`` and free TCP ports, so several can run side by side (tests start a few
in parallel).  Everything is written below ``base_dir`` except when the mail processes
(running as the unprivileged ``dovecot`` user) could not reach it: pytest's ``tmp_path``
sits below ``0700`` directories owned by root, and UNIX socket paths are limited to
~108 bytes.  In that case the data (mail, passwd-files, sockets) lives in a short
per-``base_dir`` directory in the system temp dir (kept across restarts so mail
survives ``stop()``/``start()``), and ``base_dir/run``, ``base_dir/mail`` and
``base_dir/users`` are symlinks into it.  ``base_dir/run/master.pid`` works either way.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import grp
import hashlib
import ipaddress
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import weakref
from pathlib import Path
from types import TracebackType

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = ["SPECIAL_USE_FOLDERS", "DovecotServer", "free_port"]

#: Folders auto-created (and subscribed) in every mailbox, with their RFC 6154 flag.
SPECIAL_USE_FOLDERS: dict[str, str] = {
    "Sent": "\\Sent",
    "Drafts": "\\Drafts",
    "Trash": "\\Trash",
    "Junk": "\\Junk",
    "Archive": "\\Archive",
}

_INTERNAL_USER = "dovecot"
_LOGIN_USER = "dovenull"
_START_TIMEOUT = 15.0
_STOP_TIMEOUT = 10.0
# Longest socket Dovecot creates below base_dir is ~25 bytes ("login/imap-urlauth-login"
# plus slack); sun_path holds 107 usable bytes.
_MAX_RUN_DIR_LEN = 75
# The debug lines let through for :meth:`DovecotServer._session_times`: those of a mail user's event
# (mail-user.c) written from the line of Dovecot 2.3.19's mail-storage-service.c that says "Effective uid=..."
# as the mail process takes a logged-in session (the filter matches the event's file and the call's line; the
# few lines after it come along), and "Command finished: LOGOUT" as an IMAP session's LOGOUT is answered.
_SESSION_START_FILTER = "source_location=mail-user.c:730 OR (event=imap_command_finished AND cmd_name=LOGOUT)"


def free_port(host: str = "127.0.0.1") -> int:
    """Return a TCP port that was free a moment ago (the kernel picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _port_open(host: str, port: int) -> bool:
    """Whether something accepts TCP connections on host:port right now."""
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def _greeting(host: str, port: int) -> bytes:
    """The first line the server sends, or b"" if it does not answer."""
    try:
        with socket.create_connection((host, port), timeout=1.0) as sock:
            sock.settimeout(1.0)
            data = b""
            while b"\n" not in data:
                chunk = sock.recv(1024)
                if not chunk:
                    break
                data += chunk
            return data
    except OSError:
        return b""


def _traversable_by_others(path: Path) -> bool:
    """Whether a non-root user can reach ``path`` (every ancestor has o+x)."""
    for part in [path, *path.parents]:
        try:
            if not part.stat().st_mode & 0o001:
                return False
        except FileNotFoundError:
            continue
    return True


def _tail(path: Path, lines: int = 40) -> str:
    """The last lines of a log file, for error messages."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return f"(no {path.name})"


def _terminate(proc: subprocess.Popen[bytes]) -> None:
    """Stop a Dovecot master: SIGTERM, then SIGKILL its whole process group."""
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=_STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=_STOP_TIMEOUT)


def _make_certificate(cert_dir: Path, names: list[str]) -> tuple[Path, Path]:
    """Create a self-signed certificate that is its own CA, for ``names``.

    One self-signed cert (CA:TRUE, keyCertSign, serverAuth, SAN, SKI/AKI) is the simplest
    thing a client can trust with ``cafile=`` and it passes OpenSSL's strict X.509 checks
    (Python 3.13's default).  Returns (cert_pem, key_pem); reused when already present.
    """
    cert_pem, key_pem = cert_dir / "cert.pem", cert_dir / "key.pem"
    if cert_pem.exists() and key_pem.exists():
        return cert_pem, key_pem
    cert_dir.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.UTC)
    sans: list[x509.GeneralName] = []
    for name in names:
        try:
            sans.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            sans.append(x509.DNSName(name))
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "mailferry test"),
            x509.NameAttribute(NameOID.COMMON_NAME, "localhost"),
        ]
    )
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(ski, critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False)
        .sign(key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    key_pem.write_bytes(
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    key_pem.chmod(0o600)
    cert_pem.write_bytes(cert.public_bytes(pem))
    return cert_pem, key_pem


class DovecotServer:
    """One private Dovecot (IMAP, IMAPS, POP3, POP3S, ManageSieve) on free local ports.

    Must run as root (Dovecot drops to ``dovenull``/``dovecot`` itself).  Use as a context
    manager, or call :meth:`start` and :meth:`stop`.
    """

    def __init__(self, base_dir: Path, *, host: str = "127.0.0.1", max_message_size: int = 0,
                 special_folders: dict[str, str] | None = None, max_user_connections: int = 100,
                 master_user: tuple[str, str] | None = None, user_quotas: bool = False,
                 session_times: bool = False, separator: str = "/", prefix: str = "",
                 pop3_uidl_format: str = "") -> None:
        self.base_dir = Path(base_dir).absolute()
        # The personal namespace as other servers have it: "." and "INBOX." (Courier, Cyrus) instead of "/" and none.
        # With "." the mail is stored as Maildir++ (folders as ".a.b" directories), as those servers keep it.
        self.separator = separator
        self.prefix = prefix
        # POP3's UIDL format ("" for Dovecot's default); "%v" gives every message of a mailbox the same UIDL.
        self.pop3_uidl_format = pop3_uidl_format
        # Each mail process (imap, pop3, managesieve) writes its own log lines, stamped to the microsecond when
        # written, and one when it takes a logged-in session: sessions open at once can be counted from the
        # server's own times (see ``_session_times``).
        self.session_times = session_times
        # (login, password) of a master user: ``user*login`` with that password logs in as ``user`` (an
        # operator's admin credential for a project of many mailboxes).
        self.master_user = master_user
        # Name → special-use flag of the auto-created folders (a localized server has other names).
        self.special_folders = dict(SPECIAL_USE_FOLDERS if special_folders is None else special_folders)
        # Above this size APPEND is refused (quota plugin), as real providers refuse big mail.
        self.max_message_size = max_message_size
        # The quota plugin on, so :meth:`add_user` can give a mailbox a storage quota (APPEND beyond it is
        # answered ``NO [OVERQUOTA]``, as a full mailbox at a provider).
        self.user_quotas = user_quotas
        # IMAP sessions one user may hold from one address, as providers limit them.
        self.max_user_connections = max_user_connections
        self.host = host
        self.imap_port = 0
        self.imaps_port = 0
        self.pop3_port = 0
        self.pop3s_port = 0
        self.sieve_port = 0
        self.config_path = self.base_dir / "dovecot.conf"
        self.log_path = self.base_dir / "dovecot.log"
        self.stderr_path = self.base_dir / "dovecot.stderr"
        self.cert_path = self.base_dir / "tls" / "cert.pem"
        self.data_dir = self._choose_data_dir()
        self.run_dir = self.data_dir / "run"
        self.mail_dir = self.data_dir / "mail"
        self.users_dir = self.data_dir / "users"
        self.instance_name = "mailferry-" + hashlib.sha256(str(self.data_dir).encode()).hexdigest()[:12]
        self._uid = pwd.getpwnam(_INTERNAL_USER).pw_uid
        self._gid = grp.getgrnam(_INTERNAL_USER).gr_gid
        self._proc: subprocess.Popen[bytes] | None = None
        self._finalizer: weakref.finalize[[subprocess.Popen[bytes]], DovecotServer] | None = None
        self._users_lock = threading.Lock()

    # -- layout ---------------------------------------------------------------------------

    def _choose_data_dir(self) -> Path:
        """base_dir itself if the mail processes can reach it, else a short dir in /tmp."""
        if _traversable_by_others(self.base_dir) and len(str(self.base_dir / "run")) <= _MAX_RUN_DIR_LEN:
            return self.base_dir
        digest = hashlib.sha256(str(self.base_dir).encode()).hexdigest()[:16]
        return Path(tempfile.gettempdir()) / f"mailferry-dovecot-{digest}"

    def _prepare_dirs(self) -> None:
        """Create the directory tree with the owners and modes Dovecot insists on."""
        self.base_dir.mkdir(parents=True, exist_ok=True)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.data_dir.chmod(0o755)
        for sub in ("run", "state"):
            (self.data_dir / sub).mkdir(exist_ok=True)
            (self.data_dir / sub).chmod(0o755)
        self.users_dir.mkdir(exist_ok=True)
        self.users_dir.chmod(0o755)
        self.mail_dir.mkdir(exist_ok=True)
        os.chown(self.mail_dir, self._uid, self._gid)
        self.mail_dir.chmod(0o750)
        if self.data_dir != self.base_dir:
            for name in ("run", "mail", "users"):
                link = self.base_dir / name
                if not link.is_symlink():
                    if link.is_dir():
                        shutil.rmtree(link)
                    link.symlink_to(self.data_dir / name)

    def _pid_file(self) -> Path:
        return self.run_dir / "master.pid"

    # -- users ----------------------------------------------------------------------------

    def _user_file(self, login: str) -> Path:
        return self.users_dir / login.lower()

    def users(self) -> list[str]:
        """Logins that currently exist (lower-cased, as Dovecot sees them)."""
        return sorted(p.name for p in self.users_dir.glob("*@*")) if self.users_dir.exists() else []

    def _settle(self) -> None:
        """Make Dovecot notice that an existing passwd-file changed or vanished.

        Dovecot re-stats a passwd-file at most once per second and compares only mtime and
        size, so a change in the same second as a login, or with the same mtime and size,
        would go unnoticed.  Waiting for the next second boundary fixes both.
        """
        time.sleep(1.0 - time.time() % 1.0 + 0.01)

    def add_user(self, login: str, password: str, quota_kib: int = 0) -> None:
        """Add (or re-password) a mailbox; usable while the server runs. ``quota_kib``: its storage quota
        (needs ``user_quotas``).

        Each user has their own passwd-file (``users/<login>``), so a new user works at
        once; changing a password waits ~1 s for Dovecot's reread granularity.
        """
        for value in (login, password):
            if not value or any(c in value for c in ":\r\n\0"):
                raise ValueError("login and password must be non-empty and free of ':' and newlines")
        if "@" not in login or "/" in login or login != login.strip():
            raise ValueError(f"login must be an e-mail address: {login!r}")
        path = self._user_file(login)
        with self._users_lock:
            self.users_dir.mkdir(parents=True, exist_ok=True)
            old_mtime = int(path.stat().st_mtime) if path.exists() else None
            tmp = path.with_name(f".{path.name}.tmp")
            if quota_kib and not self.user_quotas:
                raise ValueError("a mailbox quota needs DovecotServer(user_quotas=True)")
            extra = f"userdb_quota_rule=*:storage={quota_kib}K" if quota_kib else ""
            tmp.write_text(f"{login.lower()}:{{PLAIN}}{password}::::::{extra}\n")
            os.chown(tmp, 0, self._gid)
            tmp.chmod(0o640)
            os.replace(tmp, path)
            if old_mtime is not None:
                if int(path.stat().st_mtime) <= old_mtime:
                    os.utime(path, (old_mtime + 1, old_mtime + 1))
                self._settle()

    def remove_user(self, login: str) -> None:
        """Remove a mailbox's credentials (its mail stays on disk); takes ~1 s."""
        path = self._user_file(login)
        with self._users_lock:
            if path.exists():
                path.unlink()
                self._settle()

    # -- config ---------------------------------------------------------------------------

    def _master_passdb(self) -> str:
        """With ``master_user``: its passwd-file (written here) and the passdb that reads it."""
        if self.master_user is None:
            return ""
        login, password = self.master_user
        masters = self.data_dir / "masters"
        masters.write_text(f"{login}:{{PLAIN}}{password}\n")
        os.chown(masters, 0, self._gid)
        masters.chmod(0o640)
        return (f"auth_master_user_separator = *\npassdb {{\n  driver = passwd-file\n  master = yes\n"
                f"  pass = yes\n  args = scheme=PLAIN {masters}\n}}\n")

    def _config(self, cert_pem: Path, key_pem: Path) -> str:
        """The complete dovecot.conf; nothing from /etc/dovecot is included."""
        mailboxes = "\n".join(
            f"  mailbox \"{name}\" {{\n    special_use = {flag}\n    auto = subscribe\n  }}"
            for name, flag in self.special_folders.items()
        )
        return f"""\
# Generated by mailferry.dovecot; rewritten on every start.
instance_name = {self.instance_name}
base_dir = {self.run_dir}
state_dir = {self.data_dir / "state"}
log_path = {self.log_path}
info_log_path = {self.log_path}
debug_log_path = {self.log_path}
{self._session_times()}protocols = imap pop3 sieve
verbose_proctitle = yes
listen = {self.host}
shutdown_clients = yes

default_login_user = {_LOGIN_USER}
default_internal_user = {_INTERNAL_USER}
first_valid_uid = {self._uid}
first_valid_gid = {self._gid}
mail_uid = {self._uid}
mail_gid = {self._gid}
mail_home = {self.mail_dir}/%Ld/%Ln
mail_location = maildir:~/Maildir{"" if self.separator == "." else ":LAYOUT=fs:DIRNAME=mAildir"}
{f"pop3_uidl_format = {self.pop3_uidl_format}" if self.pop3_uidl_format else ""}
mail_fsync = never
mail_max_userip_connections = {self.max_user_connections}
imap_max_line_length = 10M
default_vsz_limit = 1G
default_process_limit = 500
default_client_limit = 5000

ssl = yes
ssl_cert = <{cert_pem}
ssl_key = <{key_pem}
ssl_min_protocol = TLSv1.2
disable_plaintext_auth = no

auth_mechanisms = plain login
auth_username_format = %Lu
auth_cache_size = 0
auth_failure_delay = 0
auth_verbose = yes
{self._master_passdb()}passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%Lu {self.users_dir}/%Lu
}}
userdb {{
  driver = passwd-file
  args = username_format=%Lu {self.users_dir}/%Lu
}}

namespace inbox {{
  inbox = yes
  separator = {self.separator}
  prefix = {self.prefix}
{mailboxes}
}}

plugin {{
  sieve = file:~/sieve;active=~/.dovecot.sieve
{self._quota_plugin()}}}
{self._quota_mail_plugins()}
service imap-login {{
  inet_listener imap {{
    port = {self.imap_port}
  }}
  inet_listener imaps {{
    port = {self.imaps_port}
    ssl = yes
  }}
  service_count = 0
  process_min_avail = 2
  client_limit = 1000
}}
service pop3-login {{
  inet_listener pop3 {{
    port = {self.pop3_port}
  }}
  inet_listener pop3s {{
    port = {self.pop3s_port}
    ssl = yes
  }}
  service_count = 0
  process_min_avail = 1
}}
service managesieve-login {{
  inet_listener sieve {{
    port = {self.sieve_port}
  }}
  service_count = 0
}}
service imap {{
  process_limit = 1000
{self._log_directly("imap")}}}
# mode 0 turns off anvil's auth penalty (a growing delay, up to 15 s, for every login from
# an IP after failures), which would turn each wrong-password test into a slow one.
service anvil {{
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
service pop3 {{
  process_limit = 500
{self._log_directly("pop3")}}}
service managesieve {{
{self._log_directly("managesieve")}}}
"""

    def _session_times(self) -> str:
        """Log settings that let a log tell how many sessions were open at once.

        Dovecot's processes normally log through one log process, which stamps a line when it reads it (in
        whole seconds by default): a session's end and the next one's start, written by different processes,
        may be read in either order. With ``-L`` (``_log_directly``) a mail process writes its lines to the
        file itself, stamped when written (``%{{usecs}}``); the one debug line let through, ``Effective
        uid=…``, is written as it takes a logged-in session (before the client is told the login is done);
        its ``Disconnected`` line comes after it has closed the connection (``Command finished: LOGOUT``, let
        through too, before).
        """
        if not self.session_times:
            return ""
        return (
            'log_timestamp = "%Y-%m-%d %H:%M:%S.%{usecs} "\n'
            f"log_debug = {_SESSION_START_FILTER}\n"
        )

    def _log_directly(self, service: str) -> str:
        return f"  executable = {service} -L\n" if self.session_times else ""

    def _quota_plugin(self) -> str:
        if not (self.max_message_size or self.user_quotas):
            return ""
        size = f"  quota_max_mail_size = {self.max_message_size}\n" if self.max_message_size else ""
        return f"  quota = maildir:User quota\n  quota_rule = *:storage=0\n{size}"

    def _quota_mail_plugins(self) -> str:
        return "mail_plugins = $mail_plugins quota\n" if self.max_message_size or self.user_quotas else ""

    # -- lifecycle ------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        """Whether the master process started by :meth:`start` is alive."""
        return self._proc is not None and self._proc.poll() is None

    @property
    def ports(self) -> list[int]:
        """All listening ports: IMAP, IMAPS, POP3, POP3S, ManageSieve (0 before start)."""
        return [self.imap_port, self.imaps_port, self.pop3_port, self.pop3s_port, self.sieve_port]

    def _kill_stale_master(self) -> None:
        """Kill a master left behind by a crashed run in the same directory; it holds base_dir."""
        try:
            pid = int(self._pid_file().read_text().strip())
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except (OSError, ValueError):
            return
        if b"dovecot" in cmdline and str(self.config_path).encode() in cmdline:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            deadline = time.monotonic() + _STOP_TIMEOUT
            while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
                time.sleep(0.05)

    def start(self) -> None:
        """Write the config, launch Dovecot and wait until every listener answers."""
        if self.running:
            return
        if os.geteuid() != 0:
            raise RuntimeError("DovecotServer must run as root (Dovecot drops privileges itself)")
        if shutil.which("dovecot") is None:
            raise RuntimeError("dovecot is not installed (apt-get install dovecot-imapd ...)")
        self._prepare_dirs()
        self._kill_stale_master()
        cert_pem, key_pem = _make_certificate(
            self.base_dir / "tls", sorted({"localhost", "127.0.0.1", self.host})
        )
        last_error: RuntimeError | None = None
        for _attempt in range(3):  # a picked port can be taken before Dovecot binds it
            try:
                self._launch(cert_pem, key_pem)
                return
            except RuntimeError as exc:
                last_error = exc
                if "Address already in use" not in str(exc):
                    raise
        assert last_error is not None
        raise last_error

    def _launch(self, cert_pem: Path, key_pem: Path) -> None:
        ports: set[int] = set()
        try:
            while len(ports) < 5:
                ports.add(free_port(self.host))
        except OSError as exc:
            raise RuntimeError(f"cannot listen on {self.host}: {exc}") from exc
        self.imap_port, self.imaps_port, self.pop3_port, self.pop3s_port, self.sieve_port = sorted(ports)
        self.config_path.write_text(self._config(cert_pem, key_pem))
        log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        with self.stderr_path.open("wb") as stderr:
            # -F keeps the master in the foreground, so we own it and see early exits.
            proc = subprocess.Popen(
                ["dovecot", "-F", "-c", str(self.config_path)],
                stdin=subprocess.DEVNULL,
                stdout=stderr,
                stderr=stderr,
                start_new_session=True,
            )
        self._proc = proc
        self._finalizer = weakref.finalize(self, _terminate, proc)
        deadline = time.monotonic() + _START_TIMEOUT
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                break
            if _greeting(self.host, self.imap_port).startswith(b"* OK") and all(
                _port_open(self.host, port) for port in self.ports[1:]
            ):
                return
            time.sleep(0.05)
        self.stop()
        log = ""
        if self.log_path.exists():
            with self.log_path.open("rb") as fh:
                fh.seek(log_offset)
                log = "\n".join(fh.read().decode(errors="replace").splitlines()[-40:])
        raise RuntimeError(
            f"Dovecot did not come up on {self.host}:{self.imap_port} within {_START_TIMEOUT:.0f}s "
            f"(exit code {proc.returncode}).\n--- stderr ---\n{_tail(self.stderr_path)}\n"
            f"--- {self.log_path} ---\n{log}"
        )

    def stop(self) -> None:
        """Stop the master and wait until the ports are closed; safe to call twice."""
        proc, self._proc = self._proc, None
        if self._finalizer is not None:
            self._finalizer.detach()
            self._finalizer = None
        if proc is not None:
            _terminate(proc)
        else:
            self._kill_stale_master()
        deadline = time.monotonic() + _STOP_TIMEOUT
        while any(p and _port_open(self.host, p) for p in self.ports):
            if time.monotonic() > deadline:
                raise RuntimeError(f"Dovecot ports still open after stop: {self.ports}")
            time.sleep(0.05)

    @property
    def pid(self) -> int:
        """The master's process id (0 when not started by this object)."""
        return self._proc.pid if self._proc is not None else 0

    def detach(self) -> None:
        """Keep Dovecot running after this object (and this process) is gone: the demo leaves it up.

        ``mailferry down`` stops it later by its pid.
        """
        if self._finalizer is not None:
            self._finalizer.detach()
            self._finalizer = None

    def destroy(self) -> None:
        """Stop and delete all mail, users and sockets (including the /tmp fallback dir)."""
        self.stop()
        if self.data_dir != self.base_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)
            for name in ("run", "mail", "users"):
                with contextlib.suppress(FileNotFoundError):
                    (self.base_dir / name).unlink()
        else:
            for name in ("run", "mail", "users", "state"):
                shutil.rmtree(self.base_dir / name, ignore_errors=True)

    def __enter__(self) -> DovecotServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"DovecotServer({str(self.base_dir)!r}, host={self.host!r}, imap_port={self.imap_port})"
