"""Settings parsed from a given environment: defaults, and errors that name the variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.config import ConfigError, Settings, SmtpSettings, default_state_dir
from shared.topics import DEFAULT_PARTITIONS


def test_defaults_from_an_empty_environment() -> None:
    s = Settings.from_env({})
    assert s == Settings()
    assert s.kafka_bootstrap == "127.0.0.1:9092"
    assert s.redis_url == "redis://127.0.0.1:6379/0"
    assert s.topic_partitions == DEFAULT_PARTITIONS
    assert s.inline_limit == 512 * 1024
    assert s.allow_insecure_tls is False
    assert s.state_dir == default_state_dir()
    assert s.spool == default_state_dir() / "spool"
    assert s.smtp == SmtpSettings()
    assert s.log_level == "INFO"
    assert str(s.allow_hosts) == ""


def test_values_are_read_and_blank_means_default() -> None:
    s = Settings.from_env({
        "MAILFERRY_KAFKA_BOOTSTRAP": " kafka:9092 ", "MAILFERRY_REDIS_URL": "  ", "MAILFERRY_INTAKE_PORT": " 8081 ",
        "MAILFERRY_TASK_SIZE": "", "MAILFERRY_ALLOW_INSECURE_TLS": "Yes", "MAILFERRY_UNDO_WINDOW_HOURS": "1.5",
        "MAILFERRY_STATE_DIR": "/var/lib/mf", "MAILFERRY_LOG_LEVEL": "debug", "MAILFERRY_SMTP_HOST": "smtp",
        "MAILFERRY_SMTP_PORT": "587", "MAILFERRY_SMTP_STARTTLS": "off", "MAILFERRY_SMTP_PASSWORD": "pw",
    })
    assert s.kafka_bootstrap == "kafka:9092"
    assert s.redis_url == Settings().redis_url
    assert s.intake_port == 8081
    assert s.task_size == Settings().task_size
    assert s.allow_insecure_tls is True
    assert s.undo_window_hours == 1.5
    assert s.spool == Path("/var/lib/mf/spool")
    assert s.log_level == "DEBUG"
    assert s.smtp == SmtpSettings(host="smtp", port=587, starttls=False, password="pw")
    assert "pw" not in repr(s.smtp)


def test_spool_dir_wins_over_state_dir() -> None:
    s = Settings.from_env({"MAILFERRY_STATE_DIR": "/a", "MAILFERRY_SPOOL_DIR": "/b"})
    assert s.spool == Path("/b")


def test_secret_key_is_not_in_repr() -> None:
    assert "k1:c2VjcmV0" not in repr(Settings.from_env({"MAILFERRY_SECRET_KEY": "k1:c2VjcmV0"}))


@pytest.mark.parametrize("name", ["MAILFERRY_INTAKE_PORT", "MAILFERRY_TOPIC_PARTITIONS", "MAILFERRY_INLINE_LIMIT",
                                  "MAILFERRY_LOAD_BATCH", "MAILFERRY_SMTP_PORT"])
@pytest.mark.parametrize("raw", ["abc", "1.5", "12 MB"])
def test_bad_int_names_the_variable(name: str, raw: str) -> None:
    with pytest.raises(ConfigError, match=name) as info:
        Settings.from_env({name: raw})
    assert repr(raw.strip()) in str(info.value)


def test_bad_bool_names_the_variable() -> None:
    with pytest.raises(ConfigError, match="MAILFERRY_ALLOW_INSECURE_TLS"):
        Settings.from_env({"MAILFERRY_ALLOW_INSECURE_TLS": "maybe"})


def test_allow_hosts_parsed() -> None:
    s = Settings.from_env({"MAILFERRY_ALLOW_HOSTS": "127.0.0.1, 10.0.0.0/8"})
    assert s.allow_hosts.admits("10.1.2.3")
    assert s.allow_hosts.admits("127.0.0.1")
    assert not s.allow_hosts.admits("192.168.0.1")


@pytest.mark.parametrize("raw", ["not-an-ip", "10.0.0.1/8", "127.0.0.1, example.org"])
def test_allow_hosts_error_names_the_variable(raw: str) -> None:
    with pytest.raises(ConfigError, match="MAILFERRY_ALLOW_HOSTS"):
        Settings.from_env({"MAILFERRY_ALLOW_HOSTS": raw})


@pytest.mark.parametrize("name", ["MAILFERRY_UNDO_WINDOW_HOURS", "MAILFERRY_CONNECT_TIMEOUT"])
def test_bad_float_names_the_variable(name: str) -> None:
    with pytest.raises(ConfigError, match=name):
        Settings.from_env({name: "two hours"})


def test_with_makes_a_changed_copy() -> None:
    s = Settings()
    t = s.with_(task_size=7)
    assert t.task_size == 7 and s.task_size == Settings().task_size
    with pytest.raises(AttributeError):
        s.task_size = 1  # type: ignore[misc]


def test_autodetect_and_throughput_settings_are_read_with_the_others() -> None:
    s = Settings.from_env({"MAILFERRY_AUTODETECT_NAMESERVERS": "9.9.9.9, 1.1.1.1", "MAILFERRY_AUTODETECT_DNS_PORT": "5353",
                           "MAILFERRY_AUTODETECT_STEP_TIMEOUT": "1.5", "MAILFERRY_AUTODETECT_HTTP_SCHEME": "http",
                           "MAILFERRY_AUTODETECT_HTTP_PORT": "8081", "MAILFERRY_CA_FILE": "/ca.pem",
                           "MAILFERRY_EXTRACT_CONNECTIONS": "2", "MAILFERRY_LOAD_BATCH_BYTES": "1000"})
    assert s.autodetect.nameservers == ("9.9.9.9", "1.1.1.1")
    assert (s.autodetect.dns_port, s.autodetect.step_timeout, s.autodetect.total_timeout) == (5353, 1.5, 10.0)
    assert (s.autodetect.http_scheme, s.autodetect.http_port, s.autodetect.ca_file) == ("http", 8081, "/ca.pem")
    assert (s.extract_connections, s.load_batch_bytes) == (2, 1000)
    assert Settings.from_env({}).autodetect.http_scheme == "https"
    assert Settings.from_env({}).autodetect.http_port is None


def test_bad_autodetect_value_names_the_variable() -> None:
    with pytest.raises(ConfigError, match="MAILFERRY_AUTODETECT_DNS_PORT"):
        Settings.from_env({"MAILFERRY_AUTODETECT_DNS_PORT": "fifty-three"})


def test_services_listen_on_loopback_and_believe_no_proxy_unless_told() -> None:
    s = Settings.from_env({})
    assert (s.bind_host, s.trusted_proxies) == ("127.0.0.1", ())
    s = Settings.from_env({"MAILFERRY_BIND_HOST": " 0.0.0.0 ",
                           "MAILFERRY_TRUSTED_PROXIES": " 10.244.0.0/16, 192.0.2.7 ,,fd00::/8,10.1.2.3/8"})
    assert s.bind_host == "0.0.0.0"
    assert s.trusted_proxies == ("10.244.0.0/16", "192.0.2.7/32", "fd00::/8", "10.0.0.0/8")
    assert Settings.from_env({"MAILFERRY_BIND_HOST": "::"}).bind_host == "::"


@pytest.mark.parametrize("name, value", [
    ("MAILFERRY_TRUSTED_PROXIES", "*"),
    ("MAILFERRY_TRUSTED_PROXIES", "10.0.0.0/8,ingress.example"),
    ("MAILFERRY_TRUSTED_PROXIES", "10.0.0.0/33"),
    ("MAILFERRY_BIND_HOST", "localhost"),
    ("MAILFERRY_BIND_HOST", "0.0.0.0:8080"),
])
def test_a_malformed_address_setting_names_the_variable(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=name):
        Settings.from_env({name: value})


def test_stall_timeout_is_read_and_must_be_positive() -> None:
    assert Settings.from_env({}).stall_timeout_minutes == 60
    assert Settings.from_env({"MAILFERRY_STALL_TIMEOUT_MINUTES": "0.5"}).stall_timeout_minutes == 0.5
    for raw in ("0", "-3", "nan", "soon"):
        with pytest.raises(ConfigError, match="MAILFERRY_STALL_TIMEOUT_MINUTES"):
            Settings.from_env({"MAILFERRY_STALL_TIMEOUT_MINUTES": raw})
