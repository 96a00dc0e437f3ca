"""Infra (issue 8 §3): the web guest as a client on the network sees it, scanned by sslyze against Mozilla's
*intermediate* TLS profile: protocols, cipher suites and curves, compression, renegotiation, session tickets,
the certificate chain as served, and HSTS.

The scan runs from this machine to the guest's address with the site name as SNI and Host. The test CA (Pebble
on acme1) is trusted for this scan only: its issuing root is fetched through the web guest, as test_tls.py does,
and given to sslyze as an extra trust store; the public stores are still tried (and fail, as they must for a
test CA) and are in the evidence. The scanner's JSON is kept in build/audit/tls-scan.json.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sslyze  # the infra extra (pip install -e '.[infra]'): missing, this module errors rather than skips
from cryptography import x509
from sslyze.mozilla_tls_profile.tls_config_checker import (
    SCAN_COMMANDS_NEEDED_BY_MOZILLA_CHECKER,
    MozillaTlsConfiguration,
    ServerNotCompliantWithTlsConfiguration,
    TlsConfigurationEnum,
    check_server_against_tls_configuration,
)
from sslyze.plugins.certificate_info.implementation import CertificateInfoExtraArgument

from tests.infra.conftest import ADDRESSES, WEB1

testinfra_hosts = [WEB1]

# sslyze loads its bundled public trust stores; one of their roots has a negative serial number
pytestmark = pytest.mark.filterwarnings("ignore:Parsed a serial number:cryptography.utils.CryptographyDeprecationWarning")

ADDRESS = ADDRESSES["web1"]
ACME_ADDRESS = ADDRESSES["acme1"]
EVIDENCE = Path(__file__).resolve().parents[2] / "build" / "audit" / "tls-scan.json"
PROFILE = MozillaTlsConfiguration.get(TlsConfigurationEnum.MOZILLA_INTERMEDIATE)
SCAN_COMMANDS = SCAN_COMMANDS_NEEDED_BY_MOZILLA_CHECKER | {
    sslyze.ScanCommand.HTTP_HEADERS,
    sslyze.ScanCommand.SESSION_RESUMPTION,
}
# the profile checker's findings, by what they are about (its issue keys)
PROTOCOL_ISSUES = {"tls_versions", "ciphersuites", "ciphers", "tls_curves", "ecdh_param_size", "dh_param_size"}
CERTIFICATE_ISSUES = {"certificate_path_validation", "certificate_curves", "rsa_key_size", "certificate_types",
                      "certificate_signatures"}
LIFESPAN_ISSUE = "maximum_certificate_lifespan"


@pytest.fixture(scope="module")
def site(host) -> str:
    """The name Apache serves on 443 (its TLS virtual host), as a browser would ask for it."""
    vhosts = host.check_output("apachectl -S 2>&1")
    names = [line.split()[1] for line in vhosts.splitlines() if line.startswith("*:443 ")]
    assert len(names) == 1, vhosts
    return names[0]


@pytest.fixture(scope="module")
def acme_root(host, tmp_path_factory) -> Path:
    """The root that signs what this Pebble run issues (random per start), from its management API."""
    pem = host.check_output(f"curl -sfk --max-time 10 https://{ACME_ADDRESS}:15000/roots/0")
    assert "BEGIN CERTIFICATE" in pem
    path = tmp_path_factory.mktemp("tls-scan") / "acme-root.pem"
    path.write_text(pem + "\n", encoding="ascii")
    return path


def write_evidence(result: sslyze.ServerScanResult, started: datetime) -> None:
    output = sslyze.SslyzeOutputAsJson(
        server_scan_results=[sslyze.ServerScanResultAsJson.model_validate(result)],
        invalid_server_strings=[],
        date_scans_started=started,
        date_scans_completed=datetime.now(UTC),
    )
    EVIDENCE.parent.mkdir(parents=True, exist_ok=True)
    EVIDENCE.write_text(output.model_dump_json(indent=2) + "\n", encoding="utf-8")


@pytest.fixture(scope="module")
def scan(site, acme_root) -> sslyze.ServerScanResult:
    """One sslyze scan of the guest; every scan command it needs must have completed."""
    request = sslyze.ServerScanRequest(
        server_location=sslyze.ServerNetworkLocation(hostname=site, port=443, ip_address=ADDRESS),
        scan_commands=SCAN_COMMANDS,
        scan_commands_extra_arguments=sslyze.ScanCommandsExtraArguments(
            certificate_info=CertificateInfoExtraArgument(custom_ca_file=acme_root)
        ),
    )
    started = datetime.now(UTC)
    scanner = sslyze.Scanner()
    scanner.queue_scans([request])
    [result] = scanner.get_results()
    write_evidence(result, started)
    assert result.scan_status == sslyze.ServerScanStatusEnum.COMPLETED, result.connectivity_error_trace
    for command in SCAN_COMMANDS:
        attempt = getattr(result.scan_result, command.value)
        assert attempt.status == sslyze.ScanCommandAttemptStatusEnum.COMPLETED, (command, attempt.error_trace)
    return result


@pytest.fixture(scope="module")
def profile_issues(scan) -> dict[str, str]:
    """What sslyze's Mozilla checker finds against the intermediate profile (empty when compliant)."""
    try:
        check_server_against_tls_configuration(scan, PROFILE)
    except ServerNotCompliantWithTlsConfiguration as error:
        return error.issues
    return {}


