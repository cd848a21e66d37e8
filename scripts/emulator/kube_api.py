"""Each EKS cluster's Kubernetes API endpoint, emulated (test support only).

With ``EKSMGR_EMULATOR_KUBE_PORT`` set, the moto server process also serves HTTPS on
``127.0.0.1:$EKSMGR_EMULATOR_KUBE_PORT``: a small Kubernetes API server standing in for the
API server of every EKS cluster that moto knows, so that eksmgr (kube-rs) can write Secrets
to "clusters" and real ``kubectl`` can read them back.  It runs in moto's process and reads
moto's EKS backends directly (clusters, their authentication mode and access entries).
Unset, nothing changes in moto except the two query-auth fixes below.

Certificates and endpoints
    At start a CA (basicConstraints CA:TRUE) and a server certificate signed by it
    (CA:FALSE, serverAuth, SAN IP 127.0.0.1 and DNS localhost) are made in memory (ECDSA
    P-256; the key goes through a private temporary file for ``ssl`` only).  Clusters
    created while enabled describe ``endpoint`` as
    ``https://127.0.0.1:{port}/clusters/{account}/{region}/{name}`` and
    ``certificateAuthority.data`` as the base64 of the CA's PEM.  TLS 1.2+, HTTP/1.1.

Kubernetes state
    Namespaces and Secrets live in this module, per cluster, keyed by the cluster's ARN and
    creation time: a re-created cluster (or one after ``POST /moto-api/reset``) starts with
    ``default``, ``kube-system``, ``kube-public`` and ``kube-node-lease`` only.  A request
    for a cluster moto no longer has gets its connection closed without an HTTP response,
    like a deleted cluster's endpoint whose DNS name is gone.

Authentication (``aws-iam-authenticator``'s rules, ``_Authenticator``)
    ``Authorization: Bearer k8s-aws-v1.<base64url of a presigned STS GetCallerIdentity
    URL>``: the URL's shape is checked, its SigV4 signature is verified when moto knows the
    access key's secret (so the token must be signed for this cluster's name in
    ``x-k8s-aws-id``), then it is replayed against moto (the port named in the URL, which
    must be a loopback host: real EKS requires an STS host) and the caller's ARN read.
    Then the cluster's access entries (API or API_AND_CONFIG_MAP modes; a CONFIG_MAP
    cluster has no ``aws-auth`` here, so nobody gets in) and their access policies decide.
    401 and 403 are kube-apiserver's Status objects.

API subset (``v1`` only, JSON)
    ``/version``, ``/api``, ``/apis``, ``/api/v1``; Namespaces (list, get, create);
    Secrets (get, list in a namespace and in all, create, replace, delete, JSON merge patch
    and strategic merge patch - identical for a Secret's maps -, server-side apply with
    ``managedFields`` per manager at the granularity of ``type``, ``immutable``, each
    ``data`` key, each label and each annotation).  ``labelSelector`` and
    ``fieldSelector`` (``metadata.name``, ``metadata.namespace``, ``type``) filter lists;
    ``dryRun=All`` is honoured; kubectl's ``as=Table`` requests get a Table; POST and PUT
    bodies may be JSON or, as kubectl's typed commands (``kubectl create secret generic``)
    send them, Kubernetes protobuf; answers are always JSON.  Bodies over 3 MiB get 413.
    Not emulated: watch (405), JSON patch (415; only ``kubectl apply --server-side``'s
    managed-fields migration of a client-side-applied object uses it, and warns), OpenAPI
    (404: ``kubectl get`` does without, ``kubectl apply``/``create -f``/``replace -f``
    need ``--validate=false``), RBAC objects (an access entry's ``kubernetesGroups``
    grant nothing), the cluster creator's bootstrap admin entry.

Test controls (no authentication, not Kubernetes), answered on the same port:

* ``POST /_emulator/clusters/{account}/{region}/{name}/down``: from now on every request
  for the cluster has its connection closed without a response (an unreachable endpoint);
  ``.../up`` ends that.  Both answer 200 ``{"cluster": ARN, "down": bool}``.
* ``POST /_emulator/clusters/{account}/{region}/{name}/objects`` with a v1 Namespace or
  Secret as JSON: created as given, by the field manager ``kubectl-create`` (a hand-made
  object, made outside eksmgr); 201 with the object, or a Kubernetes Status.

The replayed GetCallerIdentity reaches moto as any request does, so moto's own request log
(``EKSMGR_EMULATOR_REQUEST_LOG``) records it, presigned query included; its User-Agent is
Python's, which ``scripts/check_requests.py`` skips (it checks eksmgr's SDK requests only).

Request log: with ``EKSMGR_EMULATOR_KUBE_LOG`` naming a file, one JSON line per request
(``time``, ``method``, ``path``, ``query``, ``user``: the caller's ARN or null, ``status``:
null when the connection was closed), appended under a lock with ``O_APPEND``.  Never a
body nor a header: secret values and tokens stay out of it.

moto fixes (installed always, they only concern presigned requests):

* a presigned (query-auth) request names its credential in ``X-Amz-Credential`` instead of
  an ``Authorization`` header (https://docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html,
  "add the signature to the query string"): moto's dispatcher picks the service from that
  credential scope (it sent every unsigned GET to S3), and ``BaseResponse.get_access_key``
  reads the access key from it, so GetCallerIdentity answers the assumed role's ARN.
"""

from __future__ import annotations

import base64
import binascii
import copy
import hashlib
import hmac
import http.server
import ipaddress
import json
import os
import random as _random
import re
import socket
import ssl
import tempfile
import threading
import urllib.error
import urllib.request
import uuid
import xml.etree.ElementTree as ET
from datetime import datetime, timedelta, timezone
from typing import Any, Callable
from urllib.parse import parse_qs, parse_qsl, quote, unquote, urlsplit

from moto.core.responses import BaseResponse
from moto.eks.models import Cluster

from patching import arguments, wrap_method

PORT_ENV = "EKSMGR_EMULATOR_KUBE_PORT"
LOG_ENV = "EKSMGR_EMULATOR_KUBE_LOG"
HOST = "127.0.0.1"

# The namespaces every new cluster has.
INITIAL_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
# kube-apiserver's default limit on a request body (3 MiB); larger ones get 413.
MAX_BODY = 3 * 1024 * 1024
MISSING = object()


# moto: presigned (query-auth) requests ------------------------------------------------

# X-Amz-Credential=AKID%2F20250101%2Fus-east-1%2Fsts%2Faws4_request
_QUERY_CREDENTIAL = re.compile(r"(?:^|&)X-Amz-Credential=([^&]*)", re.IGNORECASE)


def _query_credential(query: str) -> str | None:
    match = _QUERY_CREDENTIAL.search(query or "")
    return unquote(match.group(1)) if match else None


def _get_access_key(original: Callable[..., str], self: BaseResponse) -> str:
    # Query-string auth carries the access key as the first part of X-Amz-Credential
    # (https://docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html).
    if "Authorization" not in self.headers:
        querystring = getattr(self, "querystring", None) or {}
        for name, values in querystring.items():
            if name.lower() == "x-amz-credential" and values and values[0]:
                return str(values[0]).split("/", 1)[0]
    return original(self)


def _infer_service_region_host(
    original: Callable[..., Any], self: Any, environ: dict[str, Any], path: str
) -> Any:
    # moto finds the service of a signed request from the Authorization header's
    # credential scope; a presigned URL has the same scope in X-Amz-Credential
    # (https://docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html).
    if not environ.get("HTTP_AUTHORIZATION"):
        credential = _query_credential(environ.get("QUERY_STRING", ""))
        if credential and credential.count("/") == 4:
            environ = {
                **environ,
                "HTTP_AUTHORIZATION": f"AWS4-HMAC-SHA256 Credential={credential}, "
                "SignedHeaders=host, Signature=0",
            }
    return original(self, environ, path)


# Certificates ---------------------------------------------------------------------------


