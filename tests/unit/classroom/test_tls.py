"""The classroom certificate: generated for the listening address, or the instructor's own pair, checked."""

from __future__ import annotations

import stat

import pytest
import trustme

from labhelpers.classroom import tls
from labhelpers.foundation.errors import ServerError


def _instructors_pair(folder, *names: str, key_type=trustme.KeyType.ECDSA):
    """An instructor's own pair, as an institution's CA issues it (trustme): the leaf then the CA in the
    certificate file, the key alone in the other. Returns (cert, key)."""
    folder.mkdir(parents=True, exist_ok=True)
    issued = trustme.CA(key_type=key_type).issue_cert(*(names or ("classroom.example.org",)))
    cert, key = folder / "fullchain.pem", folder / "privkey.pem"
    cert.write_bytes(b"".join(blob.bytes() for blob in issued.cert_chain_pems))
    issued.private_key_pem.write_to_path(str(key))
    return cert, key


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


@pytest.mark.parametrize("key_type", [trustme.KeyType.ECDSA, trustme.KeyType.RSA], ids=["ecdsa", "rsa"])
def test_an_instructors_ca_issued_pair_is_used_as_given(tmp_path, key_type):
    cert, key = _instructors_pair(tmp_path / "mine", "classroom.example.org", "10.1.2.3", key_type=key_type)
    supplied = tls.ensure(tmp_path / "state", "10.1.2.3", cert, key)
    assert supplied == tls.Certificate(cert.resolve(), key.resolve(), generated=False)
    assert not (tmp_path / "state" / tls.CERT_FILE).exists()  # nothing generated beside it


def test_a_key_of_another_certificate_is_refused(tmp_path):
    cert, _ = _instructors_pair(tmp_path / "one")
    _, other_key = _instructors_pair(tmp_path / "two")
    with pytest.raises(ServerError, match="does not belong"):
        tls.check_supplied(cert, other_key)
    generated = tls.generate(tmp_path / "three", "127.0.0.1")
    with pytest.raises(ServerError, match="does not belong"):
        tls.check_supplied(cert, generated.key)


def test_a_key_file_given_as_the_certificate_is_refused_with_what_to_give(tmp_path):
    _, key = _instructors_pair(tmp_path)
    with pytest.raises(ServerError, match="Give a PEM certificate and its unencrypted PEM key"):
        tls.check_supplied(key, key)


def test_half_a_pair_or_a_missing_file_is_refused(tmp_path):
    with pytest.raises(ServerError, match="both --tls-cert and --tls-key"):
        tls.ensure(tmp_path, "127.0.0.1", tmp_path / "c.pem", None)
    with pytest.raises(ServerError, match="Cannot use the TLS certificate"):
        tls.check_supplied(tmp_path / "c.pem", tmp_path / "k.pem")
