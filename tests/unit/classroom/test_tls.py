"""The classroom certificate: generated for the listening address, or the instructor's own pair, checked."""

from __future__ import annotations

import stat

import pytest

from labhelpers.classroom import tls
from labhelpers.core.errors import ServerError


def test_a_generated_certificate_names_the_host_and_localhost(tmp_path):
    from cryptography import x509

    made = tls.generate(tmp_path, "10.1.2.3")
    certificate = x509.load_pem_x509_certificate(made.cert.read_bytes())
    names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert {str(ip) for ip in names.get_values_for_type(x509.IPAddress)} == {"127.0.0.1", "10.1.2.3"}
    assert names.get_values_for_type(x509.DNSName) == ["localhost"]
    assert stat.S_IMODE(made.key.stat().st_mode) == 0o600
    assert tls.check_supplied(made.cert, made.key).generated is False


def test_ensure_reuses_the_generated_pair(tmp_path):
    first = tls.ensure(tmp_path, "127.0.0.1", None, None)
    again = tls.ensure(tmp_path, "127.0.0.1", None, None)
    assert again.cert.read_bytes() == first.cert.read_bytes()


def test_a_key_of_another_certificate_is_refused(tmp_path):
    one, two = tls.generate(tmp_path / "one", "127.0.0.1"), tls.generate(tmp_path / "two", "127.0.0.1")
    with pytest.raises(ServerError, match="does not belong"):
        tls.check_supplied(one.cert, two.key)


def test_half_a_pair_or_a_missing_file_is_refused(tmp_path):
    with pytest.raises(ServerError, match="both --tls-cert and --tls-key"):
        tls.ensure(tmp_path, "127.0.0.1", tmp_path / "c.pem", None)
    with pytest.raises(ServerError, match="Cannot use the TLS certificate"):
        tls.check_supplied(tmp_path / "c.pem", tmp_path / "k.pem")