class Certificates:
    """A CA and a server certificate it signed, made in memory."""

    def __init__(self) -> None:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

        now = datetime.now(timezone.utc)
        start, end = now - timedelta(hours=1), now + timedelta(days=365)

        def key_usage(**flags: bool) -> Any:
            names = ("digital_signature", "content_commitment", "key_encipherment",
                     "data_encipherment", "key_agreement", "key_cert_sign", "crl_sign",
                     "encipher_only", "decipher_only")
            return x509.KeyUsage(**{n: flags.get(n, False) for n in names})

        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "eksmgr-emulator-ca")])
        ca = (
            x509.CertificateBuilder()
            .subject_name(ca_name)
            .issuer_name(ca_name)
            .public_key(ca_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(end)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(key_usage(digital_signature=True, key_cert_sign=True, crl_sign=True),
                           critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()),
                           critical=False)
            .sign(ca_key, hashes.SHA256())
        )
        # rustls/webpki refuses a CA certificate as the server's own: a separate leaf.
        key = ec.generate_private_key(ec.SECP256R1())
        leaf = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kube-apiserver")]))
            .issuer_name(ca_name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(end)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(key_usage(digital_signature=True), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(
                x509.SubjectAlternativeName(
                    [x509.IPAddress(ipaddress.ip_address(HOST)), x509.DNSName("localhost")]
                ),
                critical=False,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                           critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                critical=False,
            )
            .sign(ca_key, hashes.SHA256())
        )
        self.ca_pem = ca.public_bytes(serialization.Encoding.PEM)
        self.cert_pem = leaf.public_bytes(serialization.Encoding.PEM)
        self._key_pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    def server_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.set_alpn_protocols(["http/1.1"])
        # ssl loads a certificate and key from files only: a private directory, gone at once.
        with tempfile.TemporaryDirectory(prefix="eksmgr-kube-") as folder:
            cert, key = os.path.join(folder, "cert.pem"), os.path.join(folder, "key.pem")
            with open(cert, "wb") as out:
                out.write(self.cert_pem)
            with open(os.open(key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as out:
                out.write(self._key_pem)
            context.load_cert_chain(cert, key)
        return context


# Errors: kube-apiserver's Status objects ----------------------------------------------


class ApiError(Exception):
    def __init__(
        self, code: int, reason: str, message: str, details: dict[str, Any] | None = None
    ) -> None:
        super().__init__(message)
        self.code, self.reason, self.message, self.details = code, reason, message, details

    def status(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": self.message, "reason": self.reason,
        }
        if self.details is not None:
            body["details"] = self.details
        body["code"] = self.code
        return body


class CloseConnection(Exception):
    """End the TCP connection without an HTTP response (an unreachable endpoint)."""


def unauthorized() -> ApiError:
    return ApiError(401, "Unauthorized", "Unauthorized")


def not_found(resource: str, name: str) -> ApiError:
    return ApiError(404, "NotFound", f'{resource} "{name}" not found',
                    {"name": name, "kind": resource})


def no_such_path() -> ApiError:
    return ApiError(404, "NotFound", "the server could not find the requested resource",
                    {})


def bad_request(message: str) -> ApiError:
    return ApiError(400, "BadRequest", message)


def invalid(kind: str, name: str, causes: list[tuple[str, str, str]]) -> ApiError:
    """422 Invalid; causes are (reason, field, message) like field.ErrorList."""
    texts = [f"{f}: {m}" for _, f, m in causes]
    summary = texts[0] if len(texts) == 1 else "[" + ", ".join(texts) + "]"
    return ApiError(
        422, "Invalid", f'{kind} "{name}" is invalid: {summary}',
        {"name": name, "kind": kind,
         "causes": [{"reason": r, "message": m, "field": f} for r, f, m in causes]},
    )


def conflict(resource: str, name: str, why: str) -> ApiError:
    return ApiError(409, "Conflict", f'Operation cannot be fulfilled on {resource} "{name}": {why}',
                    {"name": name, "kind": resource})


STALE = "the object has been modified; please apply your changes to the latest version and try again"


# Validation (https://kubernetes.io/docs/concepts/overview/working-with-objects/names/) ---

DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
LABEL_MSG = ("a lowercase RFC 1123 label must consist of lower case alphanumeric characters "
             "or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  "
             "or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')")
SUBDOMAIN_MSG = ("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric "
                 "characters, '-' or '.', and must start and end with an alphanumeric character "
                 "(e.g. 'example.com', regex used for validation is "
                 "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')")
# https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#syntax-and-character-set
QUALIFIED_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
# https://kubernetes.io/docs/concepts/configuration/secret/#restriction-names-data: "The keys
# of data and stringData must consist of alphanumeric characters, -, _ or ."
CONFIG_KEY = re.compile(r"^[-._a-zA-Z0-9]+$")
CONFIG_KEY_MSG = ("a valid config key must consist of alphanumeric characters, '-', '_' or '.' "
                  "(e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for "
                  "validation is '[-._a-zA-Z0-9]+')")
# "Individual Secrets are limited to 1MiB in size"
# (https://kubernetes.io/docs/concepts/configuration/secret/#restriction-data-size).
MAX_SECRET_SIZE = 1024 * 1024
# Annotations: "the total size of all annotations ... 256 kB"
# (https://kubernetes.io/docs/concepts/overview/working-with-objects/annotations/).
MAX_ANNOTATIONS_SIZE = 256 * 1024


def _name_causes(name: str, label: bool) -> list[tuple[str, str, str]]:
    # Namespace names are DNS labels, Secret names DNS subdomains
    # (https://kubernetes.io/docs/concepts/overview/working-with-objects/names/).
    if not name:
        return [("FieldValueRequired", "metadata.name", "Required value: name or generateName is required")]
    pattern, limit, msg = (DNS1123_LABEL, 63, LABEL_MSG) if label else (DNS1123_SUBDOMAIN, 253, SUBDOMAIN_MSG)
    causes = []
    if len(name) > limit:
        causes.append(("FieldValueInvalid", "metadata.name",
                       f'Invalid value: "{name}": must be no more than {limit} characters'))
    if not pattern.match(name):
        causes.append(("FieldValueInvalid", "metadata.name", f'Invalid value: "{name}": {msg}'))
    return causes


def _qualified_key_causes(key: str, field: str) -> list[tuple[str, str, str]]:
    # A label or annotation key: an optional DNS subdomain prefix and "/", then a name of
    # at most 63 characters (https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#syntax-and-character-set).
    prefix, _, name = key.rpartition("/")
    bad = (not name or len(name) > 63 or not QUALIFIED_NAME.match(name)
           or ("/" in key and (not prefix or len(prefix) > 253 or not DNS1123_SUBDOMAIN.match(prefix))))
    if bad:
        return [("FieldValueInvalid", field,
                 f'Invalid value: "{key}": name part must consist of alphanumeric characters, '
                 "'-', '_' or '.', and must start and end with an alphanumeric character")]
    return []


def _metadata_causes(metadata: dict[str, Any]) -> list[tuple[str, str, str]]:
    causes = []
    for key, value in (metadata.get("labels") or {}).items():
        causes += _qualified_key_causes(key, "metadata.labels")
        if len(value) > 63 or not LABEL_VALUE.match(value):
            causes.append(("FieldValueInvalid", "metadata.labels",
                           f'Invalid value: "{value}": a valid label must be an empty string or '
                           "consist of alphanumeric characters, '-', '_' or '.', and must start "
                           "and end with an alphanumeric character (at most 63 characters)"))
    annotations = metadata.get("annotations") or {}
    for key in annotations:
        causes += _qualified_key_causes(key, "metadata.annotations")
    if sum(len(k) + len(v) for k, v in annotations.items()) > MAX_ANNOTATIONS_SIZE:
        causes.append(("FieldValueTooLong", "metadata.annotations",
                       f"Too long: must have at most {MAX_ANNOTATIONS_SIZE} bytes"))
    return causes


def _secret_causes(secret: dict[str, Any], old: dict[str, Any] | None) -> list[tuple[str, str, str]]:
    """Kubernetes' Secret validation (https://kubernetes.io/docs/concepts/configuration/secret/)."""
    causes = _metadata_causes(secret["metadata"])
    data: dict[str, str] = secret.get("data") or {}
    total = 0
    for key, value in data.items():
        if len(key) > 253 or not CONFIG_KEY.match(key):
            causes.append(("FieldValueInvalid", f"data[{key}]", f'Invalid value: "{key}": {CONFIG_KEY_MSG}'))
        elif key in (".", "..") or key.startswith(".."):
            causes.append(("FieldValueInvalid", f"data[{key}]",
                           f"Invalid value: \"{key}\": must not be '.' or '..' nor start with '..'"))
        total += len(base64.b64decode(value))
    if total > MAX_SECRET_SIZE:
        causes.append(("FieldValueTooLong", "data", f"Too long: must have at most {MAX_SECRET_SIZE} bytes"))

    def required(key: str) -> None:
        if key not in data:
            causes.append(("FieldValueRequired", f"data[{key}]", "Required value"))

    def json_value(key: str) -> None:
        if key not in data:
            required(key)
            return
        try:
            json.loads(base64.b64decode(data[key]))
        except ValueError as err:
            causes.append(("FieldValueInvalid", f"data[{key}]",
                           f'Invalid value: "<secret contents redacted>": {type(err).__name__}'))

    # Types and their required keys
    # (https://kubernetes.io/docs/concepts/configuration/secret/#secret-types).
    kind = secret.get("type")
    if kind == "kubernetes.io/dockerconfigjson":
        json_value(".dockerconfigjson")
    elif kind == "kubernetes.io/dockercfg":
        json_value(".dockercfg")
    elif kind == "kubernetes.io/tls":
        required("tls.key")
        required("tls.crt")
    elif kind == "kubernetes.io/ssh-auth":
        required("ssh-privatekey")
    elif kind == "kubernetes.io/basic-auth" and "username" not in data and "password" not in data:
        required("username")
    elif kind == "kubernetes.io/service-account-token":
        if not (secret["metadata"].get("annotations") or {}).get("kubernetes.io/service-account.name"):
            causes.append(("FieldValueRequired",
                           "metadata.annotations[kubernetes.io/service-account.name]", "Required value"))

    if old is not None:
        # "You cannot change the type of an existing Secret"
        # (https://kubernetes.io/docs/concepts/configuration/secret/#secret-types).
        if kind != old.get("type"):
            causes.append(("FieldValueInvalid", "type", f'Invalid value: "{kind}": field is immutable'))
        # Immutable Secrets: "you can't change the data ... nor revert the immutable field"
        # (https://kubernetes.io/docs/concepts/configuration/secret/#secret-immutable).
        if old.get("immutable"):
            if secret.get("immutable") is not True:
                causes.append(("FieldValueForbidden", "immutable",
                               "Forbidden: field is immutable when `immutable` is set"))
            if (secret.get("data") or {}) != (old.get("data") or {}):
                causes.append(("FieldValueForbidden", "data",
                               "Forbidden: field is immutable when `immutable` is set"))
    return causes


# Objects and their managed fields --------------------------------------------------------


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


Path = tuple[str, ...]


def _leaves(obj: dict[str, Any]) -> dict[Path, Any]:
    """The fields tracked in managedFields: type, immutable, each data key, label and
    annotation (https://kubernetes.io/docs/reference/using-api/server-side-apply/#field-management)."""
    out: dict[Path, Any] = {}
    for field in ("type", "immutable"):
        if field in obj:
            out[(field,)] = obj[field]
    for key, value in (obj.get("data") or {}).items():
        out[("data", key)] = value
    metadata = obj.get("metadata") or {}
    for part in ("labels", "annotations"):
        for key, value in (metadata.get(part) or {}).items():
            out[("metadata", part, key)] = value
    return out


def _set_leaf(obj: dict[str, Any], path: Path, value: Any) -> None:
    node = obj
    for part in path[:-1]:
        node = node.setdefault(part, {})
    node[path[-1]] = value


def _del_leaf(obj: dict[str, Any], path: Path) -> None:
    nodes = [obj]
    for part in path[:-1]:
        child = nodes[-1].get(part)
        if not isinstance(child, dict):
            return
        nodes.append(child)
    nodes[-1].pop(path[-1], None)
    # Drop maps left empty (data, labels, annotations), never metadata itself.
    for depth in range(len(nodes) - 1, 0, -1):
        if not nodes[depth] and path[depth - 1] != "metadata":
            nodes[depth - 1].pop(path[depth - 1], None)


def _path_text(path: Path) -> str:
    return "".join("." + part for part in path)


def _fields_v1(paths: set[Path], operation: str) -> dict[str, Any]:
    """Kubernetes' FieldsV1 form: {"f:data": {"f:key": {}}, ...}."""
    root: dict[str, Any] = {}
    for path in sorted(paths):
        node = root
        for part in path[:-1]:
            node = node.setdefault("f:" + part, {})
            # An Update that made the map has it as "." too.
            if operation == "Update" and part != "metadata":
                node.setdefault(".", {})
        node["f:" + path[-1]] = {}
    return root


class ManagedEntry:
    def __init__(self, fields: set[Path]) -> None:
        self.fields = set(fields)
        self.time = _now()


class Stored:
    """One object: its JSON (without kind, apiVersion, managedFields) and its managers."""

    def __init__(self, kind: str, obj: dict[str, Any]) -> None:
        self.kind = kind
        self.obj = obj
        # By (manager, operation), in the order they first wrote.
        self.managers: dict[tuple[str, str], ManagedEntry] = {}

    def render(self) -> dict[str, Any]:
        metadata = dict(self.obj["metadata"])
        if self.managers:
            metadata["managedFields"] = [
                {"manager": manager, "operation": operation, "apiVersion": "v1",
                 "time": entry.time, "fieldsType": "FieldsV1",
                 "fieldsV1": _fields_v1(entry.fields, operation)}
                for (manager, operation), entry in self.managers.items()
            ]
        out = {"kind": self.kind, "apiVersion": "v1", "metadata": metadata}
        out.update({k: v for k, v in self.obj.items() if k != "metadata"})
        return copy.deepcopy(out)

    def ownership(self) -> dict[tuple[str, str], frozenset[Path]]:
        return {key: frozenset(entry.fields) for key, entry in self.managers.items()}


def _record_update(stored: Stored, old: dict[Path, Any], new: dict[Path, Any], manager: str) -> None:
    """An Update (create, replace, merge patch) takes the fields it changed from everyone
    (https://kubernetes.io/docs/reference/using-api/server-side-apply/#using-server-side-apply-in-a-controller)."""
    changed = {p for p, v in new.items() if old.get(p, MISSING) != v}
    removed = set(old) - set(new)
    key = (manager, "Update")
    for other, entry in stored.managers.items():
        if other != key:
            entry.fields -= changed | removed
    if changed or key in stored.managers:
        entry = stored.managers.setdefault(key, ManagedEntry(set()))
        before = set(entry.fields)
        entry.fields = (entry.fields | changed) - removed
        if entry.fields != before:
            entry.time = _now()
    for other in [k for k, e in stored.managers.items() if not e.fields]:
        del stored.managers[other]


# Label and field selectors (https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#label-selectors)


def _split_requirements(text: str) -> list[str]:
    parts, depth, current = [], 0, ""
    for char in text:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    parts.append(current)
    return [p.strip() for p in parts if p.strip()]


def label_selector(text: str) -> Callable[[dict[str, str]], bool]:
    tests: list[Callable[[dict[str, str]], bool]] = []
    for requirement in _split_requirements(text):
        key = r"([A-Za-z0-9][-A-Za-z0-9_./]*)"
        if m := re.fullmatch(rf"{key}\s*(==|=|!=)\s*([-A-Za-z0-9_.]*)", requirement):
            k, op, v = m.groups()
            tests.append((lambda k, v: lambda l: l.get(k) != v)(k, v) if op == "!="
                         else (lambda k, v: lambda l: l.get(k) == v)(k, v))
        elif m := re.fullmatch(rf"{key}\s+(in|notin)\s*\(([^)]*)\)", requirement):
            k, op, values = m.group(1), m.group(2), {v.strip() for v in m.group(3).split(",")}
            tests.append((lambda k, vs: lambda l: l.get(k) in vs)(k, values) if op == "in"
                         else (lambda k, vs: lambda l: l.get(k) not in vs)(k, values))
        elif m := re.fullmatch(rf"(!?)\s*{key}", requirement):
            negated, k = m.group(1) == "!", m.group(2)
            tests.append((lambda k, n: lambda l: (k in l) != n)(k, negated))
        else:
            raise bad_request(f"unable to parse requirement: {requirement!r}")
    return lambda labels: all(test(labels) for test in tests)


def field_selector(text: str, fields: tuple[str, ...]) -> Callable[[dict[str, str]], bool]:
    tests = []
    for requirement in _split_requirements(text):
        m = re.fullmatch(r"([A-Za-z.]+)\s*(==|=|!=)\s*(.*)", requirement)
        if not m:
            raise bad_request(f"invalid selector: {requirement!r}")
        field, op, value = m.groups()
        if field not in fields:
            raise bad_request(f'"{field}" is not a known field selector: only '
                              + ", ".join(f'"{f}"' for f in fields))
        tests.append((lambda f, v, eq: lambda obj: (obj.get(f) == v) == eq)(field, value, op != "!="))
    return lambda values: all(test(values) for test in tests)


# Per-cluster state ------------------------------------------------------------------------


class ClusterState:
    def __init__(self, arn: str) -> None:
        self.arn = arn
        self.down = False
        self.resource_version = 0
        self.namespaces: dict[str, Stored] = {}
        self.secrets: dict[tuple[str, str], Stored] = {}
        for name in INITIAL_NAMESPACES:
            self.namespaces[name] = Stored("Namespace", self.new_namespace(name))

    def next_version(self) -> str:
        self.resource_version += 1
        return str(self.resource_version)

    def new_namespace(self, name: str, metadata: dict[str, Any] | None = None) -> dict[str, Any]:
        metadata = metadata or {}
        labels = {**(metadata.get("labels") or {}), "kubernetes.io/metadata.name": name}
        out: dict[str, Any] = {"metadata": {
            "name": name, "uid": str(uuid.uuid4()), "resourceVersion": self.next_version(),
            "creationTimestamp": _now(), "labels": labels}}
        if metadata.get("annotations"):
            out["metadata"]["annotations"] = dict(metadata["annotations"])
        out["spec"] = {"finalizers": ["kubernetes"]}
        out["status"] = {"phase": "Active"}
        return out


# Access policies (https://docs.aws.amazon.com/eks/latest/userguide/access-policy-permissions.html)
READ = frozenset({"get", "list", "watch"})
WRITE = frozenset({"create", "update", "patch", "delete", "deletecollection"})
ALL = READ | WRITE
# policy name -> resource ("*": any) -> verbs; only Namespaces and Secrets exist here.
POLICY_RULES: dict[str, dict[str, frozenset[str]]] = {
    # "cluster-admin": every verb on every resource.
    "AmazonEKSClusterAdminPolicy": {"*": ALL},
    # Kubernetes' "admin" role plus namespaces get/list/watch; all verbs on secrets.
    "AmazonEKSAdminPolicy": {"secrets": ALL, "namespaces": READ},
    # Kubernetes' "edit" role: secrets read and written; namespaces get/list/watch.
    "AmazonEKSEditPolicy": {"secrets": ALL, "namespaces": READ},
    # Kubernetes' "view" role: no secrets.
    "AmazonEKSViewPolicy": {"namespaces": READ},
    # View everything, secrets included.
    "AmazonEKSAdminViewPolicy": {"*": READ},
}


class Identity:
    def __init__(self, arn: str, username: str, policies: list[tuple[str, dict[str, Any]]]):
        self.arn = arn
        self.username = username
        self.policies = policies

    def allowed(self, verb: str, resource: str, namespace: str | None) -> bool:
        for policy, scope in self.policies:
            rules = POLICY_RULES.get(policy, {})
            if verb not in rules.get(resource, rules.get("*", frozenset())):
                continue
            if scope.get("type") == "cluster":
                return True
            # A namespace scope binds the policy in those namespaces only; "You can use a
            # wildcard character (*) at the end of a namespace name"
            # (https://docs.aws.amazon.com/eks/latest/userguide/access-policies.html).
            if namespace is not None and any(
                namespace == pattern or (pattern.endswith("*") and namespace.startswith(pattern[:-1]))
                for pattern in scope.get("namespaces") or []
            ):
                return True
        return False


def forbidden(identity: Identity, verb: str, resource: str, namespace: str | None, name: str | None) -> ApiError:
    # kube-apiserver's wording (https://kubernetes.io/docs/reference/access-authn-authz/authorization/).
    subject = f'{resource} "{name}"' if name else resource
    where = f'in the namespace "{namespace}"' if namespace else "at the cluster scope"
    details: dict[str, Any] = {"name": name, "kind": resource} if name else {"kind": resource}
    return ApiError(
        403, "Forbidden",
        f'{subject} is forbidden: User "{identity.username}" cannot {verb} resource '
        f'"{resource}" in API group "" {where}',
        details,
    )


# Authentication: aws-iam-authenticator ---------------------------------------------------

# The query parameters aws-iam-authenticator accepts in a token's URL; any other is refused
# (https://github.com/kubernetes-sigs/aws-iam-authenticator#api-authorization-from-outside-a-cluster).
TOKEN_PREFIX = "k8s-aws-v1."
ALLOWED_PARAMETERS = frozenset({
    "action", "version", "x-amz-algorithm", "x-amz-credential", "x-amz-date",
    "x-amz-expires", "x-amz-security-token", "x-amz-signature", "x-amz-signedheaders",
})
MAX_TOKEN_LENGTH = 4 * 1024
# "the token ... is valid for 15 minutes" (https://docs.aws.amazon.com/eks/latest/userguide/cluster-auth.html);
# aws-iam-authenticator refuses X-Amz-Expires over 900 s and a X-Amz-Date older than 15 minutes.
TOKEN_LIFETIME = timedelta(minutes=15)
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost"})
ASSUMED_ROLE = re.compile(
    r"^arn:(?P<partition>[\w-]+):sts::(?P<account>\d{12}):assumed-role/(?P<role>[^/]+)/(?P<session>.+)$"
)
ROLE_OR_USER = re.compile(
    r"^arn:(?P<partition>[\w-]+):iam::(?P<account>\d{12}):(?P<type>role|user)/(?:.*/)?(?P<name>[^/]+)$"
)


def _uri_encode(text: str) -> str:
    # SigV4's URI encoding: every byte but the unreserved characters
    # (https://docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html).
    return quote(text, safe="-_.~")


class _Authenticator:
    def __init__(self) -> None:
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def identify(self, cluster: Cluster, authorization: str | None) -> Identity:
        arn = self.caller_arn(cluster.name, authorization)
        return self.access(cluster, arn)

    def caller_arn(self, cluster_name: str, authorization: str | None) -> str:
        scheme, _, token = (authorization or "").strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise unauthorized()
        # The token's format, as aws-iam-authenticator checks it
        # (https://github.com/kubernetes-sigs/aws-iam-authenticator#api-authorization-from-outside-a-cluster).
        if len(token) > MAX_TOKEN_LENGTH or not token.startswith(TOKEN_PREFIX):
            raise unauthorized()
        encoded = token[len(TOKEN_PREFIX):]
        # base64url without padding (Go's RawURLEncoding).
        if not re.fullmatch(r"[A-Za-z0-9_-]+", encoded):
            raise unauthorized()
        try:
            url = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise unauthorized() from None
        parts = urlsplit(url)
        # Real EKS requires an STS host; the emulator replays against its own moto, so the
        # URL names a loopback host (http, as moto serves, or https).
        if parts.scheme not in ("https", "http") or parts.hostname not in LOOPBACK_HOSTS:
            raise unauthorized()
        if parts.path != "/" or parts.fragment or parts.username or parts.password:
            raise unauthorized()
        try:
            pairs = parse_qsl(parts.query, keep_blank_values=True, strict_parsing=True)
        except ValueError:
            raise unauthorized() from None
        params: dict[str, str] = {}
        for key, value in pairs:
            if key.lower() not in ALLOWED_PARAMETERS or key.lower() in params:
                raise unauthorized()  # not allowed, or given twice
            params[key.lower()] = value
        if (params.get("action") != "GetCallerIdentity" or params.get("version") != "2011-06-15"
                or params.get("x-amz-algorithm") != "AWS4-HMAC-SHA256"
                or not re.fullmatch(r"[0-9a-f]{64}", params.get("x-amz-signature", ""))):
            raise unauthorized()
        credential = params.get("x-amz-credential", "").split("/")
        if len(credential) != 5 or credential[3] != "sts" or credential[4] != "aws4_request":
            raise unauthorized()
        # The cluster's name must be signed (x-k8s-aws-id), and SigV4 always signs host
        # (https://docs.aws.amazon.com/eks/latest/userguide/cluster-auth.html).
        signed = params.get("x-amz-signedheaders", "").split(";")
        if "host" not in signed or "x-k8s-aws-id" not in signed:
            raise unauthorized()
        # Only the headers the authenticator sends on replaying can be signed.
        if set(signed) - {"host", "x-k8s-aws-id"}:
            raise unauthorized()
        try:
            expires = int(params.get("x-amz-expires", ""))
            signed_at = datetime.strptime(params.get("x-amz-date", ""), "%Y%m%dT%H%M%SZ")
        except ValueError:
            raise unauthorized() from None
        signed_at = signed_at.replace(tzinfo=timezone.utc)
        if not 0 <= expires <= 900 or credential[1] != signed_at.strftime("%Y%m%d"):
            raise unauthorized()
        if datetime.now(timezone.utc) > signed_at + TOKEN_LIFETIME:
            raise unauthorized()
        self._verify_signature(parts, params, cluster_name)
        return self._replay(url, cluster_name)

    def _verify_signature(self, parts: Any, params: dict[str, str], cluster_name: str) -> None:
        """SigV4 query-auth signature, when moto knows the access key's secret (moto does
        not check signatures itself); a token signed for another cluster name fails here."""
        access_key_id = params["x-amz-credential"].split("/", 1)[0]
        secret, session_token = _secret_of(access_key_id)
        if secret is None:
            return  # a key moto never issued: moto's own answer decides
        # Temporary credentials need their session token
        # (https://docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html).
        if session_token is not None and params.get("x-amz-security-token") != session_token:
            raise unauthorized()
        raw = [(unquote(k), unquote(v)) for k, _, v in
               (item.partition("=") for item in parts.query.split("&"))]
        canonical_query = "&".join(sorted(
            f"{_uri_encode(k)}={_uri_encode(v)}" for k, v in raw if k != "X-Amz-Signature"
        ))
        headers = {"host": parts.netloc, "x-k8s-aws-id": cluster_name}
        signed = params["x-amz-signedheaders"]
        canonical_headers = "".join(f"{h}:{headers[h]}\n" for h in signed.split(";"))
        _, day, region, service, _ = params["x-amz-credential"].split("/")
        scope = f"{day}/{region}/{service}/aws4_request"
        key = ("AWS4" + secret).encode()
        for part in (day, region, service, "aws4_request"):
            key = hmac.new(key, part.encode(), hashlib.sha256).digest()
        # botocore presigns with UNSIGNED-PAYLOAD, other SDKs with the empty body's hash.
        for payload in ("UNSIGNED-PAYLOAD", hashlib.sha256(b"").hexdigest()):
            request = "\n".join(["GET", "/", canonical_query, canonical_headers, signed, payload])
            to_sign = "\n".join(["AWS4-HMAC-SHA256", params["x-amz-date"], scope,
                                 hashlib.sha256(request.encode()).hexdigest()])
            signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
            if hmac.compare_digest(signature, params["x-amz-signature"]):
                return
        raise unauthorized()

    def _replay(self, url: str, cluster_name: str) -> str:
        # aws-iam-authenticator GETs the URL with the x-k8s-aws-id header; a non-200 is 401.
        request = urllib.request.Request(url, headers={
            "x-k8s-aws-id": cluster_name, "Accept": "application/json"})
        try:
            with self._opener.open(request, timeout=10) as response:
                status, content_type, text = response.status, response.headers.get("Content-Type", ""), response.read()
        except (urllib.error.URLError, OSError, ValueError):
            raise unauthorized() from None
        if status != 200:
            raise unauthorized()
        try:
            if "json" in content_type:
                result = json.loads(text)["GetCallerIdentityResponse"]["GetCallerIdentityResult"]
                arn = result["Arn"]
            else:
                root = ET.fromstring(text)
                arn = next((el.text for el in root.iter() if el.tag.rsplit("}", 1)[-1] == "Arn"), None)
        except (ValueError, KeyError, TypeError, ET.ParseError):
            raise unauthorized() from None
        if not arn:
            raise unauthorized()
        return arn

    def access(self, cluster: Cluster, arn: str) -> Identity:
        # Access entries count in the API and API_AND_CONFIG_MAP modes only
        # (https://docs.aws.amazon.com/eks/latest/userguide/grant-k8s-access.html); the
        # aws-auth ConfigMap is not emulated, so a CONFIG_MAP cluster admits nobody.
        mode = (getattr(cluster, "access_config", None) or {}).get("authenticationMode", "CONFIG_MAP")
        if mode not in ("API", "API_AND_CONFIG_MAP"):
            raise unauthorized()
        session = ASSUMED_ROLE.match(arn)
        entries = list((cluster.__dict__.get("access_entries") or {}).values())
        for entry in entries:
            principal = ROLE_OR_USER.match(entry.principal_arn)
            if not principal:
                continue
            if session:
                # An assumed role's session is its role's: the entry names the role (with
                # any path) (https://docs.aws.amazon.com/eks/latest/userguide/creating-access-entries.html).
                matches = principal.group("type") == "role" and principal.group(
                    "partition", "account", "name") == session.group("partition", "account", "role")
            else:
                matches = principal.group("type") == "user" and entry.principal_arn == arn
            if matches:
                username = entry.username
                if session:
                    username = username.replace("{{SessionName}}", session.group("session"))
                username = username.replace("{{AccountID}}", principal.group("account"))
                return Identity(arn, username, [
                    (p.policy_arn.rsplit("/", 1)[-1], p.access_scope)
                    for p in entry.access_policies.values()
                ])
        # No access entry: EKS's authenticator does not map the principal -> 401.
        raise unauthorized()


def _secret_of(access_key_id: str) -> tuple[str | None, str | None]:
    """(secret, session token or None) of an access key moto issued, else (None, None)."""
    from moto.iam.models import iam_backends
    from moto.sts.models import sts_backends

    for account in list(sts_backends.values()):
        for backend in list(account.values()):
            role = backend.get_assumed_role_from_access_key(access_key_id)
            if role is not None:
                return role.secret_access_key, role.session_token
    for account in list(iam_backends.values()):
        for backend in list(account.values()):
            key = backend.access_keys.get(access_key_id)
            if key is not None and not getattr(key, "role_arn", None):
                return key.secret_access_key, None
    return None, None


# The Kubernetes API ---------------------------------------------------------------------

# kubectl's default table columns for the two kinds.
TABLE_COLUMNS = {
    "Secret": [("Name", "name"), ("Type", ""), ("Data", ""), ("Age", "")],
    "Namespace": [("Name", "name"), ("Status", ""), ("Age", "")],
}


def _age(timestamp: str) -> str:
    seconds = int((datetime.now(timezone.utc) - datetime.strptime(
        timestamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)).total_seconds())
    seconds = max(seconds, 0)
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 3 * 3600:
        return f"{seconds // 60}m"
    if seconds < 48 * 3600:
        return f"{seconds // 3600}h"
    return f"{seconds // 86400}d"


def _table(kind: str, objects: list[dict[str, Any]], resource_version: str) -> dict[str, Any]:
    rows = []
    for obj in objects:
        metadata = obj["metadata"]
        if kind == "Secret":
            cells = [metadata["name"], obj.get("type", ""), len(obj.get("data") or {}),
                     _age(metadata["creationTimestamp"])]
        else:
            cells = [metadata["name"], obj["status"]["phase"], _age(metadata["creationTimestamp"])]
        rows.append({"cells": cells, "object": {
            "kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
            "metadata": {k: v for k, v in metadata.items() if k != "managedFields"}}})
    return {
        "kind": "Table", "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": resource_version},
        "columnDefinitions": [
            {"name": name, "type": "integer" if name == "Data" else "string", "format": fmt,
             "description": name, "priority": 0}
            for name, fmt in TABLE_COLUMNS[kind]
        ],
        "rows": rows,
    }


def _parse_json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError as err:
        raise bad_request(f"the body of the request could not be decoded as JSON: {err.msg}") from None


def _parse_apply(body: bytes) -> Any:
    # An apply body is YAML, and JSON is YAML (https://kubernetes.io/docs/reference/using-api/server-side-apply/).
    try:
        return json.loads(body)
    except ValueError:
        pass
    try:
        import yaml
    except ImportError:
        raise bad_request("error decoding YAML: not JSON, and no YAML parser here") from None
    try:
        return yaml.safe_load(body)
    except yaml.YAMLError:
        raise bad_request("error decoding YAML: the body is neither JSON nor YAML") from None


# Kubernetes' protobuf encoding, for the two kinds here: kubectl's typed commands (`kubectl
# create secret`, `kubectl create namespace`) send it and do not fall back to JSON
# (https://kubernetes.io/docs/reference/using-api/api-concepts/#protobuf-encoding): the magic
# "k8s\x00", then a runtime.Unknown {typeMeta{apiVersion, kind}, raw} whose raw is the object
# (field numbers from k8s.io/api/core/v1/generated.proto).
PROTOBUF_MAGIC = b"k8s\x00"


def _protobuf_fields(data: bytes) -> list[tuple[int, Any]]:
    """A message's (field number, value) pairs: ints for varints, bytes for the rest."""
    fields, i = [], 0

    def varint() -> int:
        nonlocal i
        value = shift = 0
        while True:
            if i >= len(data):
                raise bad_request("the protobuf body is truncated")
            byte = data[i]
            i += 1
            value |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                return value

    while i < len(data):
        key = varint()
        number, wire = key >> 3, key & 7
        if wire == 0:
            fields.append((number, varint()))
        elif wire == 2:
            length = varint()
            fields.append((number, data[i:i + length]))
            i += length
        elif wire in (1, 5):
            size = 8 if wire == 1 else 4
            fields.append((number, data[i:i + size]))
            i += size
        else:
            raise bad_request("the protobuf body is malformed")
    return fields


def _protobuf_map(entries: list[bytes], value_bytes: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for entry in entries:
        pairs = dict(_protobuf_fields(entry))
        value = pairs.get(2, b"")
        out[pairs.get(1, b"").decode()] = (
            base64.b64encode(value).decode() if value_bytes else value.decode())
    return out


def _protobuf_object(body: bytes) -> dict[str, Any]:
    if not body.startswith(PROTOBUF_MAGIC):
        raise bad_request("the protobuf body lacks the k8s magic prefix")
    unknown = dict(_protobuf_fields(body[len(PROTOBUF_MAGIC):]))
    type_meta = dict(_protobuf_fields(unknown.get(1, b"")))
    kind = type_meta.get(2, b"").decode()
    fields = _protobuf_fields(unknown.get(2, b""))

    def all_of(number: int, fields: list[tuple[int, Any]] = fields) -> list[Any]:
        return [value for n, value in fields if n == number]

    meta_fields = _protobuf_fields(b"".join(all_of(1)))
    metadata: dict[str, Any] = {}
    for number, key in ((1, "name"), (2, "generateName"), (3, "namespace"), (6, "resourceVersion")):
        if all_of(number, meta_fields):
            metadata[key] = all_of(number, meta_fields)[-1].decode()
    for number, key in ((11, "labels"), (12, "annotations")):
        if all_of(number, meta_fields):
            metadata[key] = _protobuf_map(all_of(number, meta_fields))
    obj: dict[str, Any] = {"apiVersion": type_meta.get(1, b"v1").decode(), "kind": kind,
                           "metadata": metadata}
    if kind == "Secret":
        if all_of(2):
            obj["data"] = _protobuf_map(all_of(2), value_bytes=True)
        if all_of(4):
            obj["stringData"] = _protobuf_map(all_of(4))
        if all_of(3):
            obj["type"] = all_of(3)[-1].decode()
        if all_of(5):
            obj["immutable"] = bool(all_of(5)[-1])
    return obj


def _merge_patch(target: Any, patch: Any) -> Any:
    # RFC 7386 JSON merge patch.
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = _merge_patch(result.get(key), value)
    return result


def _string_map(value: Any, field: str, kind: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise bad_request(f'{kind} in version "v1" cannot be handled as a {kind}: '
                          f"{field}: expected a map of strings")
    return dict(value)


class KubeApi:
    """The emulated API server of every cluster (one instance per moto process)."""

    def __init__(self, port: int, certificates: Certificates) -> None:
        self.port = port
        self.certificates = certificates
        self.lock = threading.RLock()
        self.states: dict[tuple[str, str], ClusterState] = {}
        self.authenticator = _Authenticator()
        log_path = os.environ.get(LOG_ENV, "")
        self._log_fd = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644) if log_path else None
        self._log_lock = threading.Lock()

    # Clusters

    def endpoint(self, account_id: str, region: str, name: str) -> str:
        return f"https://{HOST}:{self.port}/clusters/{account_id}/{region}/{name}"

    @staticmethod
    def cluster(account_id: str, region: str, name: str) -> Cluster | None:
        from moto.eks.models import eks_backends

        try:
            backend = eks_backends[account_id][region]
        except (KeyError, ValueError):
            return None
        return backend.clusters.get(name)

    def state(self, cluster: Cluster) -> ClusterState:
        key = (cluster.arn, cluster.created_at.isoformat())
        with self.lock:
            if key not in self.states:
                # A cluster of the same ARN made again starts empty.
                for old in [k for k in self.states if k[0] == cluster.arn]:
                    del self.states[old]
                self.states[key] = ClusterState(cluster.arn)
            return self.states[key]

    # Log

    def log(self, method: str, path: str, query: str, user: str | None, status: int | None) -> None:
        if self._log_fd is None:
            return
        record = {"time": datetime.now(timezone.utc).isoformat(), "method": method,
                  "path": path, "query": query, "user": user, "status": status}
        line = (json.dumps(record, sort_keys=True) + "\n").encode()
        with self._log_lock:
            view = memoryview(line)
            while view:
                view = view[os.write(self._log_fd, view):]

    # Test controls

    def control(self, method: str, account: str, region: str, name: str, action: str,
                body: bytes) -> tuple[int, dict[str, Any]]:
        if method != "POST":
            raise ApiError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")
        cluster = self.cluster(account, region, name)
        if cluster is None:
            raise ApiError(404, "NotFound", f"no cluster {name} in account {account}, region {region}")
        state = self.state(cluster)
        if action in ("down", "up"):
            state.down = action == "down"
            return 200, {"cluster": cluster.arn, "down": state.down}
        obj = _parse_json(body)
        if not isinstance(obj, dict) or obj.get("apiVersion") != "v1" or obj.get("kind") not in ("Namespace", "Secret"):
            raise bad_request("objects takes a v1 Namespace or Secret")
        with self.lock:
            if obj["kind"] == "Namespace":
                return 201, self.create_namespace(state, obj, "kubectl-create", dry_run=False)
            namespace = (obj.get("metadata") or {}).get("namespace") or "default"
            stored, _ = self.create_secret(state, namespace, obj, "kubectl-create", dry_run=False)
            return 201, stored.render()

    # Kubernetes requests

    def serve(self, state: ClusterState, cluster: Cluster, identity: Identity, method: str,
              path: str, query: dict[str, list[str]], headers: Any, body: bytes) -> tuple[int, Any]:
        segments = [unquote(s) for s in path.split("/") if s]
        if segments in (["version"], ["api"], ["apis"], ["api", "v1"]):
            # Discovery needs an authenticated user only (system:discovery).
            if method != "GET":
                raise ApiError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")
            return 200, self.discovery(cluster, segments)
        if segments[:2] != ["api", "v1"]:
            raise no_such_path()
        rest = segments[2:]
        namespace: str | None = None
        name: str | None = None
        if rest == ["namespaces"]:
            resource = "namespaces"
        elif len(rest) == 2 and rest[0] == "namespaces":
            # A namespace is "in" itself for RBAC
            # (https://kubernetes.io/docs/reference/access-authn-authz/rbac/#referring-to-resources).
            resource, name, namespace = "namespaces", rest[1], rest[1]
        elif rest == ["secrets"]:
            resource = "secrets"
        elif len(rest) in (3, 4) and rest[0] == "namespaces" and rest[2] == "secrets":
            resource, namespace = "secrets", rest[1]
            name = rest[3] if len(rest) == 4 else None
        else:
            raise no_such_path()
        one = {"GET": "get", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}
        many = {"GET": "list", "POST": "create", "DELETE": "deletecollection"}
        verb = (one if name is not None else many).get(method)
        if verb == "list" and query.get("watch", [""])[0] in ("true", "1"):
            verb = "watch"
        if verb is None:
            raise ApiError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")
        # Authorization precedes everything, as in kube-apiserver.
        if not identity.allowed(verb, resource, namespace):
            raise forbidden(identity, verb, resource, namespace, name)
        if verb in ("watch", "deletecollection") or (resource == "namespaces" and verb not in ("get", "list", "create")):
            raise ApiError(405, "MethodNotAllowed", f"{verb} {resource} is not supported by the emulator")
        params = {k: v[-1] for k, v in query.items()}
        content_type = (headers.get("Content-Type") or "application/json").split(";", 1)[0].strip().lower()
        if method in ("POST", "PUT") and content_type == "application/vnd.kubernetes.protobuf":
            body = json.dumps(_protobuf_object(body)).encode()
        elif method in ("POST", "PUT") and content_type != "application/json":
            raise ApiError(415, "UnsupportedMediaType",
                           "the body of the request was in an unknown format - accepted media "
                           "types include: application/json, application/vnd.kubernetes.protobuf")
        dry_run = params.get("dryRun") == "All"
        table = "as=Table" in (headers.get("Accept") or "")
        with self.lock:
            if resource == "namespaces":
                return self.namespaces(state, verb, name, params, headers, body, table)
            return self.secrets(state, identity, verb, namespace, name, params, headers, body, dry_run, table)

    def discovery(self, cluster: Cluster, segments: list[str]) -> dict[str, Any]:
        if segments == ["version"]:
            major, _, minor = str(cluster.version).partition(".")
            return {"major": major, "minor": minor,
                    "gitVersion": f"v{cluster.version}.0-eks-emulator", "gitCommit": "0" * 40,
                    "gitTreeState": "clean", "buildDate": "2025-01-01T00:00:00Z",
                    "goVersion": "go1.23.0", "compiler": "gc", "platform": "linux/amd64"}
        if segments == ["api"]:
            return {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [
                {"clientCIDR": "0.0.0.0/0", "serverAddress": f"{HOST}:{self.port}"}]}
        if segments == ["apis"]:
            return {"kind": "APIGroupList", "apiVersion": "v1", "groups": []}
        return {"kind": "APIResourceList", "groupVersion": "v1", "resources": [
            {"name": "namespaces", "singularName": "namespace", "namespaced": False,
             "kind": "Namespace", "verbs": ["create", "delete", "get", "list", "patch", "update", "watch"],
             "shortNames": ["ns"], "storageVersionHash": "Q3oi5N2YM8M="},
            {"name": "secrets", "singularName": "secret", "namespaced": True, "kind": "Secret",
             "verbs": ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"],
             "storageVersionHash": "S6u1pOWzb84="},
        ]}

    # Namespaces

    def namespaces(self, state: ClusterState, verb: str, name: str | None,
                   params: dict[str, str], headers: Any, body: bytes, table: bool) -> tuple[int, Any]:
        if verb == "get":
            assert name is not None
            if name not in state.namespaces:
                raise not_found("namespaces", name)
            obj = state.namespaces[name].render()
            return 200, _table("Namespace", [obj], obj["metadata"]["resourceVersion"]) if table else obj
        if verb == "list":
            items = [s.render() for _, s in sorted(state.namespaces.items())]
            if "labelSelector" in params:
                selected = label_selector(params["labelSelector"])
                items = [i for i in items if selected(i["metadata"].get("labels") or {})]
            if "fieldSelector" in params:
                selected = field_selector(params["fieldSelector"], ("metadata.name",))
                items = [i for i in items if selected({"metadata.name": i["metadata"]["name"]})]
            version = str(state.resource_version)
            if table:
                return 200, _table("Namespace", items, version)
            for item in items:
                del item["kind"], item["apiVersion"]
            return 200, {"kind": "NamespaceList", "apiVersion": "v1",
                         "metadata": {"resourceVersion": version}, "items": items}
        obj = _parse_json(body)
        if not isinstance(obj, dict):
            raise bad_request("the body must be a Namespace")
        return 201, self.create_namespace(state, obj, self.manager(params, headers),
                                          dry_run=params.get("dryRun") == "All")

    def create_namespace(self, state: ClusterState, obj: dict[str, Any], manager: str,
                         dry_run: bool) -> dict[str, Any]:
        if obj.get("kind", "Namespace") != "Namespace" or obj.get("apiVersion", "v1") != "v1":
            raise bad_request("the body must be a v1 Namespace")
        metadata = obj.get("metadata") or {}
        name = metadata.get("name") or ""
        labels = _string_map(metadata.get("labels"), "metadata.labels", "Namespace")
        annotations = _string_map(metadata.get("annotations"), "metadata.annotations", "Namespace")
        causes = _name_causes(name, label=True) + _metadata_causes(
            {"labels": labels, "annotations": annotations})
        if causes:
            raise invalid("Namespace", name, causes)
        if name in state.namespaces:
            raise ApiError(409, "AlreadyExists", f'namespaces "{name}" already exists',
                           {"name": name, "kind": "namespaces"})
        stored = Stored("Namespace", {})
        if dry_run:
            stored.obj = {"metadata": {"name": name, "labels": {**labels, "kubernetes.io/metadata.name": name}},
                          "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}}
            return stored.render()
        stored.obj = state.new_namespace(name, {"labels": labels, "annotations": annotations})
        _record_update(stored, {}, _leaves({"metadata": {"labels": labels, "annotations": annotations}}), manager)
        state.namespaces[name] = stored
        return stored.render()

    # Secrets

    @staticmethod
    def manager(params: dict[str, str], headers: Any) -> str:
        # Without ?fieldManager=, kube-apiserver names the manager after the User-Agent
        # (https://kubernetes.io/docs/reference/using-api/server-side-apply/#managers).
        if params.get("fieldManager"):
            return params["fieldManager"]
        agent = (headers.get("User-Agent") if headers is not None else "") or ""
        return agent.split("/", 1)[0][:128] or "unknown"

    def secrets(self, state: ClusterState, identity: Identity, verb: str, namespace: str | None,
                name: str | None, params: dict[str, str], headers: Any, body: bytes,
                dry_run: bool, table: bool) -> tuple[int, Any]:
        if verb == "list":
            items = [s.render() for (ns, _), s in sorted(state.secrets.items())
                     if namespace is None or ns == namespace]
            if "labelSelector" in params:
                selected = label_selector(params["labelSelector"])
                items = [i for i in items if selected(i["metadata"].get("labels") or {})]
            if "fieldSelector" in params:
                selected = field_selector(params["fieldSelector"],
                                          ("metadata.name", "metadata.namespace", "type"))
                items = [i for i in items if selected({
                    "metadata.name": i["metadata"]["name"],
                    "metadata.namespace": i["metadata"]["namespace"], "type": i.get("type")})]
            version = str(state.resource_version)
            if table:
                return 200, _table("Secret", items, version)
            for item in items:
                del item["kind"], item["apiVersion"]
            return 200, {"kind": "SecretList", "apiVersion": "v1",
                         "metadata": {"resourceVersion": version}, "items": items}
        assert namespace is not None
        if verb == "create":
            obj = _parse_json(body)
            stored, _ = self.create_secret(state, namespace, obj, self.manager(params, headers), dry_run)
            return 201, stored.render()
        assert name is not None
        stored = state.secrets.get((namespace, name))
        if verb == "get":
            if stored is None:
                raise not_found("secrets", name)
            obj = stored.render()
            return 200, _table("Secret", [obj], obj["metadata"]["resourceVersion"]) if table else obj
        if verb == "delete":
            if stored is None:
                raise not_found("secrets", name)
            options = _parse_json(body) if body.strip() else {}
            preconditions = (options or {}).get("preconditions") or {}
            metadata = stored.obj["metadata"]
            if preconditions.get("uid") not in (None, metadata["uid"]):
                raise conflict("secrets", name, f"Precondition failed: UID in precondition: "
                               f"{preconditions['uid']}, UID in object meta: {metadata['uid']}")
            if preconditions.get("resourceVersion") not in (None, metadata["resourceVersion"]):
                raise conflict("secrets", name, STALE)
            if not dry_run:
                del state.secrets[(namespace, name)]
            return 200, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                         "details": {"name": name, "kind": "secrets", "uid": metadata["uid"]}}
        if verb == "update":
            if stored is None:
                # Secrets are not created by PUT (AllowCreateOnUpdate is false).
                raise not_found("secrets", name)
            obj = _parse_json(body)
            return 200, self.replace_secret(state, stored, namespace, name, obj,
                                            self.manager(params, headers), dry_run).render()
        # PATCH
        content_type = (headers.get("Content-Type") or "").split(";", 1)[0].strip().lower()
        if content_type == "application/apply-patch+yaml":
            return self.apply_secret(state, identity, stored, namespace, name, body, params, dry_run)
        if "force" in params:
            raise invalid("PatchOptions", "", [("FieldValueForbidden", "force",
                                                "Forbidden: may not be specified for non-apply patch")])
        if content_type not in ("application/merge-patch+json", "application/strategic-merge-patch+json"):
            raise ApiError(415, "UnsupportedMediaType",
                           "the body of the request was in an unknown format - accepted media types "
                           "include: application/merge-patch+json, application/strategic-merge-patch+json, "
                           "application/apply-patch+yaml")
        if stored is None:
            raise not_found("secrets", name)
        patch = _parse_json(body)
        if not isinstance(patch, dict):
            raise bad_request("the patch must be a JSON object")
        # Merge patch and strategic merge patch are the same on a Secret's maps
        # (https://kubernetes.io/docs/tasks/manage-kubernetes-objects/update-api-object-kubectl-patch/).
        current = stored.render()
        current["metadata"].pop("managedFields", None)
        patched = _merge_patch(current, patch)
        return 200, self.replace_secret(state, stored, namespace, name, patched,
                                        self.manager(params, headers), dry_run).render()

    def _secret_input(self, obj: Any, namespace: str, name: str | None, apply: bool) -> dict[str, Any]:
        """The Secret a request body describes (data with stringData merged in), checked
        for what kube-apiserver refuses before validation (400)."""
        if not isinstance(obj, dict):
            raise bad_request("the body of the request must be a Secret object")
        if apply and not (obj.get("apiVersion") and obj.get("kind")):
            raise bad_request("apiVersion and kind must be set in an apply request")
        if obj.get("apiVersion", "v1") != "v1":
            raise bad_request(f"the API version in the data ({obj.get('apiVersion')}) does not "
                              "match the expected API version (v1)")
        if obj.get("kind", "Secret") != "Secret":
            raise bad_request(f"the kind in the data ({obj.get('kind')}) does not match the expected kind (Secret)")
        metadata = obj.get("metadata") or {}
        if not isinstance(metadata, dict):
            raise bad_request("metadata must be an object")
        if metadata.get("namespace") not in (None, "", namespace):
            raise bad_request("the namespace of the provided object does not match the namespace sent on the request")
        given = metadata.get("name") or ""
        if name is not None and given != name:
            if given or apply:
                raise bad_request(f"the name of the object ({given}) does not match the name on the URL ({name})")
            given = name
        out: dict[str, Any] = {"metadata": {"name": given, "namespace": namespace}}
        if metadata.get("generateName") and not given:
            out["metadata"]["generateName"] = metadata["generateName"]
        for part in ("labels", "annotations"):
            if metadata.get(part) is not None:
                out["metadata"][part] = _string_map(metadata[part], f"metadata.{part}", "Secret")
        data = _string_map(obj.get("data"), "data", "Secret")
        for key, value in data.items():
            try:
                base64.b64decode(value, validate=True)
            except (binascii.Error, ValueError):
                # Go's []byte from JSON; the value itself is never echoed.
                raise bad_request('Secret in version "v1" cannot be handled as a Secret: '
                                  f"illegal base64 data in data[{key}]") from None
        # "stringData ... merged into the data field on write, overwriting any existing values"
        # (https://kubernetes.io/docs/concepts/configuration/secret/).
        for key, value in _string_map(obj.get("stringData"), "stringData", "Secret").items():
            data[key] = base64.b64encode(value.encode()).decode()
        if "data" in obj or "stringData" in obj:
            out["data"] = data
        if obj.get("type") not in (None, ""):  # "" is defaulted to Opaque, as by Kubernetes
            if not isinstance(obj["type"], str):
                raise bad_request("type must be a string")
            out["type"] = obj["type"]
        if obj.get("immutable") is not None:
            if not isinstance(obj["immutable"], bool):
                raise bad_request("immutable must be a boolean")
            out["immutable"] = obj["immutable"]
        return out

    def _check_namespace(self, state: ClusterState, namespace: str) -> None:
        # The NamespaceLifecycle admission plugin: no object in a missing namespace
        # (https://kubernetes.io/docs/reference/access-authn-authz/admission-controllers/#namespacelifecycle).
        if namespace not in state.namespaces:
            raise not_found("namespaces", namespace)

    def _new_secret(self, state: ClusterState, secret: dict[str, Any]) -> dict[str, Any]:
        metadata = secret["metadata"]
        if not metadata.get("name") and metadata.get("generateName"):
            alphabet = "bcdfghjklmnpqrstvwxz2456789"
            metadata["name"] = metadata.pop("generateName") + "".join(_random.choice(alphabet) for _ in range(5))
        secret.setdefault("type", "Opaque")
        causes = _name_causes(metadata.get("name") or "", label=False) + _secret_causes(secret, None)
        if causes:
            raise invalid("Secret", metadata.get("name") or "", causes)
        obj: dict[str, Any] = {"metadata": {
            "name": metadata["name"], "namespace": metadata["namespace"], "uid": str(uuid.uuid4()),
            "resourceVersion": "", "creationTimestamp": _now()}}
        for part in ("labels", "annotations"):
            if metadata.get(part):
                obj["metadata"][part] = metadata[part]
        for field in ("data", "immutable", "type"):
            if field in secret and (field != "data" or secret["data"]):
                obj[field] = secret[field]
        return obj

    def create_secret(self, state: ClusterState, namespace: str, body: Any, manager: str,
                      dry_run: bool) -> tuple[Stored, bool]:
        secret = self._secret_input(body, namespace, None, apply=False)
        self._check_namespace(state, namespace)
        obj = self._new_secret(state, secret)
        name = obj["metadata"]["name"]
        if (namespace, name) in state.secrets:
            raise ApiError(409, "AlreadyExists", f'secrets "{name}" already exists',
                           {"name": name, "kind": "secrets"})
        stored = Stored("Secret", obj)
        _record_update(stored, {}, _leaves(obj), manager)
        if not dry_run:
            obj["metadata"]["resourceVersion"] = state.next_version()
            state.secrets[(namespace, name)] = stored
        return stored, True

    def _commit(self, state: ClusterState, stored: Stored, new_obj: dict[str, Any],
                managers: dict[tuple[str, str], ManagedEntry], dry_run: bool) -> Stored:
        """Store the new object and ownership (a new resourceVersion only when either
        changed: a no-op write leaves the object as it was)."""
        result = Stored("Secret", new_obj)
        result.managers = managers
        unchanged = new_obj == stored.obj and result.ownership() == stored.ownership()
        if dry_run or unchanged:
            return stored if unchanged else result
        new_obj["metadata"]["resourceVersion"] = state.next_version()
        stored.obj, stored.managers = new_obj, managers
        return stored

    def replace_secret(self, state: ClusterState, stored: Stored, namespace: str, name: str,
                       body: Any, manager: str, dry_run: bool) -> Stored:
        secret = self._secret_input(body, namespace, name, apply=False)
        wanted_version = ((body or {}).get("metadata") or {}).get("resourceVersion")
        # Optimistic concurrency: a stale resourceVersion is a 409 Conflict
        # (https://kubernetes.io/docs/reference/using-api/api-concepts/#resource-versions).
        if wanted_version and wanted_version != stored.obj["metadata"]["resourceVersion"]:
            raise conflict("secrets", name, STALE)
        secret.setdefault("type", "Opaque")
        causes = _secret_causes(secret, stored.obj)
        if causes:
            raise invalid("Secret", name, causes)
        new_obj = copy.deepcopy(stored.obj)
        for part in ("labels", "annotations"):
            new_obj["metadata"].pop(part, None)
            if secret["metadata"].get(part):
                new_obj["metadata"][part] = secret["metadata"][part]
        for field in ("data", "immutable", "type"):
            new_obj.pop(field, None)
            if field in secret and (field != "data" or secret["data"]):
                new_obj[field] = secret[field]
        result = Stored("Secret", new_obj)
        result.managers = {k: ManagedEntry(e.fields) for k, e in stored.managers.items()}
        for key, entry in stored.managers.items():
            result.managers[key].time = entry.time
        _record_update(result, _leaves(stored.obj), _leaves(new_obj), manager)
        return self._commit(state, stored, new_obj, result.managers, dry_run)

    def apply_secret(self, state: ClusterState, identity: Identity, stored: Stored | None,
                     namespace: str, name: str, body: bytes, params: dict[str, str],
                     dry_run: bool) -> tuple[int, Any]:
        """Server-side apply (https://kubernetes.io/docs/reference/using-api/server-side-apply/)."""
        manager = params.get("fieldManager") or ""
        if not manager:
            # "fieldManager is required for apply requests"; kube-apiserver's PatchOptions validation.
            raise invalid("PatchOptions", "", [("FieldValueRequired", "fieldManager",
                                                "Required value: is required for apply patch")])
        force = params.get("force") == "true"
        config = self._secret_input(_parse_apply(body), namespace, name, apply=True)
        applied = _leaves(config)
        mine = (manager, "Apply")
        if stored is None:
            # Apply creates a missing object, which needs the create permission too.
            if not identity.allowed("create", "secrets", namespace):
                raise forbidden(identity, "create", "secrets", namespace, name)
            self._check_namespace(state, namespace)
            obj = self._new_secret(state, copy.deepcopy(config))
            created = Stored("Secret", obj)
            created.managers[mine] = ManagedEntry(set(applied))
            if not dry_run:
                obj["metadata"]["resourceVersion"] = state.next_version()
                state.secrets[(namespace, name)] = created
            return 201, created.render()
        current = _leaves(stored.obj)
        managers = {k: ManagedEntry(e.fields) for k, e in stored.managers.items()}
        for key, entry in stored.managers.items():
            managers[key].time = entry.time
        # A field set to a different value than another manager's is a conflict unless
        # forced; the same value is shared ownership
        # (https://kubernetes.io/docs/reference/using-api/server-side-apply/#conflicts).
        conflicts = [
            (key, path) for path, value in applied.items() if current.get(path, MISSING) != value
            for key, entry in managers.items() if key != mine and path in entry.fields
        ]
        if conflicts and not force:
            raise self._apply_conflict(sorted(conflicts))
        for key, path in conflicts:
            managers[key].fields.discard(path)
        new_obj = copy.deepcopy(stored.obj)
        for path, value in applied.items():
            _set_leaf(new_obj, path, value)
        # Fields the manager applied before and omits now are removed, unless another
        # manager owns them too (https://kubernetes.io/docs/reference/using-api/server-side-apply/#merge-strategy).
        before = managers[mine].fields if mine in managers else set()
        for path in before - set(applied):
            if not any(path in e.fields for k, e in managers.items() if k != mine):
                _del_leaf(new_obj, path)
        new_obj.setdefault("type", "Opaque")
        causes = _secret_causes(new_obj, stored.obj)
        if causes:
            raise invalid("Secret", name, causes)
        if mine not in managers or managers[mine].fields != set(applied):
            managers[mine] = ManagedEntry(set(applied))
        for key in [k for k, e in managers.items() if not e.fields and k != mine]:
            del managers[key]
        return 200, self._commit(state, stored, new_obj, managers, dry_run).render()

    @staticmethod
    def _apply_conflict(conflicts: list[tuple[tuple[str, str], Path]]) -> ApiError:
        # kube-apiserver's conflict Status: an Update manager is named with its API version.
        def who(key: tuple[str, str]) -> str:
            return f'"{key[0]}"' + (" using v1" if key[1] == "Update" else "")

        causes = [{"reason": "FieldManagerConflict", "message": f"conflict with {who(k)}",
                   "field": _path_text(p)} for k, p in conflicts]
        if len(conflicts) == 1:
            message = f"Apply failed with 1 conflict: conflict with {who(conflicts[0][0])}: {_path_text(conflicts[0][1])}"
        else:
            lines = []
            for key in sorted({k for k, _ in conflicts}):
                lines.append(f"conflicts with {who(key)}:")
                lines += [f"- {_path_text(p)}" for k, p in conflicts if k == key]
            message = f"Apply failed with {len(conflicts)} conflicts: " + "\n".join(lines)
        return ApiError(409, "Conflict", message, {"causes": causes})


# The HTTPS server ---------------------------------------------------------------------------

CONTROL_PATH = re.compile(r"^/_emulator/clusters/(\d{12})/([a-z0-9-]+)/([^/]+)/(down|up|objects)/?$")
CLUSTER_PATH = re.compile(r"^/clusters/(\d{12})/([a-z0-9-]+)/([^/]+)(/.*)?$")


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "eksmgr-kube-emulator"
    sys_version = ""
    # An idle keep-alive connection is dropped after this many seconds: longer than the
    # clients' own idle pool timeouts (Go's and hyper's 90 s), so that they close first.
    timeout = 300
    api: KubeApi

    def setup(self) -> None:
        self.request.settimeout(self.timeout)
        self.request.do_handshake()
        super().setup()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base's name
        pass  # the JSON request log (EKSMGR_EMULATOR_KUBE_LOG) records requests

    def _too_large(self) -> ApiError:
        self.close_connection = True  # the rest of the body is not read
        return ApiError(413, "RequestEntityTooLarge", f"limit is {MAX_BODY}")

    def _read_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks, total = [], 0
            while True:
                size = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                total += size
                if total > MAX_BODY:
                    raise self._too_large()
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            raise self._too_large()
        return self.rfile.read(length) if length > 0 else b""

    def _send(self, status: int, payload: Any) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Cache-Control", "no-cache, private")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _serve(self) -> None:
        parts = urlsplit(self.path)
        path, raw_query = parts.path, parts.query
        user: str | None = None
        status: int | None = None
        try:
            try:
                body = self._read_body()
                control = CONTROL_PATH.match(path)
                if control:
                    status, payload = self.api.control(self.command, *control.groups(), body)
                else:
                    match = CLUSTER_PATH.match(path)
                    if not match:
                        raise no_such_path()
                    cluster = self.api.cluster(*match.group(1, 2, 3))
                    if cluster is None:
                        raise CloseConnection()  # the cluster is gone: its endpoint with it
                    state = self.api.state(cluster)
                    if state.down:
                        raise CloseConnection()
                    identity = self.api.authenticator.identify(cluster, self.headers.get("Authorization"))
                    user = identity.arn
                    status, payload = self.api.serve(
                        state, cluster, identity, self.command, match.group(4) or "/",
                        parse_qs(raw_query, keep_blank_values=True), self.headers, body)
            except ApiError as err:
                status, payload = err.code, err.status()
            except CloseConnection:
                raise
            except Exception:  # noqa: BLE001 - a bug here must not kill the connection silently
                status = 500
                payload = ApiError(500, "InternalError", "an internal error occurred in the emulator").status()
            self._send(status, payload)
        except CloseConnection:
            status = None
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        finally:
            self.api.log(self.command, path, raw_query, user, status)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], context: ssl.SSLContext) -> None:
        self.context = context
        super().__init__(address, _Handler)

    def get_request(self) -> tuple[Any, Any]:
        sock, address = super().get_request()
        # The TLS handshake happens in the request's own thread (_Handler.setup).
        return self.context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False), address

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that hangs up or refuses the certificate is not the server's error