def supported_versions(scan) -> set[str]:
    results = scan.scan_result
    versions = {
        "SSLv2": results.ssl_2_0_cipher_suites, "SSLv3": results.ssl_3_0_cipher_suites,
        "TLSv1": results.tls_1_0_cipher_suites, "TLSv1.1": results.tls_1_1_cipher_suites,
        "TLSv1.2": results.tls_1_2_cipher_suites, "TLSv1.3": results.tls_1_3_cipher_suites,
    }
    return {name for name, attempt in versions.items() if attempt.result.is_tls_version_supported}


def certificate_deployment(scan):
    [deployment] = scan.scan_result.certificate_info.result.certificate_deployments
    return deployment


def test_scan_protocols_cipher_suites_and_curves_match_mozilla_intermediate(scan, profile_issues) -> None:
    assert supported_versions(scan) == {"TLSv1.2", "TLSv1.3"}
    assert {key: profile_issues[key] for key in PROTOCOL_ISSUES & profile_issues.keys()} == {}
    accepted = scan.scan_result.tls_1_2_cipher_suites.result.accepted_cipher_suites
    assert accepted, "TLS 1.2 is offered with at least one suite of the profile"
    assert {suite.cipher_suite.name for suite in accepted} <= PROFILE.ciphers.iana


def test_scan_no_compression_secure_renegotiation_and_no_known_tls_flaw(scan, profile_issues) -> None:
    """Compression (CRIME), insecure renegotiation, missing fallback SCSV or EMS, Heartbleed, CCS, ROBOT."""
    assert {key: value for key, value in profile_issues.items() if key.startswith("tls_vulnerability_")} == {}
    results = scan.scan_result
    assert results.tls_compression.result.supports_compression is False
    assert results.session_renegotiation.result.supports_secure_renegotiation is True
    assert results.session_renegotiation.result.is_vulnerable_to_client_renegotiation_dos is False


def test_scan_no_tls_session_tickets(scan) -> None:
    """SSLSessionTickets off: TLS 1.2 resumption only by session id, never by a ticket."""
    resumption = scan.scan_result.session_resumption.result
    assert resumption.tls_ticket_attempted_resumptions_count > 0
    assert resumption.tls_ticket_successful_resumptions_count == 0
    assert resumption.tls_ticket_resumption_result == sslyze.TlsResumptionSupportEnum.NOT_SUPPORTED


def test_scan_served_chain_verifies_against_the_acme_root_for_the_site(scan, site, acme_root, profile_issues) -> None:
    assert {key: profile_issues[key] for key in CERTIFICATE_ISSUES & profile_issues.keys()} == {}
    deployment = certificate_deployment(scan)
    [ours] = [r for r in deployment.path_validation_results if r.trust_store.path == acme_root]
    assert ours.was_validation_successful, ours.validation_error
    assert deployment.received_chain_has_valid_order is True
    assert deployment.received_chain_contains_anchor_certificate is False  # the root is not sent
    assert deployment.verified_chain_has_sha1_signature is False
    leaf = deployment.received_certificate_chain[0]
    names = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(x509.DNSName)
    assert site in names


def test_scan_certificate_lifespan_within_mozilla_intermediate(profile_issues) -> None:
    """At most 366 days; Let's Encrypt issues 90-day certificates (the test CA must be set to the same)."""
    assert LIFESPAN_ISSUE not in profile_issues, profile_issues[LIFESPAN_ISSUE]


def test_scan_hsts_header_with_the_profiles_max_age(scan) -> None:
    hsts = scan.scan_result.http_headers.result.strict_transport_security_header
    assert hsts is not None, "no Strict-Transport-Security header on https://<site>/"
    assert hsts.max_age is not None and hsts.max_age >= PROFILE.hsts_min_age  # 63072000 s, two years


def test_scan_evidence_written(scan) -> None:
    evidence = json.loads(EVIDENCE.read_text(encoding="utf-8"))
    [server] = evidence["server_scan_results"]
    assert server["server_location"]["ip_address"] == ADDRESS
    assert server["scan_result"]["certificate_info"]["status"] == "COMPLETED"
