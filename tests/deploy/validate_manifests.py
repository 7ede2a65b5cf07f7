#!/usr/bin/env python3
"""Validates the deployment files of deploy/ offline (no cluster, no Spin, no container
engine needed).

* Every document under deploy/kubernetes/ that is not a SpinApp is validated against the
  Kubernetes JSON schemas of KUBERNETES_VERSION (PyPI kubernetes-validate, which bundles
  them; strict: unknown fields are errors).
* The plain manifests of deploy/kubernetes/spin-cli/ (Deployments running the Spin CLI image
  of Containerfile) are checked against Containerfile, deploy/spin-up.sh (its entrypoint)
  and spin.toml: the roles and components the entrypoint runs, image and arguments, the
  environment the image and the script read, spin.toml variables and secret ones taken from
  Secrets, mounts for the runtime config, state, SQLite file and HOME under a read-only
  root file system, probes on /api/v1/health, resources, securityContext, Services, the
  edge's HPA, and one Redis server named alike by runtime configs and redis_host.
* Every `kind: SpinApp` document under deploy/kubernetes/ is validated against the
  `openAPIV3Schema` of the SpinApp CRD in shared/reference/spinkube/, with unknown fields
  refused (as `kubectl apply`'s strict field validation does), then against what the
  operator's webhook enforces (replicas vs enableAutoscaling) and against spin.toml: the
  components and variables it names exist, the edge runs verify-key, kv-proxy and ext-authz only, every required
  variable is set, the Secrets, keys, volumes and claims it refers to are defined.
* Runtime configurations (deploy/runtime-config/*.toml and the `runtime-config.toml` of
  each Secret a SpinApp loads) parse and have the tables Spin expects.
* Other documents get shape checks (apiVersion, kind, metadata.name), and HPAs and Ingresses
  must point at what the operator creates for a SpinApp (a Deployment and a Service named
  after it, port 80).
* A self-check feeds deliberately broken copies to the same checks and fails unless every
  one is refused, so the validation cannot pass by checking nothing. The files with SpinApps
  must say, at their top, that they wait for a shim running Spin 4 (SHIM_MARK).

Exits 1 with one line per problem.
"""

from __future__ import annotations

import base64
import copy
import json
import os
import re
import shlex
import sys
import tomllib
from pathlib import Path, PurePosixPath
from urllib.parse import unquote, urlsplit

import jsonschema
import kubernetes_validate
import yaml

ROOT = Path(__file__).resolve().parents[2]
# shared/ lies beside the checkout (as for scripts/ensure-spin.sh); SPINAPP_CRD overrides.
CRD_CANDIDATES = [
    Path(p)
    for p in [
        os.environ.get("SPINAPP_CRD", ""),
        ROOT.parent / "shared/reference/spinkube/core.spinkube.dev_spinapps.yaml",
    ]
    if str(p)
]
KUBE_DIR = ROOT / "deploy/kubernetes"
RUNTIME_CONFIG_DIR = ROOT / "deploy/runtime-config"
SPIN_TOML = ROOT / "spin.toml"
# The plain Kubernetes manifests: Deployments of the Spin CLI image built from CONTAINERFILE,
# whose entrypoint is SPIN_UP.
PLAIN_DIR = KUBE_DIR / "spin-cli"
CONTAINERFILE = ROOT / "Containerfile"
SPIN_UP = ROOT / "deploy/spin-up.sh"
# The Kubernetes version whose schemas the manifests must satisfy (kubernetes-validate
# bundles 1.25 to 1.37): the oldest minor version the manifests claim to run on.
KUBERNETES_VERSION = "1.30"
IMAGE_REPOSITORY = "api-keys-spin-cli"
HEALTH_PATH = "/api/v1/health"
# What the top comment of a file with SpinApps says while no containerd-shim-spin runs
# wasi:http 0.3.0 (docs/deployment.md).
SHIM_MARK = "Waiting for a shim on Spin 4"

EDGE_COMPONENTS = ["verify-key", "kv-proxy", "ext-authz"]
ADMIN_COMPONENTS = [
    "manage-keys", "manage-permissions", "key-usage", "rebuild-records", "identity", "secret-scanning", "webhooks",
    "admin-ui", "kv-proxy",
]
# Components both roles run: kv-proxy makes the key-value increments of each (verify-key's
# leases and usage on the edge, the public leak report's rate limits on the admin node).
SHARED_COMPONENTS = ["kv-proxy"]
ROLE_LABEL = "app.kubernetes.io/component"
# What the operator creates for a SpinApp (spin-operator internal/controller): a Deployment
# and a ClusterIP Service, both named after the SpinApp, the Service on port 80.
OPERATOR_SERVICE_PORT = 80
RUNTIME_CONFIG_KEY = "runtime-config.toml"
DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
SPIN_VARIABLE_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


# --- The CRD -------------------------------------------------------------------------------


def find_crd() -> Path:
    for path in CRD_CANDIDATES:
        if path.is_file():
            return path
    sys.exit(
        "validate-manifests: SpinApp CRD not found at "
        + " or ".join(str(p) for p in CRD_CANDIDATES)
    )