# Installation ------------------------------------------------------------------------------

_API: KubeApi | None = None


def _cluster_init(original: Callable[..., Any], self: Cluster, *args: Any, **kwargs: Any) -> None:
    original(self, *args, **kwargs)
    if _API is not None:
        values = arguments(original, self, args, kwargs)
        self.endpoint = _API.endpoint(values["account_id"], values["region_name"], values["name"])
        self.certificate_authority = {"data": base64.b64encode(_API.certificates.ca_pem).decode()}


def install() -> KubeApi | None:
    """Fix moto's presigned requests (always); with $EKSMGR_EMULATOR_KUBE_PORT set, make the
    certificates and give new clusters this emulator's endpoint and CA.  Idempotent."""
    global _API
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication

    wrap_method(BaseResponse, "get_access_key", _get_access_key)
    wrap_method(DomainDispatcherApplication, "infer_service_region_host", _infer_service_region_host)
    port = os.environ.get(PORT_ENV, "").strip()
    if port and _API is None:
        _API = KubeApi(int(port), Certificates())
    if _API is not None:
        wrap_method(Cluster, "__init__", _cluster_init)
    return _API


def start() -> threading.Thread | None:
    """Serve the API on 127.0.0.1:$EKSMGR_EMULATOR_KUBE_PORT in a daemon thread (after
    install()); does nothing with the variable unset."""
    api = install()
    if api is None:
        return None
    _Handler.api = api
    server = _Server((HOST, api.port), api.certificates.server_context())
    thread = threading.Thread(target=server.serve_forever, name="kube-api", daemon=True)
    thread.start()
    return thread
