"""A certificate key that expires within 30 days, or has expired, is warned
of once each time the configuration is read (nginx -t and a reload show
it); one further away is not.
"""

import datetime
import re

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def certificate(path, not_after):
    """A self-signed P-256 certificate valid until not_after (UTC)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ngsp test")])
    cert = (x509.CertificateBuilder()
            .subject_name(name).issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(datetime.datetime(2020, 1, 1))
            .not_valid_after(not_after.replace(tzinfo=None))
            .sign(key, hashes.SHA256()))
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def when(t):
    return t.strftime("%Y-%m-%d %H:%M:%S") + " UTC"


def warnings(out):
    return [l for l in out.splitlines() if "ngsp: the certificate" in l]


def test_expiring_certificates_warned_once(nginx_factory, tmp_path, port):
    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    soon = now + datetime.timedelta(days=10)
    gone = now - datetime.timedelta(days=2)
    later = now + datetime.timedelta(days=60)

    certificate(tmp_path / "soon.pem", soon)
    certificate(tmp_path / "gone.pem", gone)
    certificate(tmp_path / "later.pem", later)

    n = nginx_factory(f"""
        ngsp_jwt_key_file {tmp_path}/soon.pem kid=soon;
        ngsp_jwt_key_file {tmp_path}/gone.pem;
        ngsp_jwt_key_file {tmp_path}/later.pem kid=later;
        server {{
            listen 127.0.0.1:{port};
            location / {{ ngsp_jwt on; return 204; }}
        }}""", start=False)

    ok, out = n.check()
    assert ok, out

    expected = [
        f'ngsp: the certificate of key "soon" in "{tmp_path}/soon.pem" '
        f'expires on {when(soon)}',
        f'ngsp: the certificate of key without kid in "{tmp_path}/gone.pem" '
        f'expired on {when(gone)}',
    ]

    lines = warnings(out)
    assert len(lines) == 2, out
    for line, text in zip(lines, expected):
        assert re.search(r"\[warn\] (\d+#\d+: )?" + re.escape(text)
                         + re.escape(f" in {n.conf}:"), line), out

    # a reload reads the configuration again, and says it in error.log
    n.start([port])
    n.reload()
    lines = warnings(n.log())
    assert len(lines) == 2, n.log()
    for line, text in zip(lines, expected):
        assert "[warn]" in line and text in line, line
    assert "later" not in n.log()