def strict_schema(node):
    """The CRD schema as JSON Schema: `x-kubernetes-*` extensions dropped, and objects that
    list their properties closed to others (unknown fields are errors, as with kubectl's
    default strict validation; a structural schema prunes them silently otherwise)."""
    if isinstance(node, list):
        return [strict_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {}
    for key, value in node.items():
        if key.startswith("x-kubernetes-"):
            continue
        if key in ("properties", "patternProperties", "definitions"):
            out[key] = {name: strict_schema(sub) for name, sub in value.items()}
        else:
            out[key] = strict_schema(value)
    preserve = node.get("x-kubernetes-preserve-unknown-fields") is True
    if "properties" in node and "additionalProperties" not in node and not preserve:
        out["additionalProperties"] = False
    return out


def int_format_checker() -> jsonschema.FormatChecker:
    """Checks the integer formats of the CRD; other formats (date-time in status) are not
    asserted, as in the API server's validation of spec fields."""
    checker = jsonschema.FormatChecker(formats=())

    @checker.checks("int32")
    def _int32(value):
        return not isinstance(value, int) or -(2**31) <= value < 2**31

    @checker.checks("int64")
    def _int64(value):
        return not isinstance(value, int) or -(2**63) <= value < 2**63

    return checker


class Crd:
    def __init__(self, path: Path):
        docs = [d for d in yaml.safe_load_all(path.read_text()) if d]
        crd = next(d for d in docs if d.get("kind") == "CustomResourceDefinition")
        spec = crd["spec"]
        self.group = spec["group"]
        self.kind = spec["names"]["kind"]
        self.validators = {}
        for version in spec["versions"]:
            if not version.get("served"):
                continue
            schema = strict_schema(version["schema"]["openAPIV3Schema"])
            # Kubernetes structural schemas are an OpenAPI v3.0 subset, whose keywords have
            # JSON Schema draft 4 semantics (e.g. boolean exclusiveMinimum).
            jsonschema.Draft4Validator.check_schema(schema)
            self.validators[f"{self.group}/{version['name']}"] = jsonschema.Draft4Validator(
                schema, format_checker=int_format_checker()
            )
        if not self.validators:
            sys.exit(f"validate-manifests: {path} serves no version")


# --- spin.toml and runtime configurations ----------------------------------------------------


class SpinApp:
    def __init__(self, path: Path):
        manifest = tomllib.loads(path.read_text())
        self.version = manifest.get("application", {}).get("version")
        self.components = manifest.get("component", {})
        self.sources = {c.get("source") for c in self.components.values()}
        self.variables = manifest.get("variables", {})
        self.required_variables = sorted(
            name for name, decl in self.variables.items() if decl.get("required")
        )


def check_runtime_config(text: str, where: str, role: str | None) -> list[str]:
    """Problems of one Spin runtime config. `role`: "edge", "admin" or None (either).
    Keys as Spin 4.1 reads them (crates/key-value-redis, crates/sqlite: the libsql and spin
    tables deny unknown keys)."""
    errors = []
    try:
        config = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        return [f"{where}: not valid TOML: {exc}"]
    kv = config.get("key_value_store", {}).get("default")
    if not isinstance(kv, dict):
        errors.append(f"{where}: no [key_value_store.default] table")
    else:
        if kv.get("type") != "redis":
            errors.append(f"{where}: [key_value_store.default] type must be \"redis\" (shared store)")
        url = kv.get("url")
        if not isinstance(url, str) or not re.match(r"^rediss?://[^/\s]+", url):
            errors.append(f"{where}: [key_value_store.default] url must be redis://… or rediss://…")
        extra = sorted(set(kv) - {"type", "url"})
        if extra:
            errors.append(f"{where}: [key_value_store.default] unknown keys {extra}")
    sqlite = config.get("sqlite_database", {})
    if role == "edge" and sqlite:
        errors.append(f"{where}: an edge runtime config must not configure SQLite (verify-key never opens it)")
    db = sqlite.get("default")
    if db is not None:
        kind = db.get("type")
        keys = set(db) - {"type"}
        if kind == "libsql":
            if keys != {"url", "token"}:
                errors.append(f"{where}: [sqlite_database.default] libsql takes exactly url and token, has {sorted(keys)}")
            if not isinstance(db.get("url"), str) or not re.match(r"^https?://", db.get("url", "")):
                errors.append(f"{where}: libsql url must start with https:// or http:// (Spin speaks HTTP to libSQL)")
            if not isinstance(db.get("token"), str):
                errors.append(f"{where}: libsql token must be a string")
        elif kind == "spin":
            if not keys <= {"path", "allow_attach_file"}:
                errors.append(f"{where}: [sqlite_database.default] spin takes path and allow_attach_file, has {sorted(keys)}")
        else:
            errors.append(f"{where}: [sqlite_database.default] type must be \"spin\" or \"libsql\", is {kind!r}")
    return errors


def safe_toml(text: str) -> dict:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        return {}


def admin_sqlite(text: str) -> dict | None:
    return safe_toml(text).get("sqlite_database", {}).get("default")


def check_runtime_config_files() -> tuple[list[str], int]:
    errors = []
    expected = {
        "redis.toml": None,
        "admin-libsql.toml": "admin",
    }
    for name in expected:
        if not (RUNTIME_CONFIG_DIR / name).is_file():
            errors.append(f"deploy/runtime-config/{name}: missing")
    files = sorted(RUNTIME_CONFIG_DIR.glob("*.toml"))
    for path in files:
        rel = path.relative_to(ROOT)
        text = path.read_text()
        errors += check_runtime_config(text, str(rel), expected.get(path.name))
        if path.name == "redis.toml" and "sqlite_database" in safe_toml(text):
            errors.append(f"{rel}: must configure the key-value store only")
        if path.name == "admin-libsql.toml":
            db = admin_sqlite(text)
            if not db or db.get("type") != "libsql":
                errors.append(f"{rel}: needs [sqlite_database.default] with type = \"libsql\"")
    return errors, len(files)


# --- Kubernetes manifests ---------------------------------------------------------------------


class Doc:
    def __init__(self, path: Path, index: int, body: dict):
        self.path = path
        self.index = index
        self.body = body

    @property
    def where(self) -> str:
        name = (self.body.get("metadata") or {}).get("name", "?") if isinstance(self.body, dict) else "?"
        kind = self.body.get("kind", "?") if isinstance(self.body, dict) else "?"
        return f"{self.path.relative_to(ROOT)}#{self.index} {kind}/{name}"

    @property
    def directory(self) -> Path:
        return self.path.parent


def load_docs() -> tuple[list[Doc], list[str]]:
    docs, errors = [], []
    files = sorted(KUBE_DIR.rglob("*.yaml")) + sorted(KUBE_DIR.rglob("*.yml"))
    if not files:
        errors.append(f"{KUBE_DIR.relative_to(ROOT)}: no manifests")
    for path in files:
        try:
            bodies = list(yaml.safe_load_all(path.read_text()))
        except yaml.YAMLError as exc:
            errors.append(f"{path.relative_to(ROOT)}: not valid YAML: {exc}")
            continue
        for index, body in enumerate(b for b in bodies if b is not None):
            docs.append(Doc(path, index, body))
    return docs, errors


def check_shape(doc: Doc) -> list[str]:
    body = doc.body
    if not isinstance(body, dict):
        return [f"{doc.where}: a document must be a mapping"]
    errors = []
    for key in ("apiVersion", "kind"):
        if not isinstance(body.get(key), str) or not body[key]:
            errors.append(f"{doc.where}: missing {key}")
    metadata = body.get("metadata")
    name = metadata.get("name") if isinstance(metadata, dict) else None
    if not isinstance(name, str) or len(name) > 253 or not DNS_SUBDOMAIN.match(name):
        errors.append(f"{doc.where}: metadata.name must be a DNS subdomain name")
    return errors


def secret_values(body: dict) -> dict[str, str | None]:
    values = {}
    for key, value in (body.get("data") or {}).items():
        try:
            values[key] = base64.b64decode(str(value), validate=True).decode()
        except (ValueError, UnicodeDecodeError):
            values[key] = None
    values.update({k: str(v) for k, v in (body.get("stringData") or {}).items()})
    return values


def secrets_and_claims(docs) -> tuple[dict[str, dict], set[str]]:
    secrets, claims = {}, set()
    for doc in docs:
        body = doc.body if isinstance(doc.body, dict) else {}
        name = (body.get("metadata") or {}).get("name")
        if body.get("kind") == "Secret" and body.get("apiVersion") == "v1":
            secrets[name] = secret_values(body)
        elif body.get("kind") == "PersistentVolumeClaim" and body.get("apiVersion") == "v1":
            claims.add(name)
    return secrets, claims


def kube_schema_errors(doc: Doc) -> list[str]:
    """The document against the Kubernetes schema of its kind (strict: unknown fields are
    errors, as with kubectl's default field validation)."""
    try:
        kubernetes_validate.validate(doc.body, KUBERNETES_VERSION, strict=True)
    except kubernetes_validate.ValidationError as exc:
        path = ".".join(str(p) for p in exc.path) or "(document)"
        return [f"{doc.where}: Kubernetes {KUBERNETES_VERSION} schema: {path}: {exc.message}"]
    except kubernetes_validate.SchemaNotFoundError:
        return [
            f"{doc.where}: Kubernetes {KUBERNETES_VERSION} has no {doc.body.get('kind')} "
            f"in {doc.body.get('apiVersion')}"
        ]
    return []


class Context:
    """Everything a document may refer to, from the whole deploy/kubernetes tree."""

    def __init__(self, docs: list[Doc], crd: Crd, app: SpinApp):
        self.crd = crd
        self.app = app
        self.docs = docs
        self.secrets: dict[str, dict[str, str]] = {}
        self.claims: set[str] = set()
        # The SpinApps' Secrets and claims; spin-cli/ has its own (PlainTree).
        self.secrets, self.claims = secrets_and_claims(d for d in docs if not d.directory.is_relative_to(PLAIN_DIR))

    def spinapps_in(self, directory: Path) -> dict[str, dict]:
        return {
            d.body["metadata"]["name"]: d.body
            for d in self.docs
            if isinstance(d.body, dict)
            and d.body.get("kind") == self.crd.kind
            and d.directory == directory
            and isinstance(d.body.get("metadata"), dict)
        }


def secret_value(ctx: Context, where: str, ref: dict, errors: list[str]) -> str | None:
    name, key = ref.get("name"), ref.get("key")
    if name not in ctx.secrets:
        errors.append(f"{where}: refers to Secret {name!r}, which no manifest defines")
        return None
    if key not in ctx.secrets[name]:
        errors.append(f"{where}: Secret {name!r} has no key {key!r}")
        return None
    return ctx.secrets[name][key]


def check_spinapp(doc: Doc, ctx: Context) -> list[str]:
    body, where = doc.body, doc.where
    errors = check_shape(doc)
    validator = ctx.crd.validators.get(body.get("apiVersion"))
    if body.get("kind") != ctx.crd.kind:
        errors.append(f"{where}: kind must be {ctx.crd.kind}")
    if validator is None:
        errors.append(
            f"{where}: apiVersion {body.get('apiVersion')!r} is not a served version of the CRD "
            f"({', '.join(ctx.crd.validators)})"
        )
        return errors
    schema_errors = sorted(validator.iter_errors(body), key=lambda e: list(e.absolute_path))
    for err in schema_errors:
        path = ".".join(str(p) for p in err.absolute_path) or "(document)"
        errors.append(f"{where}: CRD schema: {path}: {err.message}")
    if schema_errors:
        return errors
    spec = body.get("spec", {})
    labels = body["metadata"].get("labels") or {}

    # What the operator's validating webhook refuses.
    if spec.get("enableAutoscaling") and "replicas" in spec:
        errors.append(f"{where}: replicas cannot be set when enableAutoscaling is true")
    if not spec.get("enableAutoscaling") and spec.get("replicas", 0) < 1:
        errors.append(f"{where}: replicas must be at least 1 (or enableAutoscaling: true)")

    # Components against spin.toml; the two roles of this deployment.
    components = spec.get("components")
    if components is None:
        errors.append(f"{where}: spec.components must be listed (selective deployment)")
        components = []
    for name in components:
        if name not in ctx.app.components:
            errors.append(f"{where}: component {name!r} is not in spin.toml")
    if len(set(components)) != len(components):
        errors.append(f"{where}: a component is listed twice")
    role = labels.get(ROLE_LABEL)
    if role == "edge":
        if components != EDGE_COMPONENTS:
            errors.append(f"{where}: the edge must run {EDGE_COMPONENTS} only, runs {components}")
        for name in components:
            if ctx.app.components.get(name, {}).get("sqlite_databases"):
                errors.append(f"{where}: edge component {name!r} uses SQLite in spin.toml")
    elif role == "admin":
        missing = [c for c in ADMIN_COMPONENTS if c not in components]
        if missing:
            errors.append(f"{where}: the admin node must run {missing} too")
        edge_only = [c for c in EDGE_COMPONENTS if c not in SHARED_COMPONENTS]
        if any(c in components for c in edge_only):
            errors.append(f"{where}: the admin node must not run {edge_only}")
    else:
        errors.append(f"{where}: label {ROLE_LABEL} must be \"edge\" or \"admin\"")

    # Variables against spin.toml; every required one set (Spin refuses to start otherwise,
    # even when no retained component reads it).
    seen = []
    for index, var in enumerate(spec.get("variables", [])):
        vwhere = f"{where}: variables[{index}]"
        name = var["name"]
        seen.append(name)
        if not SPIN_VARIABLE_NAME.match(name) or name not in ctx.app.variables:
            errors.append(f"{vwhere}: {name!r} is not a variable of spin.toml {sorted(ctx.app.variables)}")
        if ("value" in var) == ("valueFrom" in var):
            errors.append(f"{vwhere}: set exactly one of value and valueFrom")
        source = var.get("valueFrom") or {}
        if len(source) > 1:
            errors.append(f"{vwhere}: valueFrom takes one source")
        if "secretKeyRef" in source:
            secret_value(ctx, vwhere, source["secretKeyRef"], errors)
        if ctx.app.variables.get(name, {}).get("secret") and "value" in var and role != "edge":
            errors.append(f"{vwhere}: {name!r} is secret: take it from a Secret (valueFrom.secretKeyRef)")
    if len(set(seen)) != len(seen):
        errors.append(f"{where}: a variable is set twice")
    for name in ctx.app.required_variables:
        if name not in seen:
            errors.append(f"{where}: required variable {name!r} is not set")

    # Runtime configuration: one Secret holding runtime-config.toml.
    runtime_config = spec.get("runtimeConfig", {})
    secret_name = runtime_config.get("loadFromSecret")
    sqlite = None
    if not secret_name:
        errors.append(f"{where}: runtimeConfig.loadFromSecret must name the runtime-config Secret")
    else:
        others = sorted(set(runtime_config) - {"loadFromSecret"})
        if others:
            errors.append(f"{where}: runtimeConfig {others} is ignored by the operator beside loadFromSecret")
        text = secret_value(
            ctx, f"{where}: runtimeConfig.loadFromSecret", {"name": secret_name, "key": RUNTIME_CONFIG_KEY}, errors
        )
        if text is not None:
            errors += check_runtime_config(text, f"{where}: Secret {secret_name}/{RUNTIME_CONFIG_KEY}", role)
            sqlite = admin_sqlite(text)

    # Volumes and mounts.
    volumes = {v["name"]: v for v in spec.get("volumes", [])}
    mounts = spec.get("volumeMounts", [])
    for mount in mounts:
        if mount["name"] not in volumes:
            errors.append(f"{where}: volumeMount {mount['name']!r} names no volume")
    for volume in volumes.values():
        claim = (volume.get("persistentVolumeClaim") or {}).get("claimName")
        if claim is not None and claim not in ctx.claims:
            errors.append(f"{where}: volume {volume['name']!r} claims {claim!r}, which no manifest defines")
        secret = (volume.get("secret") or {}).get("secretName")
        if secret is not None and secret not in ctx.secrets:
            errors.append(f"{where}: volume {volume['name']!r} uses Secret {secret!r}, which no manifest defines")

    # The admin node's SQLite database: on a mounted volume with one replica, or libSQL.
    if role == "admin" and secret_name:
        kind = (sqlite or {}).get("type")
        if kind == "libsql":
            pass
        elif kind == "spin" and isinstance(sqlite.get("path"), str):
            db_path = PurePosixPath(sqlite["path"])
            if not db_path.is_absolute() or not any(
                db_path.is_relative_to(PurePosixPath(m["mountPath"])) for m in mounts
            ):
                errors.append(
                    f"{where}: SQLite path {sqlite['path']} is not on a mounted volume (lost on restart)"
                )
            if spec.get("enableAutoscaling") or spec.get("replicas") != 1:
                errors.append(f"{where}: a local SQLite database allows replicas: 1 only (or use libSQL)")
        elif kind is None:
            errors.append(
                f"{where}: the admin runtime config needs [sqlite_database.default] (a path on a volume, "
                "or libSQL): the pod's default database is lost on restart"
            )
    return errors


def check_hpa(doc: Doc, ctx: Context) -> list[str]:
    errors = check_shape(doc)
    spec = doc.body.get("spec") or {}
    target = spec.get("scaleTargetRef") or {}
    if target.get("apiVersion") != "apps/v1" or target.get("kind") != "Deployment":
        errors.append(f"{doc.where}: scaleTargetRef must be the apps/v1 Deployment the operator creates")
    app = ctx.spinapps_in(doc.directory).get(target.get("name"))
    if app is None:
        errors.append(f"{doc.where}: scaleTargetRef names no SpinApp of {doc.directory.relative_to(ROOT)}")
    elif not app.get("spec", {}).get("enableAutoscaling"):
        errors.append(f"{doc.where}: SpinApp {target.get('name')} must set enableAutoscaling: true")
    elif any((m.get("resource") or {}).get("name") == "cpu" for m in spec.get("metrics", [])):
        if "cpu" not in ((app["spec"].get("resources") or {}).get("requests") or {}):
            errors.append(f"{doc.where}: CPU utilization needs resources.requests.cpu on the SpinApp")
    low, high = spec.get("minReplicas", 1), spec.get("maxReplicas")
    if not isinstance(high, int) or not isinstance(low, int) or not 1 <= low <= high:
        errors.append(f"{doc.where}: needs 1 <= minReplicas <= maxReplicas")
    return errors


def check_ingress(doc: Doc, ctx: Context) -> list[str]:
    errors = check_shape(doc)
    apps = ctx.spinapps_in(doc.directory)
    for rule in (doc.body.get("spec") or {}).get("rules", []):
        for path in (rule.get("http") or {}).get("paths", []):
            service = (path.get("backend") or {}).get("service") or {}
            if service.get("name") not in apps:
                errors.append(f"{doc.where}: backend {service.get('name')!r} is not a SpinApp's Service")
            if (service.get("port") or {}).get("number") != OPERATOR_SERVICE_PORT:
                errors.append(f"{doc.where}: the operator's Service listens on port {OPERATOR_SERVICE_PORT}")
    return errors


def check_secret(doc: Doc) -> list[str]:
    errors = check_shape(doc)
    for field in ("data", "stringData"):
        values = doc.body.get(field)
        if values is not None and (
            not isinstance(values, dict) or not all(isinstance(v, str) for v in values.values())
        ):
            errors.append(f"{doc.where}: {field} must map keys to strings")
    return errors


def check_document(doc: Doc, ctx: Context) -> list[str]:
    if not isinstance(doc.body, dict):
        return check_shape(doc)
    kind = doc.body.get("kind")
    if kind == ctx.crd.kind or str(doc.body.get("apiVersion", "")).startswith(ctx.crd.group + "/"):
        return check_spinapp(doc, ctx)
    errors = check_shape(doc)
    if errors:
        return errors
    errors = kube_schema_errors(doc)
    if errors:
        return errors
    if doc.directory.is_relative_to(PLAIN_DIR):
        return []  # check_plain: these refer to Deployments, not SpinApps
    if kind == "HorizontalPodAutoscaler":
        return check_hpa(doc, ctx)
    if kind == "Ingress":
        return check_ingress(doc, ctx)
    if kind == "Secret":
        return check_secret(doc)
    return []


def check_tree(docs: list[Doc], ctx: Context) -> list[str]:
    errors = []
    for doc in docs:
        errors += check_document(doc, ctx)
    names: dict[tuple, Doc] = {}
    for doc in docs:
        if not isinstance(doc.body, dict):
            continue
        key = (doc.directory, doc.body.get("kind"), (doc.body.get("metadata") or {}).get("name"))
        if key in names:
            errors.append(f"{doc.where}: defined twice in {doc.directory.relative_to(ROOT)}")
        names[key] = doc
    # Every component of spin.toml runs on some node of the base deployment.
    deployed = {c for app in ctx.spinapps_in(KUBE_DIR).values() for c in app.get("spec", {}).get("components", [])}
    for name in ctx.app.components:
        if name not in deployed:
            errors.append(f"{KUBE_DIR.relative_to(ROOT)}: spin.toml component {name!r} runs on no SpinApp")
    # The SpinApp files say that they wait for a shim (docs/deployment.md).
    for path in sorted({d.path for d in docs if isinstance(d.body, dict) and d.body.get("kind") == ctx.crd.kind}):
        head = "".join(line for line in path.read_text().splitlines(keepends=True)[:12] if line.startswith("#"))
        if SHIM_MARK not in head:
            errors.append(f"{path.relative_to(ROOT)}: its top comment must say {SHIM_MARK!r}")
    return errors


# --- The Spin CLI image and the plain Kubernetes manifests ------------------------------------


class Containerfile:
    """What the checks need of Containerfile: the final stage's ENTRYPOINT, ENV, USER and
    EXPOSE, and the files copied from the build context."""

    def __init__(self, text: str):
        logical, current = [], ""
        for line in text.splitlines():
            if not current and (not line.strip() or line.lstrip().startswith("#")):
                continue
            if line.rstrip().endswith("\\"):
                current += line.rstrip()[:-1] + " "
                continue
            logical.append(current + line)
            current = ""
        stages: list[list[tuple[str, str]]] = [[]]
        for line in logical:
            instruction, _, rest = line.strip().partition(" ")
            instruction = instruction.upper()
            if instruction == "FROM":
                stages.append([])
            stages[-1].append((instruction, rest.strip()))
        final = stages[-1]
        self.entrypoint = None
        self.env: dict[str, str] = {}
        self.user = None
        self.exposed: set[str] = set()
        for instruction, rest in final:
            if instruction == "ENTRYPOINT":
                try:
                    self.entrypoint = json.loads(rest)
                except json.JSONDecodeError:
                    self.entrypoint = rest  # shell form: refused by check_containerfile
            elif instruction == "ENV":
                for word in shlex.split(rest):
                    name, _, value = word.partition("=")
                    self.env[name] = value
            elif instruction == "USER":
                self.user = rest
            elif instruction == "EXPOSE":
                self.exposed.update(p.split("/")[0] for p in rest.split())
        # Sources of COPY/ADD from the build context (not --from another stage), any stage.
        self.copied: set[str] = set()
        for stage in stages:
            for instruction, rest in stage:
                if instruction not in ("COPY", "ADD"):
                    continue
                words = shlex.split(rest)
                if any(w.startswith("--from") for w in words):
                    continue
                paths = [w for w in words if not w.startswith("--")]
                self.copied.update(p.rstrip("/") for p in paths[:-1])

    @property
    def uid(self) -> int | None:
        user = (self.user or "").split(":")[0]
        return int(user) if user.isdigit() else None


def spin_up_roles(text: str) -> dict[str, list[str]]:
    """The roles of deploy/spin-up.sh's `case` and the components (`-c`) each one runs."""
    roles = {}
    for match in re.finditer(r"^\s*([a-z][a-z0-9-]*)\)\s*\n\s*COMPONENTS=\(([^)]*)\)", text, re.M):
        words = match.group(2).split()
        roles[match.group(1)] = [words[i + 1] for i in range(0, len(words) - 1, 2) if words[i] == "-c"]
    return roles


def spin_up_env(text: str) -> set[str]:
    """The environment variables deploy/spin-up.sh reads: those it expands with a default or
    as optional (`${NAME:-...}`); its own arrays are expanded without one."""
    return set(re.findall(r"\$\{([A-Z][A-Z0-9_]*):", text))


def check_containerfile(image: Containerfile, app: SpinApp, roles: dict[str, list[str]]) -> list[str]:
    where = CONTAINERFILE.relative_to(ROOT)
    errors = []
    entry = image.entrypoint
    if not (isinstance(entry, list) and len(entry) == 1 and str(entry[0]).endswith("/deploy/spin-up.sh")):
        errors.append(f"{where}: ENTRYPOINT must be ['.../deploy/spin-up.sh'] (exec form, the role as argument), is {entry!r}")
    if "deploy/spin-up.sh" not in image.copied:
        errors.append(f"{where}: does not copy deploy/spin-up.sh, its entrypoint")
    wasm = {p for p in image.copied if p.endswith(".wasm")}
    if app.sources - wasm:
        errors.append(f"{where}: does not copy {sorted(app.sources - wasm)}, components of spin.toml")
    if wasm - app.sources:
        errors.append(f"{where}: copies {sorted(wasm - app.sources)}, which spin.toml does not name")
    if not image.uid:
        errors.append(f"{where}: USER must be a numeric non-root uid (runAsNonRoot needs one), is {image.user!r}")
    for name in ("LISTEN", "RUNTIME_CONFIG", "STATE_DIR"):
        if not image.env.get(name):
            errors.append(f"{where}: ENV {name} (read by deploy/spin-up.sh) must be set")
    port = listen_port(image.env.get("LISTEN", ""))
    if port is None or not image.env.get("LISTEN", "").startswith("0.0.0.0:"):
        errors.append(f"{where}: ENV LISTEN must be 0.0.0.0:<port> (reachable from outside the pod)")
    elif str(port) not in image.exposed:
        errors.append(f"{where}: EXPOSE {port} (LISTEN's port) is missing")
    # The roles deploy/spin-up.sh offers, against spin.toml.
    spin_up = SPIN_UP.relative_to(ROOT)
    if sorted(roles) != ["admin", "edge"]:
        errors.append(f"{spin_up}: roles must be admin and edge, are {sorted(roles)}")
    for role, components in roles.items():
        for name in components:
            if name not in app.components:
                errors.append(f"{spin_up}: {role} runs {name!r}, which is not in spin.toml")
    if roles.get("edge") is not None and roles["edge"] != EDGE_COMPONENTS:
        errors.append(f"{spin_up}: the edge must run {EDGE_COMPONENTS} only, runs {roles['edge']}")
    missing = [c for c in ADMIN_COMPONENTS if c not in roles.get("admin", [])]
    if missing:
        errors.append(f"{spin_up}: the admin node must run {missing} too")
    shared = set(roles.get("admin", [])) & set(roles.get("edge", []))
    if shared - set(SHARED_COMPONENTS):
        errors.append(f"{spin_up}: a component runs on both roles: {sorted(shared)}")
    for name in app.components:
        if not any(name in components for components in roles.values()):
            errors.append(f"{spin_up}: spin.toml component {name!r} runs in no role")
    return errors


def listen_port(listen: str) -> int | None:
    match = re.fullmatch(r"[^\s]*:(\d{1,5})", listen or "")
    return int(match.group(1)) if match else None


def under(path: str, mounts: list[dict]) -> dict | None:
    """The volumeMount `path` lies on (the deepest one), if any."""
    found = None
    for mount in mounts:
        root = PurePosixPath(mount.get("mountPath", "/nonexistent"))
        if PurePosixPath(path).is_relative_to(root):
            if found is None or len(root.parts) > len(PurePosixPath(found["mountPath"]).parts):
                found = mount
    return found


def labels_match(selector: dict, labels: dict) -> bool:
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


class PlainTree:
    """The documents of deploy/kubernetes/spin-cli, by kind and name, and what they share."""

    def __init__(self, docs: list[Doc], app: SpinApp, image: Containerfile, roles: dict[str, list[str]], script_env: set[str]):
        self.app, self.image, self.roles, self.script_env = app, image, roles, script_env
        self.docs = [d for d in docs if d.directory.is_relative_to(PLAIN_DIR) and isinstance(d.body, dict)]
        self.by_kind: dict[str, dict[str, Doc]] = {}
        for doc in self.docs:
            name = (doc.body.get("metadata") or {}).get("name")
            self.by_kind.setdefault(doc.body.get("kind"), {})[name] = doc
        self.secrets, self.claims = secrets_and_claims(self.docs)

    def kind(self, kind: str) -> dict[str, Doc]:
        return self.by_kind.get(kind, {})

    def workloads(self) -> dict[str, Doc]:
        return {**self.kind("Deployment"), **self.kind("StatefulSet")}


def pod_spec(doc: Doc) -> dict:
    return ((doc.body.get("spec") or {}).get("template") or {}).get("spec") or {}


def named_port(container: dict, port) -> int | None:
    """The container port a probe or Service names (by name or number)."""
    for p in container.get("ports") or []:
        if port == p.get("name") or port == p.get("containerPort"):
            return p.get("containerPort")
    return None


def check_refs(where: str, spec: dict, tree: PlainTree, errors: list[str], claim_templates=()) -> dict[str, dict]:
    """Volumes, mounts and secretKeyRefs of a pod spec against the documents of spin-cli/
    (`claim_templates`: a StatefulSet's volumeClaimTemplates, volumes too)."""
    volumes = {v.get("name"): v for v in spec.get("volumes") or []}
    templates = {(t.get("metadata") or {}).get("name") for t in claim_templates}
    for container in spec.get("containers") or []:
        for mount in container.get("volumeMounts") or []:
            if mount.get("name") not in volumes and mount.get("name") not in templates:
                errors.append(f"{where}: volumeMount {mount.get('name')!r} names no volume")
        for env in container.get("env") or []:
            ref = (env.get("valueFrom") or {}).get("secretKeyRef")
            if ref is not None:
                secret_value(tree, f"{where}: env {env.get('name')}", ref, errors)
    for volume in volumes.values():
        claim = (volume.get("persistentVolumeClaim") or {}).get("claimName")
        if claim is not None and claim not in tree.claims:
            errors.append(f"{where}: volume {volume.get('name')!r} claims {claim!r}, which no manifest of spin-cli/ defines")
        secret = volume.get("secret")
        if secret is not None:
            name = secret.get("secretName")
            if name not in tree.secrets:
                errors.append(f"{where}: volume {volume.get('name')!r} uses Secret {name!r}, which no manifest of spin-cli/ defines")
            else:
                for item in secret.get("items") or []:
                    if item.get("key") not in tree.secrets[name]:
                        errors.append(f"{where}: volume {volume.get('name')!r}: Secret {name!r} has no key {item.get('key')!r}")
    return volumes


def mounted_secret_file(path: str, mounts: list[dict], volumes: dict[str, dict], tree: PlainTree) -> str | None:
    """The text a Secret volume puts at `path`, or None."""
    mount = under(path, mounts)
    if mount is None:
        return None
    secret = (volumes.get(mount.get("name")) or {}).get("secret")
    if secret is None or secret.get("secretName") not in tree.secrets:
        return None
    relative = str(PurePosixPath(path).relative_to(mount["mountPath"]))
    items = secret.get("items")
    key = next((i.get("key") for i in items if i.get("path") == relative), None) if items else relative
    return tree.secrets[secret["secretName"]].get(key)


def check_deployment(doc: Doc, tree: PlainTree, autoscaled: bool) -> list[str]:
    where, body, app, image = doc.where, doc.body, tree.app, tree.image
    errors = []
    spec = body.get("spec") or {}
    template_labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
    role = (body.get("metadata", {}).get("labels") or {}).get(ROLE_LABEL)
    if role not in tree.roles or template_labels.get(ROLE_LABEL) != role:
        errors.append(f"{where}: label {ROLE_LABEL} (on the Deployment and its pods) must be a role of deploy/spin-up.sh {sorted(tree.roles)}")
    if not labels_match((spec.get("selector") or {}).get("matchLabels") or {}, template_labels):
        errors.append(f"{where}: selector.matchLabels must select the pod template's labels")
    pod = pod_spec(doc)
    containers = pod.get("containers") or []
    if len(containers) != 1:
        errors.append(f"{where}: one container (Spin), has {len(containers)}")
        return errors
    container = containers[0]

    # Image and arguments: the Containerfile's entrypoint with the role.
    ref = str(container.get("image", ""))
    name, _, tag = ref.rpartition(":")
    if name.rsplit("/", 1)[-1] != IMAGE_REPOSITORY or tag != app.version:
        errors.append(f"{where}: image must be <registry>/{IMAGE_REPOSITORY}:{app.version} (spin.toml's version), is {ref!r}")
    if "command" in container:
        errors.append(f"{where}: must not set command: the image's ENTRYPOINT is deploy/spin-up.sh")
    if container.get("args") != [role]:
        errors.append(f"{where}: args must be [{role!r}] (deploy/spin-up.sh's role), are {container.get('args')!r}")

    # Environment: what the image and deploy/spin-up.sh read, and spin.toml's variables.
    effective = dict(image.env)
    names = []
    for env in container.get("env") or []:
        ename = env.get("name", "")
        names.append(ename)
        if ("value" in env) == ("valueFrom" in env):
            errors.append(f"{where}: env {ename}: set exactly one of value and valueFrom")
        if ename.startswith("SPIN_VARIABLE_"):
            variable = ename.removeprefix("SPIN_VARIABLE_").lower()
            if variable not in app.variables:
                errors.append(f"{where}: env {ename}: {variable!r} is not a variable of spin.toml")
            elif app.variables[variable].get("secret") and "value" in env:
                errors.append(f"{where}: env {ename}: {variable!r} is secret: take it from a Secret (valueFrom.secretKeyRef)")
        elif ename not in tree.script_env and ename not in image.env:
            errors.append(f"{where}: env {ename}: read by neither deploy/spin-up.sh nor the image")
        if "value" in env:
            effective[ename] = str(env["value"])
        elif "valueFrom" in env:
            effective[ename] = None  # set, from elsewhere
    if len(set(names)) != len(names):
        errors.append(f"{where}: an environment variable is set twice")
    identity = [n for n in names if n.startswith("SPIN_VARIABLE_IDENTITY_")]
    if role == "admin" and not any(
        effective.get(n, "") != "" for n in ("SPIN_VARIABLE_IDENTITY_JWKS_URL", "SPIN_VARIABLE_IDENTITY_JWKS", "SPIN_VARIABLE_IDENTITY_TOKEN_SECRET")
    ):
        errors.append(f"{where}: the admin node needs SPIN_VARIABLE_IDENTITY_JWKS_URL or _TOKEN_SECRET (deploy/spin-up.sh refuses to start)")
    if role == "edge" and identity:
        errors.append(f"{where}: the edge checks no identity token: {identity} belong on the admin node")
    cache = effective.get("SPIN_VARIABLE_VERIFY_CACHE_MS")
    if cache is not None and not (cache.isdigit() and int(cache) <= 5000):
        errors.append(f"{where}: SPIN_VARIABLE_VERIFY_CACHE_MS must be 0..5000 (deploy/spin-up.sh refuses to start)")

    # Port and probes.
    port = listen_port(effective.get("LISTEN") or "")
    http = next((p for p in container.get("ports") or [] if p.get("name") == "http"), None)
    if http is None or http.get("containerPort") != port:
        errors.append(f"{where}: container port `http` must be LISTEN's port {port}")
    readiness = container.get("readinessProbe") or {}
    get = readiness.get("httpGet") or {}
    if get.get("path") != HEALTH_PATH or named_port(container, get.get("port")) != port:
        errors.append(f"{where}: readinessProbe must GET {HEALTH_PATH} on LISTEN's port")
    liveness = container.get("livenessProbe")
    if not liveness:
        errors.append(f"{where}: needs a livenessProbe")
    elif (liveness.get("httpGet") or {}).get("path") == HEALTH_PATH:
        errors.append(f"{where}: livenessProbe must not use {HEALTH_PATH}: it answers 503 during a store outage, and a restart cures nothing")
    for kind in ("livenessProbe", "startupProbe"):
        probe = container.get(kind) or {}
        target = (probe.get("tcpSocket") or probe.get("httpGet") or {}).get("port")
        if probe and named_port(container, target) != port:
            errors.append(f"{where}: {kind} must target LISTEN's port {port}")

    # Resources and security.
    resources = container.get("resources") or {}
    for kind, key in (("requests", "cpu"), ("requests", "memory"), ("limits", "memory")):
        if key not in (resources.get(kind) or {}):
            errors.append(f"{where}: resources.{kind}.{key} must be set")
    pod_security = pod.get("securityContext") or {}
    security = container.get("securityContext") or {}
    if pod_security.get("runAsNonRoot") is not True:
        errors.append(f"{where}: securityContext.runAsNonRoot must be true")
    if image.uid and pod_security.get("runAsUser", image.uid) != image.uid:
        errors.append(f"{where}: runAsUser must be the image's user {image.uid}")
    if security.get("allowPrivilegeEscalation") is not False:
        errors.append(f"{where}: allowPrivilegeEscalation must be false")
    if "ALL" not in ((security.get("capabilities") or {}).get("drop") or []):
        errors.append(f"{where}: capabilities.drop must include ALL")
    if security.get("readOnlyRootFilesystem") is not True:
        errors.append(f"{where}: readOnlyRootFilesystem must be true (the volumes below take every write)")

    # Mounts: the runtime config from a Secret; writable state and HOME.
    mounts = container.get("volumeMounts") or []
    volumes = check_refs(where, pod, tree, errors)
    runtime_config = effective.get("RUNTIME_CONFIG") or ""
    text = mounted_secret_file(runtime_config, mounts, volumes, tree)
    if text is None:
        errors.append(f"{where}: RUNTIME_CONFIG {runtime_config} must be a mounted Secret key")
    else:
        errors += check_runtime_config(text, f"{where}: {runtime_config}", role if role in ("admin", "edge") else None)
    for name in ("STATE_DIR", "HOME"):
        path = effective.get(name) or ""
        mount = under(path, mounts)
        if mount is None or mount.get("readOnly"):
            errors.append(f"{where}: {name} {path or '(unset)'} must be on a writable volume (the root file system is read-only)")

    # The admin node's SQLite database: on a claimed volume with one replica, or libSQL.
    sqlite = admin_sqlite(text or "") or {}
    replicas = spec.get("replicas")
    if role == "admin" and sqlite.get("type") != "libsql":
        path = sqlite.get("path") if sqlite.get("type") == "spin" else None
        path = path or str(PurePosixPath(effective.get("STATE_DIR") or "/") / "sqlite_db.db")
        mount = under(path, mounts)
        if mount is None or "persistentVolumeClaim" not in (volumes.get(mount.get("name")) or {}):
            errors.append(f"{where}: the SQLite file {path} must be on a PersistentVolumeClaim (lost on restart otherwise)")
        if replicas != 1 or autoscaled:
            errors.append(f"{where}: a local SQLite database allows replicas: 1 only (or use libSQL)")
        if (spec.get("strategy") or {}).get("type") != "Recreate":
            errors.append(f"{where}: strategy must be Recreate (one writer; the new pod needs the old one's volume)")
    if autoscaled and replicas is not None:
        errors.append(f"{where}: an HPA sets the replicas: leave spec.replicas out (each apply would reset it)")

    # Both nodes name the same Redis: the runtime config's URL, and redis_host/redis_password.
    if text is not None and effective.get("SPIN_VARIABLE_KV_BACKEND") == "redis":
        url = urlsplit(str((safe_toml(text).get("key_value_store", {}).get("default") or {}).get("url", "")))
        host = effective.get("SPIN_VARIABLE_REDIS_HOST", "127.0.0.1:6379")
        if host is not None and f"{url.hostname}:{url.port or 6379}" != host:
            errors.append(f"{where}: SPIN_VARIABLE_REDIS_HOST {host} is not the runtime config's Redis {url.hostname}:{url.port or 6379}")
        password_ref = next(
            ((e.get("valueFrom") or {}).get("secretKeyRef") for e in container.get("env") or []
             if e.get("name") == "SPIN_VARIABLE_REDIS_PASSWORD"), None,
        )
        if password_ref and url.password is not None:
            value = tree.secrets.get(password_ref.get("name"), {}).get(password_ref.get("key"))
            if value is not None and value != unquote(url.password):
                errors.append(f"{where}: the runtime config's Redis password is not the one SPIN_VARIABLE_REDIS_PASSWORD takes")
    return errors


def check_plain(tree: PlainTree) -> list[str]:
    """The manifests of deploy/kubernetes/spin-cli against each other, Containerfile,
    deploy/spin-up.sh and spin.toml (their schemas are checked by check_document)."""
    where_dir = PLAIN_DIR.relative_to(ROOT)
    errors = []
    hpas = tree.kind("HorizontalPodAutoscaler")
    autoscaled = {((h.body.get("spec") or {}).get("scaleTargetRef") or {}).get("name") for h in hpas.values()}
    deployments = tree.kind("Deployment")
    by_role = {}
    for name, doc in deployments.items():
        errors += check_deployment(doc, tree, name in autoscaled)
        role = (doc.body.get("metadata", {}).get("labels") or {}).get(ROLE_LABEL)
        by_role.setdefault(role, []).append(name)
    for role in ("admin", "edge"):
        if len(by_role.get(role, [])) != 1:
            errors.append(f"{where_dir}: one Deployment of role {role}, has {by_role.get(role, [])}")
    deployed = {c for d in deployments.values() for c in tree.roles.get(((pod_spec(d).get("containers") or [{}])[0].get("args") or [""])[0], [])}
    for name in tree.app.components:
        if name not in deployed:
            errors.append(f"{where_dir}: spin.toml component {name!r} runs on no Deployment")

    # Services select one workload and reach one of its ports; the nodes' Services have
    # the names and port ../ingress.yaml uses.
    for name, doc in tree.kind("Service").items():
        spec = doc.body.get("spec") or {}
        selected = [
            w for w in tree.workloads().values()
            if labels_match(spec.get("selector") or {}, ((w.body.get("spec") or {}).get("template") or {}).get("metadata", {}).get("labels") or {})
        ]
        if len(selected) != 1:
            errors.append(f"{doc.where}: selector must match the pods of one Deployment or StatefulSet, matches {len(selected)}")
            continue
        container = (pod_spec(selected[0]).get("containers") or [{}])[0]
        for port in spec.get("ports") or []:
            target = port.get("targetPort", port.get("port"))
            if named_port(container, target) is None:
                errors.append(f"{doc.where}: port {port.get('port')} targets {target!r}, no port of {selected[0].where}")
        role = (selected[0].body.get("metadata", {}).get("labels") or {}).get(ROLE_LABEL)
        if selected[0].body.get("kind") == "Deployment" and (
            name != f"api-keys-{role}" or [p.get("port") for p in spec.get("ports") or []] != [OPERATOR_SERVICE_PORT]
        ):
            errors.append(f"{doc.where}: the {role} Service must be api-keys-{role} on port {OPERATOR_SERVICE_PORT} (../ingress.yaml)")

    # The HPA scales the edge only.
    for doc in hpas.values():
        spec = doc.body.get("spec") or {}
        target = spec.get("scaleTargetRef") or {}
        deployment = deployments.get(target.get("name"))
        if target.get("apiVersion") != "apps/v1" or target.get("kind") != "Deployment" or deployment is None:
            errors.append(f"{doc.where}: scaleTargetRef must name an apps/v1 Deployment of {where_dir}")
            continue
        if (deployment.body.get("metadata", {}).get("labels") or {}).get(ROLE_LABEL) != "edge":
            errors.append(f"{doc.where}: only the edge scales out (the admin node has one SQLite writer)")
        if any((m.get("resource") or {}).get("name") == "cpu" for m in spec.get("metrics") or []):
            container = (pod_spec(deployment).get("containers") or [{}])[0]
            if "cpu" not in ((container.get("resources") or {}).get("requests") or {}):
                errors.append(f"{doc.where}: CPU utilization needs resources.requests.cpu on {deployment.where}")
        low, high = spec.get("minReplicas", 1), spec.get("maxReplicas")
        if not isinstance(high, int) or not isinstance(low, int) or not 1 <= low <= high:
            errors.append(f"{doc.where}: needs 1 <= minReplicas <= maxReplicas")

    # The example Redis: its governing Service, Secrets, and the nodes' host naming it.
    for doc in tree.kind("StatefulSet").values():
        spec = doc.body.get("spec") or {}
        template_labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
        if spec.get("serviceName") not in tree.kind("Service"):
            errors.append(f"{doc.where}: serviceName {spec.get('serviceName')!r} is no Service of {where_dir}")
        if not labels_match((spec.get("selector") or {}).get("matchLabels") or {}, template_labels):
            errors.append(f"{doc.where}: selector.matchLabels must select the pod template's labels")
        check_refs(doc.where, pod_spec(doc), tree, errors, spec.get("volumeClaimTemplates") or [])
        for deployment in deployments.values():
            container = (pod_spec(deployment).get("containers") or [{}])[0]
            host = next((e.get("value") for e in container.get("env") or [] if e.get("name") == "SPIN_VARIABLE_REDIS_HOST"), None)
            service = tree.kind("Service").get(str(host or "").split(".")[0].split(":")[0])
            if host and service is not None and str(host).rsplit(":", 1)[-1] not in {
                str(p.get("port")) for p in (service.body.get("spec") or {}).get("ports") or []
            }:
                errors.append(f"{deployment.where}: SPIN_VARIABLE_REDIS_HOST {host}: Service {service.body['metadata']['name']} has no such port")
    return errors


def self_check_plain(docs: list[Doc], tree: PlainTree) -> tuple[list[str], int]:
    """Broken copies of the plain manifests, of Containerfile and of deploy/spin-up.sh's
    roles; each must be refused."""

    def find(kind: str, name: str) -> Doc:
        return tree.kind(kind)[name]

    def container(body: dict) -> dict:
        return body["spec"]["template"]["spec"]["containers"][0]

    def env(body: dict, name: str) -> dict:
        return next(e for e in container(body)["env"] if e["name"] == name)

    admin, edge = find("Deployment", "api-keys-admin"), find("Deployment", "api-keys-edge")
    cases = {
        "an unknown field in a container": (edge, lambda b: container(b).update(port=8080)),
        "replicas as a string": (admin, lambda b: b["spec"].update(replicas="1")),
        "an apiVersion Kubernetes does not serve": (edge, lambda b: b.update(apiVersion="apps/v1beta1")),
        "the readiness probe on another path": (edge, lambda b: container(b)["readinessProbe"]["httpGet"].update(path="/healthz")),
        "the readiness probe on another port": (admin, lambda b: container(b)["readinessProbe"]["httpGet"].update(port=3000)),
        "a liveness probe on the health route": (
            edge, lambda b: container(b).update(livenessProbe={"httpGet": {"path": HEALTH_PATH, "port": "http"}}),
        ),
        "a role deploy/spin-up.sh does not know": (edge, lambda b: container(b).update(args=["gateway"])),
        "the edge's pods labelled admin": (edge, lambda b: b["spec"]["template"]["metadata"]["labels"].update({ROLE_LABEL: "admin"})),
        "a command replacing the entrypoint": (edge, lambda b: container(b).update(command=["spin", "up"])),
        "an image of another version": (edge, lambda b: container(b).update(image=f"ghcr.io/ingeneo/{IMAGE_REPOSITORY}:9.9.9")),
        "a variable not in spin.toml": (admin, lambda b: container(b)["env"].append({"name": "SPIN_VARIABLE_NO_SUCH", "value": "x"})),
        "an environment variable nothing reads": (edge, lambda b: container(b)["env"].append({"name": "LISTEN_ADDR", "value": "x"})),
        "the Redis password as a plain value": (
            edge, lambda b: env(b, "SPIN_VARIABLE_REDIS_PASSWORD").update(value="x") or env(b, "SPIN_VARIABLE_REDIS_PASSWORD").pop("valueFrom"),
        ),
        "a secretKeyRef to a missing Secret": (
            admin, lambda b: env(b, "SPIN_VARIABLE_IDENTITY_TOKEN_SECRET")["valueFrom"]["secretKeyRef"].update(name="no-such-secret"),
        ),
        "an admin node without identity": (
            admin, lambda b: container(b).update(env=[e for e in container(b)["env"] if not e["name"].startswith("SPIN_VARIABLE_IDENTITY_")]),
        ),
        "identity variables on the edge": (edge, lambda b: container(b)["env"].append({"name": "SPIN_VARIABLE_IDENTITY_JWKS_URL", "value": "https://x"})),
        "verify_cache_ms out of range": (edge, lambda b: container(b)["env"].append({"name": "SPIN_VARIABLE_VERIFY_CACHE_MS", "value": "9000"})),
        "two admin replicas on local SQLite": (admin, lambda b: b["spec"].update(replicas=2)),
        "a rolling update of the admin node": (admin, lambda b: b["spec"].update(strategy={"type": "RollingUpdate"})),
        "the SQLite volume as an emptyDir": (
            admin, lambda b: [v.update(emptyDir={}) or v.pop("persistentVolumeClaim") for v in b["spec"]["template"]["spec"]["volumes"] if v["name"] == "data"],
        ),
        "no runtime-config mount": (
            edge, lambda b: container(b).update(volumeMounts=[m for m in container(b)["volumeMounts"] if m["name"] != "runtime-config"]),
        ),
        "the edge's runtime config from the admin's Secret (SQLite)": (
            edge, lambda b: [v["secret"].update(secretName="api-keys-runtime-config-admin") for v in b["spec"]["template"]["spec"]["volumes"] if "secret" in v],
        ),
        "no writable HOME": (edge, lambda b: container(b).update(volumeMounts=[m for m in container(b)["volumeMounts"] if m["name"] != "tmp"])),
        "a writable root file system": (edge, lambda b: container(b)["securityContext"].update(readOnlyRootFilesystem=False)),
        "no runAsNonRoot": (edge, lambda b: b["spec"]["template"]["spec"]["securityContext"].pop("runAsNonRoot")),
        "no memory limit": (admin, lambda b: container(b)["resources"]["limits"].pop("memory")),
        "replicas beside the HPA": (edge, lambda b: b["spec"].update(replicas=3)),
        "redis_host naming another server": (edge, lambda b: env(b, "SPIN_VARIABLE_REDIS_HOST").update(value="redis.other.svc.cluster.local:6380")),
        "a container port that is not LISTEN's": (edge, lambda b: container(b)["ports"][0].update(containerPort=80)),
        "the Service to a port the pod lacks": (find("Service", "api-keys-edge"), lambda b: b["spec"]["ports"][0].update(targetPort="web")),
        "the HPA on the admin node": (
            find("HorizontalPodAutoscaler", "api-keys-edge"), lambda b: b["spec"]["scaleTargetRef"].update(name="api-keys-admin"),
        ),
        "the HPA with minReplicas over maxReplicas": (find("HorizontalPodAutoscaler", "api-keys-edge"), lambda b: b["spec"].update(minReplicas=20)),
        "the Redis StatefulSet without its Service": (find("StatefulSet", "redis"), lambda b: b["spec"].update(serviceName="no-such-service")),
    }
    problems = []
    for label, (doc, change) in cases.items():
        body = copy.deepcopy(doc.body)
        change(body)
        broken = Doc(doc.path, doc.index, body)
        mutated = [broken if d is doc else d for d in docs]
        mutated_tree = PlainTree(mutated, tree.app, tree.image, tree.roles, tree.script_env)
        if not (kube_schema_errors(broken) or check_plain(mutated_tree)):
            problems.append(f"self-check: the validator accepted spin-cli/ with {label}")

    image_cases = {
        "a Containerfile missing a component": lambda i: i.copied.discard(next(iter(sorted(tree.app.sources)))),
        "a Containerfile running as root": lambda i: setattr(i, "user", "0"),
        "a Containerfile with a shell-form entrypoint": lambda i: setattr(i, "entrypoint", "/app/deploy/spin-up.sh"),
        "a Containerfile listening on loopback": lambda i: i.env.update(LISTEN="127.0.0.1:8080"),
    }
    for label, change in image_cases.items():
        image = copy.deepcopy(tree.image)
        change(image)
        if not check_containerfile(image, tree.app, tree.roles):
            problems.append(f"self-check: the validator accepted {label}")
    role_cases = {
        "an edge running an admin component": lambda r: r["edge"].append("manage-keys"),
        "a role running a component not in spin.toml": lambda r: r["admin"].append("no-such-component"),
        "a component in no role": lambda r: r["admin"].remove("key-usage"),
    }
    for label, change in role_cases.items():
        roles = copy.deepcopy(tree.roles)
        change(roles)
        if not check_containerfile(tree.image, tree.app, roles):
            problems.append(f"self-check: the validator accepted deploy/spin-up.sh with {label}")
    return problems, len(cases) + len(image_cases) + len(role_cases)


# --- Self-check -------------------------------------------------------------------------------


def variable(spinapp, name):
    """The entry of `spec.variables` named `name`."""
    return next(v for v in spinapp["spec"]["variables"] if v["name"] == name)


def self_check(docs: list[Doc], ctx: Context) -> tuple[list[str], int]:
    """Broken copies of the real manifests; each must be refused."""

    def first(role: str) -> Doc:
        return next(
            d
            for d in docs
            if isinstance(d.body, dict)
            and d.body.get("kind") == ctx.crd.kind
            and (d.body.get("metadata", {}).get("labels") or {}).get(ROLE_LABEL) == role
            and d.directory == KUBE_DIR
        )

    def mutate(doc: Doc, change) -> Doc:
        body = copy.deepcopy(doc.body)
        change(body)
        return Doc(doc.path, doc.index, body)

    edge, admin = first("edge"), first("admin")
    cases = {
        "unknown field under spec": (edge, lambda b: b["spec"].update(replicaCount=3)),
        "replicas as a string": (edge, lambda b: b["spec"].update(replicas="3")),
        "replicas over int32": (edge, lambda b: b["spec"].update(replicas=2**31)),
        "unknown field in a probe": (edge, lambda b: b["spec"]["checks"]["readiness"].update(path="/x")),
        "no image": (edge, lambda b: b["spec"].pop("image")),
        "wrong apiVersion": (edge, lambda b: b.update(apiVersion="core.spinkube.dev/v1")),
        "replicas with autoscaling": (edge, lambda b: b["spec"].update(enableAutoscaling=True)),
        "edge running an admin component": (edge, lambda b: b["spec"]["components"].append("manage-keys")),
        "component not in spin.toml": (admin, lambda b: b["spec"]["components"].append("no-such-component")),
        "variable not in spin.toml": (admin, lambda b: b["spec"]["variables"].append({"name": "no_such_variable", "value": "x"})),
        "a variable set twice": (edge, lambda b: b["spec"]["variables"].append(dict(b["spec"]["variables"][0]))),
        "secretKeyRef to a missing Secret": (
            admin,
            lambda b: variable(b, "identity_token_secret")["valueFrom"]["secretKeyRef"].update(name="no-such-secret"),
        ),
        "the identity secret as a plain value": (
            admin,
            lambda b: variable(b, "identity_token_secret").update(value="x") or variable(b, "identity_token_secret").pop("valueFrom"),
        ),
        "loadFromSecret to a missing Secret": (edge, lambda b: b["spec"]["runtimeConfig"].update(loadFromSecret="no-such-secret")),
        "admin with two local-SQLite replicas": (admin, lambda b: b["spec"].update(replicas=2)),
    }
    problems = []
    for label, (doc, change) in cases.items():
        if not check_spinapp(mutate(doc, change), ctx):
            problems.append(f"self-check: the validator accepted a SpinApp with {label}")
    for label, text, role in [
        ("broken TOML", "[key_value_store.default\ntype = 'redis'", None),
        ("no key-value table", "[sqlite_database.default]\ntype = 'spin'\n", None),
        ("a non-Redis store", "[key_value_store.default]\ntype = 'spin'\n", None),
        ("libsql without token", "[key_value_store.default]\ntype='redis'\nurl='redis://r:6379'\n"
         "[sqlite_database.default]\ntype='libsql'\nurl='https://db.example'\n", None),
        ("SQLite on the edge", "[key_value_store.default]\ntype='redis'\nurl='redis://r:6379'\n"
         "[sqlite_database.default]\ntype='spin'\n", "edge"),
    ]:
        if not check_runtime_config(text, "self-check", role):
            problems.append(f"self-check: the validator accepted a runtime config with {label}")
    return problems, len(cases) + 5


def main() -> int:
    crd = Crd(find_crd())
    app = SpinApp(SPIN_TOML)
    docs, errors = load_docs()
    ctx = Context(docs, crd, app)
    errors += check_tree(docs, ctx)
    rc_errors, rc_files = check_runtime_config_files()
    errors += rc_errors
    image = Containerfile(CONTAINERFILE.read_text())
    script = SPIN_UP.read_text()
    roles = spin_up_roles(script)
    errors += check_containerfile(image, app, roles)
    tree = PlainTree(docs, app, image, roles, spin_up_env(script))
    errors += check_plain(tree)
    problems, cases = self_check(docs, ctx)
    errors += problems
    if not errors:  # the plain self-check mutates documents that must exist and be valid
        problems, plain_cases = self_check_plain(docs, tree)
        errors += problems
        cases += plain_cases
    for line in errors:
        print(f"validate-manifests: {line}", file=sys.stderr)
    if errors:
        print(f"validate-manifests: FAILED ({len(errors)} problem(s))", file=sys.stderr)
        return 1
    spinapps = sum(1 for d in docs if d.body.get("kind") == crd.kind)
    print(
        f"validate-manifests: {len(docs)} Kubernetes documents valid ({spinapps} SpinApps against "
        f"{', '.join(crd.validators)}, the other {len(docs) - spinapps} against the Kubernetes "
        f"{KUBERNETES_VERSION} schemas; {len(tree.docs)} in {PLAIN_DIR.relative_to(ROOT)} against "
        f"{CONTAINERFILE.relative_to(ROOT)}, {SPIN_UP.relative_to(ROOT)} and spin.toml), "
        f"{rc_files} runtime configs valid; self-check: {cases} broken copies refused"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
