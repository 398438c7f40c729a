"""The Spectora address check: public https only, the local sandbox only in demo mode."""

import pytest
from django.core.exceptions import ValidationError

from spectora_integration.client.addresses import validate_base_url


@pytest.fixture
def demo(settings):
    settings.ATTIK_DEMO_MODE = True
    return settings


@pytest.fixture
def production(settings):
    settings.ATTIK_DEMO_MODE = False
    return settings


def refused(url: str) -> ValidationError:
    with pytest.raises(ValidationError) as caught:
        validate_base_url(url)
    return caught.value


@pytest.mark.parametrize("mode", [True, False])
@pytest.mark.parametrize(
    "url, expected",
    [
        ("https://connect.spectora.com", "https://connect.spectora.com"),
        ("https://connect.spectora.com/", "https://connect.spectora.com"),
        ("  HTTPS://Connect.Spectora.COM  ", "https://connect.spectora.com"),
        ("https://connect.spectora.com:443/api", "https://connect.spectora.com/api"),
        ("https://8.8.8.8", "https://8.8.8.8"),
    ],
)
def test_it_accepts_public_https_addresses_in_any_mode(settings, mode, url, expected):
    settings.ATTIK_DEMO_MODE = mode
    assert validate_base_url(url) == expected


@pytest.mark.parametrize(
    "url, expected",
    [
        ("http://127.0.0.1:8100", "http://127.0.0.1:8100"),
        ("http://localhost:8100/", "http://localhost:8100"),
        ("http://[::1]:8100", "http://[::1]:8100"),
        ("https://127.0.0.1:8100", "https://127.0.0.1:8100"),
    ],
)
def test_it_accepts_the_local_sandbox_over_http_in_demo_mode(demo, url, expected):
    assert validate_base_url(url) == expected


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8100",
        "http://localhost:8100",
        "http://[::1]:8100",
        "https://127.0.0.1:8100",
        "https://localhost",
        "https://[::1]",
    ],
)
def test_it_refuses_this_machine_outside_demo_mode(production, url):
    assert refused(url).code in {"insecure", "loopback"}


@pytest.mark.parametrize("mode", [True, False])
def test_it_refuses_plain_http_to_a_public_host_even_in_demo_mode(settings, mode):
    settings.ATTIK_DEMO_MODE = mode
    error = refused("http://connect.spectora.com")
    assert error.code == "insecure"
    assert "https://" in error.messages[0]


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "ftp://connect.spectora.com",
        "gopher://connect.spectora.com",
        "javascript:alert(1)",
        "connect.spectora.com",
        "//connect.spectora.com",
    ],
)
def test_it_refuses_other_schemes(demo, url):
    error = refused(url)
    assert error.code == "scheme"
    assert "https://" in error.messages[0]


@pytest.mark.parametrize(
    "url",
    [
        "https://user:pass@connect.spectora.com",
        "https://user@connect.spectora.com",
        "https://connect.spectora.com@evil.example.com",
        "http://sandbox-key@127.0.0.1:8100",
    ],
)
def test_it_refuses_a_user_name_or_password_in_the_address(demo, url):
    error = refused(url)
    assert error.code == "userinfo"
    assert "user name or password" in error.messages[0]


@pytest.mark.parametrize(
    "url",
    [
        "https://10.0.0.5",
        "https://172.16.3.4",
        "https://192.168.1.10",
        "https://100.64.0.1",  # carrier-grade NAT
        "https://0.0.0.0",
        "https://[fd00::1]",
        "https://[::ffff:10.0.0.5]",
        "https://224.0.0.1",
    ],
)
@pytest.mark.parametrize("mode", [True, False])
def test_it_refuses_private_addresses_in_any_mode(settings, mode, url):
    settings.ATTIK_DEMO_MODE = mode
    assert refused(url).code == "private"


@pytest.mark.parametrize(
    "url", ["https://169.254.169.254/latest/meta-data", "https://[fe80::1]", "https://[fe80::1%25eth0]"]
)
def test_it_refuses_link_local_addresses_such_as_cloud_metadata(demo, url):
    assert refused(url).code == "private"


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.2",  # loopback, but not the sandbox's address
        "https://127.1",  # shorthand for 127.0.0.1
        "https://0x7f.0.0.1",
        "https://2130706433",
        "https://[::ffff:127.0.0.1]",
    ],
)
def test_it_sees_through_other_spellings_of_this_machine(production, url):
    assert refused(url).code == "loopback"


@pytest.mark.parametrize(
    "url",
    [
        "https://metadata.google.internal",
        "https://printer.local",
        "https://app.localhost",
        "https://intranet",
    ],
)
def test_it_refuses_local_network_host_names(demo, url):
    assert refused(url).code in {"private", "loopback", "host"}


@pytest.mark.parametrize(
    "url",
    [
        "",
        "   ",
        "https://",
        "https://[::1",
        "https://connect.spectora.com:99999",
        "https://connect.spectora.com:port",
        "https://conn ect.spectora.com",
        "https://connect.spectora.com\\@evil.com",
        "https://-bad-.example.com",
        "https://connect.spectora.com/?next=x",
        "https://connect.spectora.com/#x",
        "https://" + "a" * 250 + ".com",
    ],
)
def test_it_refuses_what_it_cannot_parse_with_a_readable_message(demo, url):
    error = refused(url)
    message = error.messages[0]
    assert message.endswith(".")
    assert "Traceback" not in message and "ValueError" not in message


def test_an_empty_address_asks_for_one(demo):
    assert "Enter Spectora's address" in refused("").messages[0]
